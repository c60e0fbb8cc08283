"""Export from the app: a finished run's (or a sweep branch's) ONNX model and adapters, with the model card, to
a folder of the user's choice (engine.runs.export, the same export as `olive-lab export --run ID --branch B`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Static

from engine.errors import OliveLabError
from engine.paths import LabPaths
from engine.runs.models import FinishedModel
from tui import keymap
from tui.widgets.field_input import FieldInput


@dataclass
class ExportDone(Message):
    """The export ended: `text` says where it went (or why it did not)."""

    text: str
    failed: bool = False


def export_target(lab: LabPaths, model: FinishedModel) -> str:
    """The folder offered: `exports/<run>` (`exports/<run>-<branch>` for a branch), relative to the lab."""
    name = f"{model.run_id}-{model.branch}" if model.branch else model.run_id
    return str(Path("exports") / name)


class ExportScreen(ModalScreen[None]):
    """The folder to export to (Enter exports), then what was written; Escape closes."""

    SCOPE = "export"
    BINDINGS = keymap.bindings("export")
    DEFAULT_CSS = """
    ExportScreen { align: center middle; }
    ExportScreen > Vertical {
        width: 90%; max-width: 100; height: auto; border: thick $primary; background: $surface; padding: 0 1;
    }
    ExportScreen #export-result { height: auto; margin: 1 0 0 0; }
    ExportScreen #export-result.-failed { color: $error; }
    """

    def __init__(self, lab: LabPaths, model: FinishedModel) -> None:
        super().__init__()
        self.lab = lab
        self.model = model
        self.busy = False

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(f"Export {self.model.label}: the ONNX model, its adapters and a model card (README.md)")
            yield Static("to the folder (new or empty; relative to the lab folder):")
            yield FieldInput(export_target(self.lab, self.model), id="export-to")
            yield Static("Enter exports · Esc closes", id="export-result")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#export-to", Input).focus()

    @on(Input.Submitted, "#export-to")
    def _submitted(self, event: Input.Submitted) -> None:
        if self.busy or not event.value.strip():
            return
        self.busy = True
        self._say(f"exporting to {event.value.strip()}…")
        self._export(self.lab.resolve(event.value.strip()))

    @work(thread=True, exclusive=True, group="export", exit_on_error=False, name="export the model")
    def _export(self, to: Path) -> None:
        from engine.runs.export import export_run

        try:
            result = export_run(self.model.folder, to)
        except OliveLabError as exc:
            self.post_message(ExportDone(f"✘ not exported: {exc.full()}", failed=True))
            return
        except OSError as exc:
            self.post_message(ExportDone(f"✘ not exported: {exc}", failed=True))
            return
        self.post_message(ExportDone(
            f"✔ exported {self.model.label} to {result.folder}: {len(result.files)} files, "
            f"{result.total_bytes / 2**20:.1f} MiB, adapters {', '.join(result.adapters) or 'none'}; "
            "model card README.md"
        ))  # fmt: skip

    def on_export_done(self, message: ExportDone) -> None:
        self.busy = False
        self._say(message.text, failed=message.failed)
        self.notify(message.text, severity="error" if message.failed else "information", markup=False)

    def _say(self, text: str, *, failed: bool = False) -> None:
        result = self.query_one("#export-result", Static)
        result.set_class(failed, "-failed")
        result.update(Text(text))

    def action_close(self) -> None:
        self.dismiss(None)
