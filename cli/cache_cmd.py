"""`olive-lab cache clear`: forget reusable work (Olive's caches and the demo model), never a run's outputs."""

from __future__ import annotations

import argparse
import shutil

from cli.common import emit, lab_of
from engine.paths import user_models
from engine.runs.state import iter_runs


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    clear = sub.add_parser("clear", help="remove Olive caches left in run folders and the per-user model cache (the demo model)")
    clear.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    clear.add_argument("--keep-models", action="store_true", help="keep the per-user model cache")
    clear.set_defaults(handler=_clear)


def _size(path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _clear(args: argparse.Namespace) -> int:
    lab = lab_of(args)
    removed: list[str] = []
    freed = 0
    for entry in iter_runs(lab.runs):
        for cache in entry.dir.glob("*/.olive-cache"):
            freed += _size(cache)
            shutil.rmtree(cache, ignore_errors=True)
            removed.append(str(cache))
    stray = lab.root / ".olive-cache"
    if stray.is_dir():
        freed += _size(stray)
        shutil.rmtree(stray, ignore_errors=True)
        removed.append(str(stray))
    if not args.keep_models:
        for models in (user_models(), lab.models):  # the per-user cache; older versions kept one per lab
            if models.is_dir():
                freed += _size(models)
                shutil.rmtree(models, ignore_errors=True)
                removed.append(str(models))
    emit(
        args,
        {"removed": removed, "freed_bytes": freed},
        f"removed {len(removed)} cache folder(s), {freed / 2**20:.1f} MiB",
    )
    return 0
