"""The app shell driven with keys: modes, help, palette, remapped keys, themes, bad settings, checklist."""

from __future__ import annotations

from pathlib import Path

from engine.config import build_config
from engine.doctor import Check
from engine.paths import LabPaths
from engine.runs.state import write_state
from tests.helpers import fixed_checks, new_run_folder
from tui.app import OliveLabApp
from tui.screens.help import HelpScreen
from tui.screens.home import HomeScreen
from tui.widgets.checklist import Checklist


def make_app(root: Path) -> OliveLabApp:
    return OliveLabApp(LabPaths.at(root), checks=fixed_checks)


def text_of(app: OliveLabApp, selector: str) -> str:
    return str(app.screen.query_one(selector).render())


def toasts(app: OliveLabApp) -> str:
    return "\n".join(str(n.message) for n in app._notifications)


async def test_empty_lab_opens_checklist_with_empty_state(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)
        assert app.config.profile == "demo"
        assert "No runs yet: press r to run the demo pipeline on the CPU" in text_of(app, "#run-line")
        doctor = text_of(app, "#doctor")
        assert "disk" in doctor and "fix: free at least 10 GiB" in doctor


async def test_number_keys_switch_modes(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("3")
        await pilot.pause()
        assert app.current_mode == "steps"
        await pilot.press("escape", "4")
        await pilot.pause()
        assert app.current_mode == "monitor"
        await pilot.press("1")
        await pilot.pause()
        assert app.current_mode == "home"


async def test_help_lists_keys_with_ids(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = text_of(app, "#help-text")
        assert "Run pipeline" in text and "home.run" in text and "steps.save" in text
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)


async def test_keys_remapped_in_lab_toml(tmp_path: Path) -> None:
    (tmp_path / "lab.toml").write_text('profile = "demo"\n[keys]\n"app.steps" = "s"\n"app.nothing" = "x"\n')
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await pilot.pause()
        assert "no binding with id app.nothing" in toasts(app)
        await pilot.press("s")
        await pilot.pause()
        assert app.current_mode == "steps"


async def test_bad_lab_toml_is_reported_and_left_alone(tmp_path: Path) -> None:
    bad = 'profile = "demo"\n[finetune]\nlora_r = "many"\n'
    (tmp_path / "lab.toml").write_text(bad)
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await pilot.pause()
        message = toasts(app)
        assert "lab.toml" in message and "finetune.lora_r" in message
        await app.workers.wait_for_complete()
        await pilot.pause()
        checklist = app.screen.query_one(Checklist).text()
        assert "lab.toml" in checklist and "line 3" in checklist and "Nothing runs until it is fixed" in checklist
        await pilot.press("r")  # a run never starts on defaults in place of a broken lab.toml
        await pilot.pause(0.5)
        assert "Not started" in toasts(app)
        assert not (tmp_path / "runs").exists()
        await pilot.press("3")
        await pilot.pause()
        assert app.current_mode == "steps"
    assert (tmp_path / "lab.toml").read_text() == bad


async def test_unparsable_lab_toml_keeps_app_running(tmp_path: Path) -> None:
    (tmp_path / "lab.toml").write_text("profile = \n")
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await pilot.pause()
        assert "is not valid TOML" in toasts(app)
        assert isinstance(app.screen, HomeScreen)


async def test_bad_user_theme_is_named_and_good_one_is_used(tmp_path: Path) -> None:
    themes = tmp_path / ".olive-lab" / "themes"
    themes.mkdir(parents=True)
    (themes / "broken.toml").write_text('name = "broken"\nprimary = "not-a-colour"\n')
    (themes / "mine.toml").write_text('name = "mine"\nprimary = "#336699"\ndark = true\n')
    (tmp_path / "lab.toml").write_text('theme = "mine"\n')
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await pilot.pause()
        message = toasts(app)
        assert "broken.toml" in message and "field primary" in message
        assert app.theme == "mine"
        assert {"olive-dark", "olive-light", "olive-high-contrast"} <= set(app.available_themes)


async def test_palette_runs_an_action_of_another_screen(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"Steps: Revert")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await pilot.pause(0.3)
        assert app.current_mode == "steps"


async def test_chat_with_no_model_offers_no_stop_regenerate_or_save_and_the_palette_says_so(tmp_path: Path) -> None:
    """No run has built a model: the chat's footer leaves out the keys that need one (Esc Stop, ctrl+r Again,
    ctrl+s Save), the keys do nothing, and the palette says such an action is not available now."""
    from textual.widgets._footer import FooterKey

    from tui.screens.chat import ChatScreen

    def footer(app: OliveLabApp) -> set[str]:
        return {key.action.rpartition(".")[2] for key in app.screen.query(FooterKey)}

    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("6")
        for _ in range(100):  # the footer is built once the screen knows it has no model
            await pilot.pause(0.1)
            if isinstance(app.screen, ChatScreen) and app.screen.has_class("-empty") and "saved_chats" in footer(app):
                break
        assert isinstance(app.screen, ChatScreen) and app.screen.session is None
        assert {"saved_chats", "pick_model"} <= footer(app)
        assert not {"stop", "regenerate", "save"} & footer(app), footer(app)
        await pilot.press("ctrl+s", "ctrl+r", "escape")
        await pilot.pause()
        assert not LabPaths.at(tmp_path).chats.exists() or not any(LabPaths.at(tmp_path).chats.iterdir())
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"Chat: Regenerate")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await pilot.pause(0.3)
        assert "Regenerate: not available now" in toasts(app)


async def test_checklist_follows_newest_run(tmp_path: Path) -> None:
    lab = LabPaths.at(tmp_path)
    run_dir = lab.run_dir("20260101-000000")
    (run_dir / "data").mkdir(parents=True)
    (run_dir / "data" / "train.jsonl").write_text("{}\n")
    state, _ = new_run_folder(lab, run_dir, build_config("demo"))  # as `pipeline run` writes it
    state.status = "failed"
    state.step("prepare").status = "done"
    state.step("quantize").status = "done"
    finetune = state.step("finetune")
    finetune.status, finetune.reason = "failed", "loss became NaN at step 3"
    write_state(run_dir, state)
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        checklist = app.screen.query_one(Checklist).text()
        assert "✔ Dataset checked" in checklist
        assert "✔ Quantize" in checklist
        assert "✘ Fine-tune (LoRA adapter)  (failed)" in checklist
        assert "loss became NaN at step 3" in checklist
        assert "→ Optimize" in checklist
        assert "20260101-000000" in text_of(app, "#run-line")


async def test_app_log_is_written(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
    log = LabPaths.at(tmp_path).app_log
    assert "app started" in log.read_text()
    assert oct(log.stat().st_mode & 0o777) == "0o600" and oct(log.parent.stat().st_mode & 0o777) == "0o700"


def test_wrapped_doctor_lines_hang_under_their_check() -> None:
    from tui.screens.home import doctor_text

    checks = [Check("azure login", "warn", "no az CLI and no " + "AZURE_CLIENT_ID " * 6, "install the Azure CLI " * 4)]
    lines = doctor_text(checks, width=50).splitlines()
    detail = [line for line in lines[1:] if not line.lstrip().startswith("fix:")]
    assert detail[0].startswith("[b $warning]![/] [b]azure login[/b]: ")
    assert all(line.startswith("  ") for line in detail[1:] if "fix:" not in line)
    fix_at = next(i for i, line in enumerate(lines) if line.startswith("    fix: "))
    assert lines[fix_at + 1].startswith(" " * 9) and all(len(line) <= 50 for line in lines[fix_at:])
