"""What the app reads and sets up before its first frame: `theme` and `[keys]` from `lab.toml` (unvalidated,
for that frame only) and its own rotating debug log."""

from __future__ import annotations

import logging
import os
import tomllib
from collections.abc import Container
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import NamedTuple, cast

from engine.fs import private_dir, read_text_limited
from engine.paths import LabPaths

DEFAULT_THEME = "olive-dark"


class _KeyName(NamedTuple):
    value: str  # Textual's parser reads the key's name from `.value`, as from its own `Keys` members


def read_esc_digits_as_alt() -> None:
    """Esc and a digit that arrive together are alt+digit, so "Esc then 1-6" switches screens at any speed.

    tmux (escape-time, 500 ms by default) and other terminals send Esc typed quickly before a key as one
    meta sequence, `ESC 1`. Textual reads `ESC 1` .. `ESC 6` as the characters macOS types with option+1..6
    (`¡ ™ £ ¢ ∞ §`), which a text box then typed. Read as alt+1..6 they reach the app's screen keys instead;
    the characters themselves, typed as such (a UK keyboard's £), are untouched.
    """
    from textual._ansi_sequences import ANSI_SEQUENCES_KEYS  # the table the terminal parser reads

    table = cast(dict[str, object], ANSI_SEQUENCES_KEYS)
    for digit in "123456":
        table[f"\x1b{digit}"] = (_KeyName(f"alt+{digit}"),)


def esc_then(key: str, character: str | None, bound: Container[str]) -> str | None:
    """The key typed after Esc when Esc and that key arrived together as one meta sequence (`ESC q`, which
    Textual reads as alt+q); None for any other key and for an alt+key the app binds itself.

    Under tmux (escape-time) Esc typed quickly before a letter reaches the app that way: a text box would type
    the letter and the Esc would be lost. The app handles the two keys in turn instead."""
    if not key.startswith("alt+") or key in bound or character is None or len(character) != 1:
        return None
    return character if character.isalnum() else None


def read_early_settings(path: Path) -> tuple[str, dict[str, str]]:
    """`theme` and `[keys]` from `lab.toml` without validation, for the first frame; defaults on any problem.

    The full, validated read comes right after and reports what is wrong.
    """
    try:
        raw = tomllib.loads(read_text_limited(path))  # a FIFO or a huge file in its place: not read
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):  # NotAFileError is an OSError
        return DEFAULT_THEME, {}
    theme = raw.get("theme")
    keys = raw.get("keys")
    keys = {k: v for k, v in keys.items() if isinstance(v, str)} if isinstance(keys, dict) else {}
    return (theme if isinstance(theme, str) else DEFAULT_THEME), keys


def setup_app_log(lab: LabPaths) -> RotatingFileHandler | None:
    """The app's own debug log, rotated at 1 MB (three old files kept). None if it cannot be written."""

    try:
        private_dir(lab.app_log.parent)
        lab.app_log.touch(mode=0o600, exist_ok=True)  # private to the user, like the run folders
        os.chmod(lab.app_log, 0o600)
        handler = RotatingFileHandler(lab.app_log, maxBytes=1_000_000, backupCount=3, encoding="utf-8")
    except OSError:
        return None  # a read-only lab still opens; it just keeps no log
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("olive_lab")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    return handler
