"""Themes as small TOML files, validated before Textual sees them.

The bundled themes live in `themes/`; a user's own go in `<lab>/.olive-lab/themes/*.toml`. A broken file
is reported by name and field and skipped, so a typo in a colour never stops the app.
Validation needs pydantic, which is slow to import, so the first frame uses `bundled_theme` (our own files,
checked by the tests) and the validated set is registered right after it (`load_themes`, in a worker).
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from textual.theme import Theme

from tui.theme_files import ThemeFile
from tui.theme_vars import VARIABLE_DEFAULTS


def load_theme_file(path: Path) -> Theme:
    """One theme file as a Textual theme. Raises ValueError naming the file and the field."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot be read ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: is not valid TOML ({exc})") from None
    from pydantic import ValidationError

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


def bundled_theme(folder: Path, name: str) -> Theme | None:
    """The bundled theme called `name`, read without validation (for the first frame); None if absent."""
    for path in sorted(folder.glob("*.toml")):
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            continue
        if raw.get("name") == name:
            variables = {**VARIABLE_DEFAULTS, **raw.pop("variables", {})}
            return Theme(**raw, variables=variables)
    return None
