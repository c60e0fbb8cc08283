"""`olive-lab cache clear`: forget reusable work (Olive's caches and the demo model), never a run's outputs."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from cli.common import emit, lab_of
from engine.paths import user_models
from engine.runs.state import iter_runs


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    clear = sub.add_parser(
        "clear", help="remove Olive caches left in run folders and the per-user model cache (the demo model)"
    )
    clear.add_argument("--keep-models", action="store_true", help="keep the per-user model cache")
    clear.set_defaults(handler=_clear)


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _remove(path: Path, removed: list[str], failed: list[str]) -> int:
    """Remove one cache folder; the bytes it freed. What could not be removed is said, never claimed."""
    size = _size(path)
    errors: list[str] = []
    shutil.rmtree(path, onerror=lambda _f, p, exc: errors.append(f"{p}: {getattr(exc[1], 'strerror', exc[1])}"))
    if path.exists():
        failed.append(f"{path} ({errors[0] if errors else 'still there'})")
        return size - (_size(path) if path.is_dir() else 0)
    removed.append(str(path))
    return size


def _clear(args: argparse.Namespace) -> int:
    lab = lab_of(args)
    removed: list[str] = []
    failed: list[str] = []
    freed = 0
    caches = [cache for entry in iter_runs(lab.runs) for cache in entry.dir.glob("*/.olive-cache")]
    caches += [p for p in [lab.root / ".olive-cache"] if p.is_dir()]
    if not args.keep_models:  # the per-user cache; older versions kept one per lab
        caches += [models for models in (user_models(), lab.models) if models.is_dir()]
    for cache in caches:
        freed += _remove(cache, removed, failed)
    text = f"removed {len(removed)} cache folder(s), {freed / 2**20:.1f} MiB"
    if failed:
        text += "\ncould not remove:\n" + "\n".join(f"  {f}" for f in failed)
    emit(args, {"removed": removed, "failed": failed, "freed_bytes": freed}, text)
    return 1 if failed else 0
