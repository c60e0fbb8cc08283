"""Themes as small TOML files, validated before Textual sees them.

The bundled themes live in `themes/`; a user's own go in `<lab>/.olive-lab/themes/*.toml`. A broken file
is reported by name and field and skipped, so a typo in a colour never stops the app.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from textual.color import Color, ColorParseError
from textual.theme import Theme

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# App-specific colours every theme provides (Textual's built-in themes get these defaults).
VARIABLE_DEFAULTS: dict[str, str] = {
    "step-done": "#7FBF6A",
    "step-next": "#D9B44A",
    "step-failed": "#E0645A",
    "eval-row": "#4A6A8A",
}


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


def load_theme_file(path: Path) -> Theme:
    """One theme file as a Textual theme. Raises ValueError naming the file and the field."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot be read ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: is not valid TOML ({exc})") from None
    try:
        return ThemeFile.model_validate(raw).to_textual()
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(part) for part in err["loc"]) or "(file)"
        raise ValueError(f"{path}: field {field}: {err['msg']}") from None


def load_themes(folders: list[Path]) -> tuple[list[Theme], list[str]]:
    """Every `*.toml` theme in `folders` (later folders win on equal names), and one line per bad file."""
    themes: dict[str, Theme] = {}
    problems: list[str] = []
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.toml")):
            try:
                theme = load_theme_file(path)
            except ValueError as exc:
                problems.append(str(exc))
                continue
            themes[theme.name] = theme
    return list(themes.values()), problems
