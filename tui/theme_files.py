"""The validated shape of a theme file (pydantic), kept apart so the first frame need not import pydantic."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator
from textual.color import Color, ColorParseError
from textual.theme import Theme

from tui.theme_vars import VARIABLE_DEFAULTS


def _check_colour(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        Color.parse(value)
    except ColorParseError:
        raise ValueError(f"{value!r} is not a colour (try #RRGGBB or a colour name)") from None
    return value


class ThemeFile(BaseModel):
    """What a theme file may hold: Textual's base colours plus the app's own variables."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9-]*$")
    dark: bool = True
    primary: str
    secondary: str | None = None
    accent: str | None = None
    warning: str | None = None
    error: str | None = None
    success: str | None = None
    foreground: str | None = None
    background: str | None = None
    surface: str | None = None
    panel: str | None = None
    boost: str | None = None
    luminosity_spread: float = Field(0.15, ge=0.0, le=1.0)
    text_alpha: float = Field(0.95, ge=0.0, le=1.0)
    variables: dict[str, str] = Field(default_factory=dict)

    @field_validator(
        "primary", "secondary", "accent", "warning", "error", "success",
        "foreground", "background", "surface", "panel", "boost",
    )  # fmt: skip
    @classmethod
    def _colour(cls, value: str | None) -> str | None:
        return _check_colour(value)

    @field_validator("variables")
    @classmethod
    def _variable_colours(cls, value: dict[str, str]) -> dict[str, str]:
        for name, colour in value.items():
            try:
                _check_colour(colour)
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from None
        return value

    def to_textual(self) -> Theme:
        data = self.model_dump(exclude={"variables"})
        return Theme(**data, variables={**VARIABLE_DEFAULTS, **self.variables})
