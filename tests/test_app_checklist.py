"""The checklist driven with keys: it shows the dataset's problems, suggests field names, and Enter acts."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input

from engine.paths import LabPaths
from tui.app import OliveLabApp
from tui.screens.home import HomeScreen
from tui.screens.steps import StepsScreen
from tui.widgets.checklist import Checklist


def qa_lab(root: Path) -> Path:
    lines = [f'{{"question": "q{i}", "answer": "a{i}"}}' for i in range(12)]
    (root / "qa.jsonl").write_text("\n".join(lines) + "\n")
    (root / "lab.toml").write_text('profile = "demo"\n[dataset]\npath = "qa.jsonl"\n')
    return root


async def test_a_set_with_other_field_names_is_flagged_and_enter_fills_them_in(tmp_path: Path) -> None:
    app = OliveLabApp(LabPaths.at(qa_lab(tmp_path)), checks=lambda lab, config: [])
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        text = app.screen.query_one(Checklist).text()
        assert "✘ Dataset checked and split  (failed)" in text
        assert "field 'prompt': missing" in text
        assert "Enter sets prompt_field='question', response_field='answer'" in text
        await pilot.press("enter")  # the dataset line is the first
        await pilot.pause(0.5)
        assert isinstance(app.screen, StepsScreen)
        assert app.screen.query_one("#field--dataset--prompt_field", Input).value == "question"
        assert app.screen.query_one("#field--dataset--response_field", Input).value == "answer"
        template = app.screen.query_one("#field--finetune--text_template", Input).value
        assert "{question}" in template and "{answer}" in template
        await pilot.press("ctrl+s", "escape", "1")
        await app.workers.wait_for_complete()
        await pilot.pause(0.3)
        assert isinstance(app.screen, HomeScreen)
        await app.workers.wait_for_complete()
        await pilot.pause(0.3)
        assert "✘ Dataset" not in app.screen.query_one(Checklist).text()


async def test_checklist_lines_are_selectable_and_lead_to_their_screen(tmp_path: Path) -> None:
    app = OliveLabApp(LabPaths.at(tmp_path), checks=lambda lab, config: [])
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("down", "down", "down", "down", "enter")  # the chat line
        await pilot.pause(0.5)
        assert app.current_mode == "chat"


def _run(root: Path, **statuses: str) -> None:
    """The newest run with its steps' statuses as given; a step that ran has a start time."""
    from engine.config import build_config
    from engine.runs.state import write_state
    from tests.helpers import new_run_folder

    lab = LabPaths.at(root)
    run_dir = lab.run_dir("20260101-000000")
    run_dir.mkdir(parents=True)
    state, _ = new_run_folder(lab, run_dir, build_config("demo"))
    for name, status in statuses.items():
        step = state.step(name)
        step.status = status  # type: ignore[assignment]
        if status != "cancelled" or name == "finetune":  # the cancel came during fine-tuning
            step.started_at = 1.0
    state.status = "cancelled" if "cancelled" in statuses.values() else "running"
    write_state(run_dir, state)


async def _checklist(root: Path) -> str:
    app = OliveLabApp(LabPaths.at(root), checks=lambda lab, config: [])
    async with app.run_test(size=(100, 30)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        return app.screen.query_one(Checklist).text()


async def test_the_checklist_says_prepare_is_running(tmp_path: Path) -> None:
    _run(tmp_path, prepare="running")
    text = await _checklist(tmp_path)
    assert "▶ Dataset checked and split  (running)" in text
    assert "(next)" not in text and "(done)" not in text


async def test_after_a_cancel_a_step_that_never_ran_is_not_failed_and_chat_needs_a_model(tmp_path: Path) -> None:
    _run(tmp_path, prepare="done", quantize="done", finetune="cancelled", optimize="cancelled")
    chats = LabPaths.at(tmp_path).chats
    chats.mkdir(parents=True)
    (chats / "20251231-120000.json").write_text("{}")  # a chat saved with an earlier model
    text = await _checklist(tmp_path)
    assert "✘ Fine-tune (LoRA adapter)  (failed)" in text
    assert "→ Optimize (ONNX for onnxruntime-genai)  (next)" in text
    assert "(done)" not in text.split("Chat")[1] and "Upload to Azure ML  (next)" not in text


async def test_a_typo_in_lab_toml_is_a_line_of_its_own_and_the_steps_keep_their_status(tmp_path: Path) -> None:
    from fixtures.runfolders import finished_run

    finished_run(tmp_path / "runs")  # the newest run did every step
    (tmp_path / "lab.toml").write_text('profile = "demo"\n[finetune]\nmax_step = 5\n')
    text = await _checklist(tmp_path)
    first, rest = text.split("Dataset checked and split", 1)
    first = " ".join(first.split())
    assert first.startswith("✘ lab.toml (failed)"), text
    assert "lab.toml, line 3, field finetune.max_step:" in first
    assert "'max_step' is not a setting of [finetune]; did you mean 'max_steps'?" in first
    assert "✔ Fine-tune (LoRA adapter)  (done)" in rest and "(failed)" not in rest, text


async def _effects(root: Path) -> tuple[bool, str, str, str]:
    """The "what each step did" panel: (shown, title, text), and the checklist's text."""
    from textual.widgets import Static

    app = OliveLabApp(LabPaths.at(root), checks=lambda lab, config: [])
    async with app.run_test(size=(100, 40)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        panel = app.screen.query_one("#effects", Static)
        return panel.display, str(panel.border_title), str(panel.render()), app.screen.query_one(Checklist).text()


async def test_the_checklist_says_what_int4_and_the_adapter_did_with_the_sample_size(tmp_path: Path) -> None:
    from fixtures.runfolders import evaluated_run, evaluated_sweep

    assert not (await _effects(tmp_path))[0]  # no run measured yet: no panel
    evaluated_run(tmp_path / "runs")
    shown, title, text, _ = await _effects(tmp_path)
    assert shown and title == "What each step did (run 20251124-160000-demo)"
    lines = text.splitlines()  # wrapped lines are indented under the line they continue
    assert lines[0] == "6 of 37 held-out records, 360 scored tokens, greedy answers of at most 16 tokens"
    assert lines[1] == "int4: perplexity +1.0 % for -63.0 % size (ONNX int4 against original (torch))"
    assert lines[2].startswith("  ! int4: over 6 held-out records") and lines[3].startswith("    ")
    assert "too few records to tell it from noise" in " ".join(text.split())
    joined = " ".join(text.split())  # one sign everywhere: this minus the reference, lower is better
    assert "adapter: held-out loss -19.9 % against the int4 base, lower is better (ONNX int4 + adapter" in joined
    assert "held-out loss difference +0.0100 (ONNX int4 minus original (torch); lower is better)" in joined
    # a newer sweep: the figures of its best branch by the one ranking (held-out loss), not of the lowest eval loss
    evaluated_sweep(tmp_path / "runs")
    shown, title, text, checklist = await _effects(tmp_path)
    assert title == "What each step did (sweep 20251124-170000-sweep, best branch lora_r-16)"
    assert (
        "best lora_r-16" in checklist
    )  # the optimize line names the same best branch (lora_r-4 has the lowest eval loss)
    joined = " ".join(text.split())
    assert "8 of 37 held-out records" in text and "adapter: held-out loss -20.0 % against the int4 base" in joined


async def test_a_run_going_when_the_app_opens_is_followed_on_the_checklist(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Reopened while a run goes on, the checklist showed it running long after it had finished."""
    from textual.widgets import Static

    from engine.runs.state import read_state, write_state
    from tui.screens import home

    monkeypatch.setattr(home, "RUN_POLL_S", 0.1, raising=False)
    _run(tmp_path, prepare="running")
    app = OliveLabApp(LabPaths.at(tmp_path), checks=lambda lab, config: [])
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "is running" in str(app.screen.query_one("#run-line", Static).render())
        run_dir = LabPaths.at(tmp_path).run_dir("20260101-000000")
        state = read_state(run_dir)
        state.step("prepare").status = "done"
        state.status = "done"
        write_state(run_dir, state)  # the supervisor finished the run
        await pilot.pause(0.5)
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "(done)" in str(app.screen.query_one("#run-line", Static).render())
        assert "✔ Dataset checked and split  (done)" in app.screen.query_one(Checklist).text()


async def test_with_a_broken_lab_toml_the_headline_does_not_offer_a_run(tmp_path: Path) -> None:
    """The headline said "No runs yet: press r to run the demo pipeline" while r was refused."""
    from textual.widgets import Static

    (tmp_path / "lab.toml").write_text("[finetune]\nmax_step = 5\n")
    app = OliveLabApp(LabPaths.at(tmp_path), checks=lambda lab, config: [])
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        line = str(app.screen.query_one("#run-line", Static).render())
        assert line == "lab.toml has a problem (the first line below): fix it, then press r.", line


def _many_checks(lab, config):  # type: ignore[no-untyped-def]
    from engine.doctor import Check

    detail = "no az CLI and no AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET in the environment; only needed"
    fix = "install the Azure CLI and run `az login`, or set the service principal variables"
    return [Check(f"check {n}", "warn", f"{detail} ({n})", fix) for n in range(4)]


async def test_at_80x24_the_machines_checks_are_reached_with_pgdn_and_stay_wrapped_under_their_line(
    tmp_path: Path,
) -> None:
    """At 80x24 the checks below the steps were out of view with no key to reach them, and the scrollbar that
    came narrowed the panel after its text was wrapped: Textual wrapped it again ("│ environment;" unindented)."""
    from textual.containers import VerticalScroll
    from textual.widgets import Static

    app = OliveLabApp(LabPaths.at(tmp_path), checks=_many_checks)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause(0.3)
        body = app.screen.query_one("#home-body", VerticalScroll)
        box = app.screen.query_one("#doctor", Static)
        assert body.show_vertical_scrollbar and body.scroll_y == 0
        lines = str(box.render()).splitlines()
        assert max(len(line) for line in lines) <= box.content_size.width, lines
        assert all(line.startswith(("!", " ", "4 of")) for line in lines), lines
        await pilot.press("pagedown")
        await pilot.pause(0.3)
        assert body.scroll_y > 0 and box.region.bottom <= app.screen.size.height
        await pilot.press("pageup")
        await pilot.pause(0.3)
        assert body.scroll_y == 0
