"""Choosing a finished model: every run's ONNX model and every sweep branch's, newest first, the best branch of
a sweep marked. A modal that dismisses with the chosen `FinishedModel` (None on Escape); chat and export use it.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Label, OptionList
from textual.widgets.option_list import Option

from engine.paths import LabPaths
from engine.runs.models import FinishedModel, finished_models


def model_line(model: FinishedModel, current: bool = False) -> str:
    mark = "▶ " if current else "  "
    best = "  ★ best of its sweep" if model.best else ""
    return f"{mark}{model.label}{best}"


class ModelPicker(ModalScreen["FinishedModel | None"]):
    """Pick a finished run or sweep branch; Enter chooses, Escape closes. The cursor starts on the current model;
    the picker's own footer shows its keys over the screen's below."""

    DEFAULT_CSS = """
    ModelPicker { align: center middle; }
    ModelPicker > Vertical {
        width: 90%; max-width: 100; height: 70%; border: thick $primary; background: $surface; padding: 0 1;
    }
    ModelPicker OptionList { height: 1fr; }
    """
    BINDINGS = [
        Binding("enter", "choose", "Choose", priority=True, id="modelpicker.choose"),  # shown: the list's is not
        Binding("escape", "dismiss_none", "Close", id="modelpicker.close"),
    ]

    def __init__(self, lab: LabPaths, *, title: str = "Which model?", current: object = None) -> None:
        super().__init__()
        self.lab = lab
        self.title_text = title
        self.current = current
        self.models: list[FinishedModel] = []

    def compose(self) -> ComposeResult:
        self.models = finished_models(self.lab)
        with Vertical():
            yield Label(self.title_text)
            options = [Option(model_line(m, m.model_dir == self.current), id=str(i)) for i, m in enumerate(self.models)]
            yield OptionList(*options) if options else Label("No finished model yet: run the pipeline first.")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        current = next((i for i, m in enumerate(self.models) if m.model_dir == self.current), None)
        if current is not None:
            self.query_one(OptionList).highlighted = current

    def action_choose(self) -> None:
        lists = self.query(OptionList)
        if lists and (highlighted := lists.first().highlighted) is not None:
            self.dismiss(self.models[highlighted])

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.models[int(event.option.id or 0)])

    def action_dismiss_none(self) -> None:
        self.dismiss(None)
