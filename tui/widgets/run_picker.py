"""Choosing a run: the lab's runs, newest first, with status, profile and duration.

`RunPicker` is a modal that dismisses with the chosen run's id (None on Escape). `list_runs` is plain
Python and cheap (one small state file per run), so the modal reads it when it opens.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from engine.durations import format_duration
from engine.runs.state import STOPPED_STEP, effective_status, iter_runs


@dataclass(frozen=True)
class RunRow:
    run_id: str
    status: str
    profile: str
    duration: str
    failed_step: str | None = None


def list_runs(runs_root: Path, limit: int = 200) -> list[RunRow]:
    rows: list[RunRow] = []
    for entry in iter_runs(runs_root):
        state = entry.state
        if state is None:
            rows.append(RunRow(entry.id, "unreadable", "?", ""))
        else:
            failed = next((s.name for s in state.steps if s.status in STOPPED_STEP), None)
            duration = format_duration(state.duration_s) if state.ended_at else ""
            rows.append(RunRow(state.id, effective_status(state), state.profile, duration, failed))
        if len(rows) >= limit:
            break
    return rows


class RunPicker(ModalScreen["str | None"]):
    """Pick a run; Enter chooses, Escape closes."""

    DEFAULT_CSS = """
    RunPicker { align: center middle; }
    RunPicker > Vertical {
        width: 80%; max-width: 90; height: 70%; border: thick $primary; background: $surface; padding: 0 1;
    }
    RunPicker OptionList { height: 1fr; }
    """
    BINDINGS = [Binding("escape", "dismiss_none", "Close", id="runpicker.close")]

    def __init__(self, runs_root: Path, *, title: str = "Show which run?", exclude: str | None = None) -> None:
        super().__init__()
        self.runs_root = runs_root
        self.title_text = title
        self.exclude = exclude

    def compose(self) -> ComposeResult:
        rows = [r for r in list_runs(self.runs_root) if r.run_id != self.exclude]
        with Vertical():
            yield Label(self.title_text)
            options = [
                Option(
                    f"{r.run_id:<28} {r.status:<10} {r.profile:<7} {r.duration:>8}"
                    + (f"  ({r.failed_step})" if r.failed_step else ""),
                    id=r.run_id,
                )
                for r in rows
            ]
            yield OptionList(*options) if options else Label("No runs yet.")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)


class StepPicker(ModalScreen["str | None"]):
    """Pick the step a new run starts from (the steps before it are reused when they can be)."""

    DEFAULT_CSS = """
    StepPicker { align: center middle; }
    StepPicker > Vertical { width: 50; height: auto; border: thick $primary; background: $surface; padding: 0 1; }
    StepPicker OptionList { height: auto; }
    """
    BINDINGS = [Binding("escape", "dismiss_none", "Close", id="steppicker.close")]

    def __init__(self, steps: list[str]) -> None:
        super().__init__()
        self.steps = steps

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Run the pipeline from which step?")
            yield OptionList(*[Option(step, id=step) for step in self.steps])

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)
