"""Where things live: the lab folder's layout and the files bundled with the project."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BUNDLED_DATA = PROJECT_ROOT / "data"
BUNDLED_DATASET = BUNDLED_DATA / "travel.jsonl"
BUNDLED_THEMES = PROJECT_ROOT / "themes"

LAB_CONFIG_NAME = "lab.toml"


def user_cache() -> Path:
    """olive-lab's per-user cache (the demo model, downloaded models), shared by every lab of the user:
    `$OLIVE_LAB_CACHE`, else `$XDG_CACHE_HOME/olive-lab`, else `~/.cache/olive-lab`."""
    if os.environ.get("OLIVE_LAB_CACHE"):
        return Path(os.environ["OLIVE_LAB_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "olive-lab"


def user_models() -> Path:
    """Models olive-lab builds or downloads for the user (the demo model, Azure catalog models)."""
    return user_cache() / "models"


@dataclass(frozen=True)
class LabPaths:
    """The layout of one lab folder. Nothing here creates files; callers make what they write."""

    root: Path

    @classmethod
    def at(cls, root: str | os.PathLike[str] | None = None) -> LabPaths:
        return cls(Path(root or os.getcwd()).resolve())

    @property
    def config(self) -> Path:
        return self.root / LAB_CONFIG_NAME

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    @property
    def private(self) -> Path:
        """olive-lab's own working area inside the lab folder (models it builds, caches, chats)."""
        return self.root / ".olive-lab"

    @property
    def models(self) -> Path:
        return self.private / "models"

    @property
    def chats(self) -> Path:
        return self.private / "chats"

    @property
    def app_log(self) -> Path:
        return self.private / "app.log"

    @property
    def run_lock(self) -> Path:
        return self.private / "run.lock"

    @property
    def slot_locks(self) -> Path:
        """Where a local sweep's branches hold their GPU slots' locks (engine.runs.placement)."""
        return self.private / "slots"

    def run_dir(self, run_id: str) -> Path:
        return self.runs / run_id

    def write_problem(self) -> str | None:
        """Why runs cannot be written here (None when they can): the lab folder, or the nearest folder above
        it that exists, is on a read-only filesystem or not the user's to write."""
        if os.access(nearest_existing(self.root), os.W_OK):
            return None
        return f"{self.root} cannot be written (a read-only filesystem or no permission)"

    def resolve(self, typed: str | os.PathLike[str]) -> Path:
        """The one resolver of a path a user wrote (in lab.toml, a flag or a field): `~` is their home, and a
        relative path is taken from the lab folder, whatever the current folder is."""
        path = Path(typed).expanduser()
        return path if path.is_absolute() else self.root / path

    def local_model(self, model: str) -> Path | None:
        """The folder a `model` setting names when it is on disk; None for a hub id, `demo` or an azureml:// id.

        A setting that starts with `.`, `/` or `~`, or that exists relative to the lab folder, is local."""
        if model == "demo" or model.startswith("azureml:"):
            return None
        path = self.resolve(model)
        if model.startswith((".", "/", "~")) or path.exists():
            return path
        return None


def nearest_existing(path: Path) -> Path:
    """`path` if it exists, else the nearest folder above it that does (where it would be made: its disk)."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path(path.anchor or "/")
