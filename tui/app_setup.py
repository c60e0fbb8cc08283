"""What the app reads and sets up before its first frame: `theme` and `[keys]` from `lab.toml` (unvalidated,
for that frame only) and its own rotating debug log."""

from __future__ import annotations

import logging
import os
import tomllib
from logging.handlers import RotatingFileHandler
from pathlib import Path

from engine.paths import LabPaths

DEFAULT_THEME = "olive-dark"


def read_early_settings(path: Path) -> tuple[str, dict[str, str]]:
    """`theme` and `[keys]` from `lab.toml` without validation, for the first frame; defaults on any problem.

    The full, validated read comes right after and reports what is wrong.
    """
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return DEFAULT_THEME, {}
    theme = raw.get("theme")
    keys = raw.get("keys")
    keys = {k: v for k, v in keys.items() if isinstance(v, str)} if isinstance(keys, dict) else {}
    return (theme if isinstance(theme, str) else DEFAULT_THEME), keys


def setup_app_log(lab: LabPaths) -> RotatingFileHandler | None:
    """The app's own debug log, rotated at 1 MB (three old files kept). None if it cannot be written."""
    from engine.fs import private_dir

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
