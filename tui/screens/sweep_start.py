"""Starting a sweep from Steps: the settings and their values written as `olive-lab sweep --set` takes them
(`finetune.lora_r=4,8`; several, separated by spaces, make a grid), checked as typed by the engine's own planner
(engine.runs.sweep.plan_sweep), which says how many branches it makes or why it refuses, with the command line
that does the same. Enter starts it (engine.runs.control.start_run, as the command line does). A refusal names
what was typed in the dialog's boxes, not the command line's options, and an empty box is refused, never 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Label, Static

from engine.errors import OliveLabError
from tui.widgets.field_input import FieldInput

if TYPE_CHECKING:
    from pathlib import Path

    from engine.runs.state import Sweep
    from tui.app import OliveLabApp


GOLDEN_HINT = "write a whole number (0: no golden check)"


@dataclass
class SweepStarted(Message):
    run_id: str


@dataclass
class SweepRefused(Message):
    reason: str


def said(exc: OliveLabError) -> str:
    """A refusal in the dialog's words: what was typed in its box, not the command line's `--set` options."""
    from engine.steps.grid import SweepError

    return exc.worded() if isinstance(exc, SweepError) else exc.full()


def golden_limit(golden: str) -> int | str:
    """The golden-check examples typed, or why they are refused: an empty box is no number (never 0)."""
    golden = golden.strip()
    if not golden:
        return f"golden-check examples: the box is empty; {GOLDEN_HINT}"
    try:
        limit = int(golden)
    except ValueError:
        return f"golden-check examples: {golden!r} is not a whole number; {GOLDEN_HINT}"
    return limit if limit >= 0 else f"golden-check examples: {limit} is below 0; {GOLDEN_HINT}"


def plan_text(config: Any, sets: str, golden: str) -> tuple[Sweep | None, str]:
    """The plan of what is typed, and what to say about it: the branches and the command, or the refusal."""
    from engine.runs.sweep import plan_sweep

    texts = sets.split()
    if not texts:
        return None, "write SETTING=V1,V2 (for example finetune.lora_r=4,8)"
    limit = golden_limit(golden)
    if isinstance(limit, str):
        return None, limit
    try:
        plan = plan_sweep(config, texts, golden_limit=limit)
    except OliveLabError as exc:
        return None, said(exc)
    command = "olive-lab sweep " + " ".join(f"--set {t}" for t in texts) + f" --golden {limit}"
    return plan, f"{len(plan.branches)} branches: {', '.join(plan.branches)}\nthe same as: {command}"


class SweepStartScreen(ModalScreen[None]):
    """Settings and values of a new sweep; Enter starts it, Escape closes."""

    DEFAULT_CSS = """
    SweepStartScreen { align: center middle; }
    SweepStartScreen > Vertical {
        width: 90%; max-width: 100; height: auto; border: thick $primary; background: $surface; padding: 0 1;
    }
    SweepStartScreen Label { width: 1fr; }  /* a long line wraps inside the dialog */
    SweepStartScreen #sweep-plan { height: auto; margin: 1 0 0 0; }
    SweepStartScreen #sweep-plan.-refused { color: $error; }
    """
    BINDINGS = [("escape", "close", "Close")]

    def __init__(self, first: str = "finetune.lora_r", value: object = None) -> None:
        super().__init__()
        self.first = f"{first}={'' if value is None else value},"

    @property
    def lab_app(self) -> OliveLabApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Sweep: one branch per value (after quantize, each its own fine-tune and ONNX model).")
            yield Label("SETTING=V1,V2,… (several, separated by spaces: one branch per combination):")
            yield FieldInput(self.first, id="sweep-sets", select_on_focus=False)
            yield Label("Golden-check examples per branch (0: none):")
            yield FieldInput("8", id="sweep-golden")
            yield Static("", id="sweep-plan")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#sweep-sets", Input).focus()
        self._check()

    @on(Input.Changed)
    def _check(self) -> None:
        _, text = self._plan()
        self.query_one("#sweep-plan", Static).update(Text(text + "\nEnter starts the sweep · Esc closes"))

    def _plan(self) -> tuple[Sweep | None, str]:
        plan, text = plan_text(
            self.lab_app.config,
            self.query_one("#sweep-sets", Input).value,
            self.query_one("#sweep-golden", Input).value,
        )
        self.query_one("#sweep-plan", Static).set_class(plan is None, "-refused")
        return plan, text

    @on(Input.Submitted)
    def _submitted(self) -> None:
        plan, text = self._plan()
        if plan is None:
            self._refused(text, title="Not started")
            return
        refusal = self.lab_app.run_refusal()
        if refusal:
            self._refused(refusal, title="lab.toml")
            return
        sets = self.query_one("#sweep-sets", Input).value.split()
        golden = self.query_one("#sweep-golden", Input).value
        self.lab_app.start_with_saved_settings(lambda: self._start(sets, golden))

    @work(thread=True, exclusive=True, group="sweep-start", exit_on_error=False, name="start the sweep")
    def _start(self, sets: list[str], golden: str) -> None:
        from engine.runs.control import start_run
        from engine.runs.placement import read_settings

        app = self.lab_app
        plan, text = plan_text(app.config, " ".join(sets), golden)  # the settings in force now (maybe just saved)
        if plan is None:
            self.post_message(SweepRefused(text))
            return
        try:
            read_settings()  # a bad OLIVE_LAB_SLOTS / OLIVE_LAB_BRANCHES_PER_GPU is refused before the sweep starts
            run_id = start_run(app.lab, app.config, sweep=plan)
        except OliveLabError as exc:
            self.post_message(SweepRefused(said(exc)))
            return
        except OSError as exc:
            self.post_message(SweepRefused(str(exc)))
            return
        self.post_message(SweepStarted(run_id))

    def on_sweep_refused(self, message: SweepRefused) -> None:
        self._refused(message.reason, title="The sweep did not start")

    def _refused(self, reason: str, *, title: str) -> None:
        """Why it did not start, in the dialog (where the user looks) and on the message line and f2."""
        plan = self.query_one("#sweep-plan", Static)
        plan.set_class(True, "-refused")
        plan.update(Text(f"✘ {title}: {reason}\nEnter tries again · Esc closes"))
        self.notify(reason, title=title, severity="error", timeout=15, markup=False)

    def on_sweep_started(self, message: SweepStarted) -> None:
        app = self.lab_app
        app.notify(f"Sweep {message.run_id} started")
        app.call_later(open_sweep, app, app.lab.run_dir(message.run_id))
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)


async def open_sweep(app: OliveLabApp, run_dir: Path) -> None:
    """The monitor, with the sweep's branches side by side on top of it."""
    from tui.screens.sweep import SweepScreen

    await app.switch_mode("monitor")
    app.push_screen(SweepScreen(run_dir))
