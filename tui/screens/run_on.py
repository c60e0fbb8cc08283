"""Where a compute step runs: this machine, or a compute cluster of the lab's Azure ML workspace.

`ComputePicker` is a modal listing "this machine (local)" and the workspace's clusters, which a loader reads
in a worker (signing in and listing them is slow: the Azure SDK, the network). The default loader is
`load_computes` (the engine's `lab_computes`); a test gives the picker its own. The picker dismisses with a
`RunOnChoice` (the value, and whether it is for every compute step) or None.

`pick_run_on` is the Steps screen's side: it opens the picker and fills the form with the choice, unsaved
like any edit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.css.query import NoMatches
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList, Static
from textual.widgets.option_list import Option

from engine.config import LOCAL, REMOTE_PREFIX, LabConfig
from engine.errors import OliveLabError
from engine.paths import LabPaths
from tui import keymap
from tui.widgets.form import to_text

if TYPE_CHECKING:
    from textual.screen import Screen

    from engine.azure.jobs import ComputeInfo
    from tui.app import OliveLabApp
    from tui.widgets.form import FieldRow

log = logging.getLogger("olive_lab.run_on")

COMPUTE_STEPS = ("quantize", "finetune", "optimize")
ComputeLoader = Callable[[LabPaths, LabConfig, Callable[[str], None]], "tuple[str, list[ComputeInfo]]"]
"""(lab, settings, say) -> (workspace name, its clusters); `say` shows a line of progress (a device code)."""
_LOADING = "-loading"


def load_computes(lab: LabPaths, config: LabConfig, say: Callable[[str], None]) -> tuple[str, list[ComputeInfo]]:
    """The workspace's compute clusters, through the engine (signs in as `[azure] sign_in` says)."""
    # Deferred: the Azure code is needed only once the picker opens.
    from engine.azure.jobs import lab_computes

    return lab_computes(config, lab.root, on_device_code=lambda code: say(code.sentence()))


def run_on_help(app: object, help_text: Mapping[str, str]) -> dict[str, str]:
    """A section's field help with the picker's key in the `run_on` line."""
    out = dict(help_text)
    if "run_on" in out:
        out["run_on"] = f"local or azureml:<cluster>; {keymap.key_label(app, 'steps.run_on')} lists the clusters"
    return out


def where_text(value: str) -> str:
    return "this machine" if value == LOCAL else f"Azure ML cluster {value.removeprefix(REMOTE_PREFIX)}"


@dataclass(frozen=True)
class RunOnChoice:
    value: str  # "local" or "azureml:<cluster>"
    every_step: bool  # for quantize, finetune and optimize alike


class ComputePicker(ModalScreen["RunOnChoice | None"]):
    """This machine or one of the workspace's clusters; Enter chooses, `a` chooses for all three steps."""

    DEFAULT_CSS = """
    ComputePicker { align: center middle; }
    ComputePicker > Vertical {
        width: 96%; max-width: 110; height: auto; max-height: 90%;
        border: thick $primary; background: $surface; padding: 0 1;
    }
    ComputePicker OptionList { height: auto; max-height: 12; }
    ComputePicker #run-on-note { color: $text-muted; height: auto; }
    ComputePicker #run-on-note.-error { color: $error; }
    ComputePicker #run-on-help { color: $text-muted; margin: 1 0 0 0; }
    """
    BINDINGS = [
        Binding("escape", "dismiss_none", "Close", id="runon.close"),
        Binding("a", "choose_all", "All compute steps", id="runon.all"),
    ]

    def __init__(
        self,
        steps: tuple[str, ...],
        current: str,
        lab: LabPaths,
        config: LabConfig,
        *,
        loader: ComputeLoader | None = None,
    ) -> None:
        super().__init__()
        self.steps = steps
        self.current = current
        self.lab = lab
        self.config = config
        self.loader = loader

    @property
    def every_step(self) -> bool:
        return len(self.steps) > 1

    def compose(self) -> ComposeResult:
        with Vertical():
            if self.every_step:
                yield Label(f"Where do {', '.join(self.steps[:-1])} and {self.steps[-1]} run?")
            else:
                yield Label(f"Where does {self.steps[0]} run? (now: {self.current})")
            yield OptionList(
                Option(Text("this machine (local)"), id=LOCAL),
                Option(Text("loading clusters…", style="italic"), id=_LOADING, disabled=True),
                id="run-on-list",
            )
            yield Static("", id="run-on-note", markup=False)
            one = "" if self.every_step else f"{self.steps[0]} · a: "
            yield Static(f"Enter: {one}all compute steps · Esc: no change", id="run-on-help", markup=False)

    def on_mount(self) -> None:
        self.load()

    @work(thread=True, exclusive=True, group="computes", exit_on_error=False, name="list compute clusters")
    def load(self) -> None:
        loader = self.loader or load_computes
        try:
            workspace, computes = loader(self.lab, self.config, self._say)
        except OliveLabError as exc:
            self._from_thread(self._failed, exc.message, exc.hint)
            return
        except Exception as exc:  # a failure we did not foresee still reads as one line, never a traceback
            log.exception("listing the compute clusters failed")
            self._from_thread(self._failed, f"listing the compute clusters failed: {type(exc).__name__}: {exc}", None)
            return
        self._from_thread(self._listed, workspace, computes)

    def _from_thread(self, callback: Callable[..., None], *args: Any) -> None:
        try:
            self.app.call_from_thread(callback, *args)
        except RuntimeError:  # the app closed meanwhile
            pass

    def _say(self, text: str) -> None:
        self._from_thread(self._note, text, False)

    def _note(self, text: str, error: bool) -> None:
        try:
            note = self.query_one("#run-on-note", Static)
        except NoMatches:  # the picker closed meanwhile
            return
        note.set_class(error, "-error")
        note.update(text)

    def _listed(self, workspace: str, computes: list[ComputeInfo]) -> None:
        if not self.is_attached:
            return
        options = self.query_one(OptionList)
        options.remove_option(_LOADING)
        if not computes:
            self._note(f"{workspace} has no compute clusters: create one in Azure ML studio (Compute)", False)
            return
        options.add_options(Option(Text(c.line), id=f"{REMOTE_PREFIX}{c.name}") for c in computes)
        self._note(f"compute clusters of workspace {workspace}", False)
        try:
            options.highlighted = options.get_option_index(self.current)
        except LookupError:  # the current cluster is not (or no longer) in the workspace
            pass

    def _failed(self, message: str, hint: str | None) -> None:
        if not self.is_attached:
            return
        self.query_one(OptionList).replace_option_prompt(_LOADING, Text("no clusters listed", style="italic"))
        self._note(f"✘ {message}" + (f"\n  {hint}" if hint else ""), True)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option.id:
            self.dismiss(RunOnChoice(event.option.id, self.every_step))

    def action_choose_all(self) -> None:
        option = self.query_one(OptionList).highlighted_option
        if option is not None and option.id and not option.disabled:
            self.dismiss(RunOnChoice(option.id, True))

    def action_dismiss_none(self) -> None:
        self.dismiss(None)


def pick_run_on(
    screen: Screen[None],
    steps: tuple[str, ...],
    rows: Mapping[str, FieldRow],
    loader: ComputeLoader | None,
    then: Callable[[], object],
) -> None:
    """Open the picker for `steps` (the Steps screen's form `rows`); the choice fills their `run_on` fields,
    unsaved like any edit, then `then()` checks the form and a notice says how to save it."""
    app: OliveLabApp = screen.app  # type: ignore[assignment]
    current = to_text(rows[f"{steps[0]}.run_on"].raw_value())

    def chosen(choice: RunOnChoice | None) -> None:
        if choice is None:
            return
        targets = COMPUTE_STEPS if choice.every_step else steps
        for step in targets:
            rows[f"{step}.run_on"].set_value(choice.value)
        then()
        save = keymap.key_label(app, "steps.save")
        screen.notify(f"{', '.join(targets)} will run on {where_text(choice.value)}: unsaved, {save} saves it")

    app.push_screen(ComputePicker(steps, current, app.lab, app.config, loader=loader), chosen)
