"""Fields and quitting, driven with keys: typed keys stay text, the footer says how to leave a field, and
quitting asks first when it would lose edits or leave a run going."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Footer, Input

from engine.config import LabConfig
from engine.paths import LabPaths
from engine.runs.state import RunState, StepState, write_state
from tui.app import OliveLabApp
from tui.screens.confirm import ConfirmScreen
from tui.screens.home import HomeScreen
from tui.widgets.field_input import LEAVE_HINT


def make_app(root: Path) -> OliveLabApp:
    return OliveLabApp(LabPaths.at(root), checks=lambda lab, config: [])


def footer_text(app: OliveLabApp) -> str:
    footer = app.screen.query_one(Footer)
    return " ".join(str(item.render()) for item in footer.query("FooterKey"))


async def focus_max_steps(app: OliveLabApp, pilot) -> Input:  # type: ignore[no-untyped-def]
    await pilot.press("3")
    await pilot.pause(0.2)
    field = app.screen.query_one("#field--finetune--max_steps", Input)
    field.focus()
    await pilot.pause()
    return field


async def test_a_focused_field_takes_digits_and_the_footer_says_how_to_leave(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        field = await focus_max_steps(app, pilot)
        assert LEAVE_HINT in footer_text(app)
        field.cursor_position = len(field.value)
        await pilot.press("1")
        assert field.value == "201" and app.current_mode == "steps"  # printable keys are text in a field
        await pilot.press("escape", "1")
        await pilot.pause()
        assert app.current_mode == "home"
        assert LEAVE_HINT not in footer_text(app)


async def test_quit_with_unsaved_edits_asks_first(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        field = await focus_max_steps(app, pilot)
        field.cursor_position = len(field.value)
        await pilot.press("5")
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert "finetune.max_steps" in app.screen.question
        await pilot.press("n")
        await pilot.pause()
        assert app.is_running and field.value == "205"
        await pilot.press("ctrl+s", "ctrl+q")  # saved: nothing to lose, so no question
        await pilot.pause()
    assert not app.is_running


def running_run(root: Path, pid: int) -> str:
    run_id = "20260101-000000"
    run_dir = root / "runs" / run_id
    run_dir.mkdir(parents=True)
    state = RunState(
        id=run_id,
        lab=str(root),
        profile="demo",
        config=LabConfig(),
        status="running",
        supervisor_pid=pid,
        steps=[StepState(name="quantize", status="running"), StepState(name="finetune", status="pending")],
    )
    write_state(run_dir, state)
    return run_id


async def test_quit_while_a_run_is_going_asks_and_the_checklist_points_to_the_monitor(
    tmp_path: Path, stand_in_supervisor: int
) -> None:
    run_id = running_run(tmp_path, stand_in_supervisor)
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)
        line = str(app.screen.query_one("#run-line").render())
        assert "run again" not in line and "press 4 to watch it" in line
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert f"Run {run_id} is still going" in app.screen.question
        await pilot.press("y")
        await pilot.pause()
    assert not app.is_running


async def test_a_template_pasted_over_several_lines_keeps_every_line(tmp_path: Path) -> None:
    """A template pasted into its box kept its first line only ("<|user|>"), silently; saved, it lost the rest."""
    from textual import events

    from engine.config import load_config

    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await pilot.press("3")
        await pilot.pause(0.2)
        field = app.screen.query_one("#field--finetune--text_template", Input)
        field.focus()
        field.value = ""
        await pilot.pause()
        template = "### Question\n{prompt}\n\n### Answer\n{response}"
        field.post_message(events.Paste(template + "\n"))
        await pilot.pause()
        assert field.value == r"### Question\n{prompt}\n\n### Answer\n{response}", field.value
        assert any("Pasted 5 lines, each newline kept as \\n" in n.message for n in app._notifications)
        await pilot.press("ctrl+s")
        await pilot.pause(0.3)
        assert load_config(LabPaths.at(tmp_path)).finetune.text_template == template


async def test_values_pasted_over_several_lines_into_the_sweep_dialog_are_joined_with_spaces(tmp_path: Path) -> None:
    """The sweep dialog's box kept the first pasted line only: a second setting pasted under it was lost."""
    from textual import events

    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await pilot.press("3")
        await pilot.pause(0.2)
        await pilot.press("f6")
        await pilot.pause(0.3)
        sets = app.screen.query_one("#sweep-sets", Input)
        sets.value = ""
        sets.post_message(events.Paste("finetune.lora_r=8,16\n\nfinetune.learning_rate=0.001,0.0002\n"))
        await pilot.pause()
        assert sets.value == "finetune.lora_r=8,16 finetune.learning_rate=0.001,0.0002", sets.value
