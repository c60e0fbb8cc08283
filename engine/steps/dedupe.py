"""No second full copy of a model a step did not change: identical files become hard links to the input.

`olive finetune` copies a local base model into `<output>/model/` beside the adapter (7.3 GB for
Phi-3.5-mini). The finetune step's input is the quantize step's output in the same run folder, so after the
step succeeds each copied file that is byte-for-byte the same as the input's file of the same name is replaced
by a hard link to it. Hard links, never symbolic links: the output stays a plain folder that reuse
(`link_tree`), export, ONNX conversion and `runs rm` of either run handle as before, and removing one name
keeps the data for the other. Inputs outside the run folder (a user's own model folder) are left alone, so a
later edit of the user's files can never reach into a run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from engine.fs import atomic_path
from engine.steps.logparse import stamped

BLOCK = 8 << 20


@dataclass(frozen=True)
class Deduped:
    files: int = 0
    bytes: int = 0


def same_contents(a: Path, b: Path) -> bool:
    """True when both files hold the same bytes (sizes first, then the contents block by block)."""
    sa, sb = a.stat(), b.stat()
    if (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino):
        return True
    if sa.st_size != sb.st_size:
        return False
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            block = fa.read(BLOCK)
            if block != fb.read(BLOCK):
                return False
            if not block:
                return True


def link_identical(copy: Path, source: Path, *, within: Path) -> Deduped:
    """Replace each file under `copy` that equals the file at the same place under `source` by a hard link
    to it. Only when `source` lies inside `within` (the run folder); symbolic links are never followed."""
    within = within.resolve()
    source = source.resolve()
    if not copy.is_dir() or not source.is_dir() or not source.is_relative_to(within):
        return Deduped()
    files = saved = 0
    for dirpath, _dirs, names in os.walk(copy):
        for name in names:
            target = Path(dirpath) / name
            original = source / target.relative_to(copy)
            if target.is_symlink() or original.is_symlink() or not original.is_file():
                continue
            if not same_contents(target, original):
                continue
            if os.stat(target).st_ino == os.stat(original).st_ino:
                continue
            size = target.stat().st_size
            try:
                with atomic_path(target) as tmp:  # the copy is replaced, never missing for a moment
                    os.link(original, tmp)
            except OSError:  # another file system, or links not supported: keep the copy
                continue
            files += 1
            saved += size
    return Deduped(files, saved)


def link_input_copy(output: Path, input_model: Path, run_dir: Path, log_path: Path) -> Deduped:
    """After finetune: `<output>/model/` becomes hard links to the input's files; the step log says so."""
    done = link_identical(output / "model", input_model, within=run_dir)
    if done.files:
        with open(log_path, "a", encoding="utf-8") as log:
            log.write(
                stamped(
                    f"{done.files} files ({done.bytes / 2**30:.2f} GiB) of {output}/model are hard links to the same "
                    f"files of {input_model}",
                    origin="dedupe.py:0:link_input_copy",
                )
                + "\n"
            )
    return done
