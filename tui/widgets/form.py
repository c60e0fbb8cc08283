"""A settings form generated from a pydantic section model: one row per field.

Every field is edited as text (or picked from its choices), and the raw text is kept exactly as typed;
the screen validates the whole settings model and tells each row its error. Values become Python data
only through `FieldRow.raw_value`, which pydantic then coerces, so its messages are the ones shown.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Label, Select, Static

from tui.widgets.field_input import FieldInput

NEWLINE = "\\n"  # how a newline in a template is typed on one line


class FormInput(FieldInput):
    """A settings box: a pasted text of several lines keeps its newlines, written as `\\n`."""

    PASTE_JOIN = NEWLINE
    PASTE_NOTE = f"each newline kept as {NEWLINE}"


@dataclass(frozen=True)
class FieldSpec:
    """What the form needs to know about one settings field."""

    section: str
    name: str
    help: str
    choices: tuple[Any, ...] | None  # for Literal and bool fields
    optional: bool  # `X | None`: an empty box means None

    @property
    def key(self) -> str:
        return f"{self.section}.{self.name}"

    @property
    def widget_id(self) -> str:
        return f"field--{self.section}--{self.name}"


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return (args[0] if len(args) == 1 else annotation), True
    return annotation, False


def field_specs(
    section: str, model: type[BaseModel], help_text: dict[str, str], skip: tuple[str, ...] = ()
) -> list[FieldSpec]:
    """One FieldSpec per field of `model`, in declaration order."""
    specs = []
    for name, info in model.model_fields.items():
        if name in skip:
            continue
        annotation, optional = _unwrap(info.annotation)
        choices: tuple[Any, ...] | None = None
        if typing.get_origin(annotation) is Literal:
            choices = typing.get_args(annotation)
        elif annotation is bool:
            choices = (True, False)
        specs.append(FieldSpec(section, name, help_text.get(name, ""), choices, optional))
    return specs


def to_text(value: Any) -> str:
    """How a settings value is shown in a text box."""
    if value is None:
        return ""
    return str(value).replace("\n", NEWLINE)


class FieldRow(Vertical):
    """Label, control, one line of help and (when invalid) the validation message."""

    def __init__(self, spec: FieldSpec, value: Any) -> None:
        super().__init__(classes="field-row")
        self.spec = spec
        self._initial = value

    def compose(self) -> ComposeResult:
        spec = self.spec
        with Horizontal(classes="field-line"):
            yield Label(spec.name, classes="field-name")
            if spec.choices is not None:
                options = [(_choice_label(c), c) for c in spec.choices]
                yield Select(options, value=self._initial, allow_blank=False, compact=True, id=spec.widget_id)
            else:
                yield FormInput(to_text(self._initial), compact=True, id=spec.widget_id)
        yield Static(spec.help, classes="field-help", markup=False)
        yield Static("", classes="field-error", markup=False)

    @property
    def control(self) -> Input | Select[Any]:
        return self.query_one(f"#{self.spec.widget_id}")  # type: ignore[return-value]

    def raw_value(self) -> Any:
        """The value as the user left it, before validation: text for boxes, the choice for pickers."""
        control = self.control
        if isinstance(control, Select):
            return control.value
        text = control.value
        if self.spec.optional and text.strip() == "":
            return None
        return text.replace(NEWLINE, "\n")

    def set_value(self, value: Any) -> None:
        control = self.control
        if isinstance(control, Select):
            control.value = value
        else:
            control.value = to_text(value)

    def show_error(self, message: str | None, *, warning: str | None = None) -> None:
        """Mark the field invalid with `message`; or, when valid, show `warning` (saving is still allowed)."""
        self.set_class(message is not None, "-invalid")
        self.control.set_class(message is not None, "-invalid")
        error = self.query_one(".field-error", Static)
        error.set_class(message is None and warning is not None, "-warning")
        shown = message if message is not None else (f"⚠ {warning}" if warning else None)
        error.update(shown or "")
        error.display = shown is not None


def _choice_label(choice: Any) -> str:
    if choice is True:
        return "yes"
    if choice is False:
        return "no"
    return str(choice)
