"""The chat's sampling settings in a small modal form: temperature, top-p, top-k and answer length.

The engine's `SamplingOptions` model checks the values, and its messages are shown as they are; the result
goes into the conversation, so a saved chat keeps the settings its answers were made with.
"""

from __future__ import annotations

from pydantic import ValidationError
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from engine.chat import SamplingOptions
from tui.widgets.field_input import FieldInput

FIELDS = ("temperature", "top_p", "top_k", "max_length")


class SamplingScreen(ModalScreen[SamplingOptions | None]):
    """Enter keeps the values (when valid), Esc leaves them as they were."""

    DEFAULT_CSS = """
    SamplingScreen { align: center middle; }
    SamplingScreen > Vertical {
        width: 64; height: auto; border: round $primary; background: $surface; padding: 0 1;
    }
    SamplingScreen Horizontal { height: 1; }
    SamplingScreen Label { width: 14; }
    SamplingScreen Input { width: 1fr; }
    SamplingScreen #sampling-error { color: $error; height: auto; }
    SamplingScreen .sampling-help { color: $text-muted; height: auto; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="sampling.cancel")]

    def __init__(self, options: SamplingOptions) -> None:
        super().__init__()
        self.options = options

    def compose(self) -> ComposeResult:
        with Vertical(id="sampling-body"):
            for name in FIELDS:
                with Horizontal():
                    yield Label(name)
                    yield FieldInput(str(getattr(self.options, name)), compact=True, id=f"sampling-{name}")
            yield Static(
                "temperature 0 answers greedily (the same answer each time). Enter keeps, Esc cancels.",
                classes="sampling-help",
            )
            yield Static("", id="sampling-error", markup=False)

    def on_mount(self) -> None:
        self.query_one("#sampling-body").border_title = "Sampling settings"
        self.query_one(f"#sampling-{FIELDS[0]}", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        values = {name: self.query_one(f"#sampling-{name}", Input).value.strip() for name in FIELDS}
        try:
            options = SamplingOptions.model_validate({**self.options.model_dump(), **values})
        except ValidationError as exc:
            err = exc.errors()[0]
            self.query_one("#sampling-error", Static).update(f"{err['loc'][0]}: {err['msg']}")
            return
        self.dismiss(options.model_copy(update={"greedy": options.temperature == 0}))  # the form has no switch

    def action_cancel(self) -> None:
        self.dismiss(None)
