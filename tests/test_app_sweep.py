"""A sweep from the app, keys only (the fake `olive`): started from Steps, its branches side by side, the best
one chatted with and exported with its model card; Chat picks any finished model."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from textual.pilot import Pilot

from engine.paths import LabPaths
from engine.runs.state import read_state
from tui.app import OliveLabApp
from tui.screens.chat import ChatScreen
from tui.screens.export import ExportScreen
from tui.screens.sweep import SweepScreen
from tui.screens.sweep_start import SweepStartScreen
from tui.widgets.checklist import Checklist


def no_checks(lab, config) -> list:
    return []


async def wait_for(pilot: Pilot, check: Callable[[], bool], timeout: float = 90, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not in {timeout} s: {what}")
        await pilot.pause(0.1)


def branches_done(app: OliveLabApp) -> bool:
    screen = app.screen
    snap = screen.snapshot if isinstance(screen, SweepScreen) else None
    return (
        snap is not None
        and snap.status == "done"  # the sweep itself, after its branches: they are scored, the best is known
        and len(snap.branches) == 2
        and all(b.row.status == "done" for b in snap.branches)
    )


async def test_a_sweep_started_from_steps_is_watched_its_best_branch_chatted_with_and_exported(
    fake_olive_lab: Path,
) -> None:
    lab = fake_olive_lab
    app = OliveLabApp(LabPaths.at(lab), checks=no_checks)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("3")
        await wait_for(pilot, lambda: app.current_mode == "steps", what="Steps")
        await pilot.press("f6")
        await wait_for(pilot, lambda: isinstance(app.screen, SweepStartScreen), what="the sweep dialog")
        sets = app.screen.query_one("#sweep-sets")
        assert sets.value == f"finetune.lora_r={app.config.finetune.lora_r},"  # type: ignore[attr-defined]
        await pilot.press("4", "tab", "backspace", "0")
        plan = str(app.screen.query_one("#sweep-plan").render())
        assert "2 branches" in plan and "olive-lab sweep --set finetune.lora_r=" in plan, plan
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, SweepScreen), what="the sweep view")
        await wait_for(pilot, lambda: branches_done(app), timeout=120, what="both branches done")
        sweep = app.screen
        assert isinstance(sweep, SweepScreen) and sweep.snapshot is not None
        best = sweep.snapshot.best
        assert best in [b.row.label for b in sweep.snapshot.branches]
        await pilot.pause(0.3)
        title = str(sweep.query_one("#sweep-title").render())
        assert f"best: {best}" in title
        await pilot.press("b")
        assert sweep.selected().row.label == best  # type: ignore[union-attr]
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, ChatScreen), what="chat")
        chat = app.screen
        run_dir = next((lab / "runs").iterdir())
        assert chat._model_dir == run_dir / "branches" / best / "optimize" / "output"  # type: ignore[attr-defined]
        await pilot.press("4")
        await wait_for(pilot, lambda: isinstance(app.screen, SweepScreen), what="back to the sweep view")
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ExportScreen), what="export dialog")
        await pilot.press("enter")
        target = lab / "exports" / f"{run_dir.name}-{best}"
        await wait_for(pilot, lambda: (target / "README.md").is_file(), what="the export")
        card = (target / "README.md").read_text()
        value = read_state(run_dir).sweep.values[read_state(run_dir).sweep.branches.index(best)]  # type: ignore[union-attr]
        assert f"| `finetune.lora_r` | `{value}` |" in card and (target / "model.onnx").is_file()
        await pilot.press("escape", "1")  # the checklist reads the sweep's fine-tune from its branches
        await wait_for(pilot, lambda: app.current_mode == "home", what="the checklist")
        checklist = app.screen.query_one(Checklist)
        await wait_for(pilot, lambda: "2 of 2 branches done" in checklist.text(), what="the sweep on the checklist")
        lines = checklist.text().splitlines()
        assert "✔ Fine-tune (LoRA adapter)  (done)" in lines and f"best {best}" in checklist.text()
        checklist.highlighted = [o.id for o in checklist.options].index("finetune")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, SweepScreen), what="Enter opens the branches")


async def test_chat_talks_to_any_finished_model_picked_with_f3(tmp_path: Path) -> None:
    from fixtures.runfolders import finished_run

    from tui.widgets.model_picker import ModelPicker

    older = finished_run(tmp_path / "runs", "20251124-160000-old")
    newer = finished_run(tmp_path / "runs", "20251125-160000-new")
    for run in (older, newer):  # a model folder as the optimize step leaves it (not loadable: only its files)
        out = run / "optimize" / "output"
        (out / "genai_config.json").write_text("{}")
        (out / "model.onnx").write_bytes(b"\0" * 64)
    app = OliveLabApp(LabPaths.at(tmp_path), checks=no_checks)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("6")
        await wait_for(pilot, lambda: isinstance(app.screen, ChatScreen), what="chat")
        await pilot.press("f3")
        await wait_for(pilot, lambda: isinstance(app.screen, ModelPicker), what="the model list")
        listed = [str(o.prompt) for o in app.screen.query_one("OptionList").options]  # type: ignore[attr-defined]
        assert [line.strip() for line in listed] == ["run 20251125-160000-new", "run 20251124-160000-old"]
        await pilot.press("down", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ChatScreen), what="back to chat")
        assert app.screen._model_dir == older / "optimize" / "output"  # type: ignore[attr-defined]
        await wait_for(pilot, lambda: "20251124-160000-old" in str(app.screen.query_one("#chat-empty").render()),
                       what="the chat says which model it tried")  # fmt: skip


async def test_the_sweep_dialog_speaks_of_what_was_typed_not_of_set_options_and_an_empty_golden_box_is_no_zero(
    tmp_path: Path,
) -> None:
    """The dialog's refusals name the SETTING=V1,V2 item typed (the command line's name `--set` its options),
    and emptying the golden-check box is refused with a reason instead of starting a sweep with no check."""
    app = OliveLabApp(LabPaths.at(tmp_path), checks=no_checks)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("3")
        await wait_for(pilot, lambda: app.current_mode == "steps", what="Steps")
        await pilot.press("f6")
        await wait_for(pilot, lambda: isinstance(app.screen, SweepStartScreen), what="the sweep dialog")
        dialog = app.screen
        plan = lambda: str(dialog.query_one("#sweep-plan").render())  # noqa: E731
        refusals = {
            "": "'finetune.lora_r=8,': give at least two different values",  # one value, as the dialog opens
            "finetune.lora_rr=8,16": "finetune.lora_rr is not a setting a sweep can change",
            "finetune.lora_r=8,true": "finetune.lora_r=true: Input should be a valid integer",
            "finetune.lora_r=4,8 finetune.lora_r=16,32": "finetune.lora_r is given twice",
        }
        for typed, refusal in refusals.items():
            if typed:
                await pilot.press("ctrl+u", *typed)
            await pilot.pause()
            assert refusal in plan() and "--set" not in plan(), plan()
        await pilot.press("ctrl+u", *"finetune.lora_r=4,8")
        await pilot.pause()
        assert "2 branches" in plan() and "the same as: olive-lab sweep --set finetune.lora_r=4,8 --golden 8" in plan()
        await pilot.press("tab", "backspace")  # the golden-check box emptied
        await pilot.pause()
        assert "golden-check examples: the box is empty" in plan() and "--golden 0" not in plan(), plan()
        await pilot.press("enter")
        await pilot.pause(0.3)
        assert app.screen is dialog and "Not started: golden-check examples: the box is empty" in plan()
        assert not LabPaths.at(tmp_path).runs.exists() or not any(LabPaths.at(tmp_path).runs.iterdir())
        await pilot.press("-", "2")
        await pilot.pause()
        assert "golden-check examples: -2 is below 0" in plan(), plan()
        await pilot.press("ctrl+u", "0")
        await pilot.pause()
        assert "--golden 0" in plan() and "2 branches" in plan()
