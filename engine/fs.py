"""Files written so that a reader never sees half of one, and private to the user where they hold runs or chats.

The one atomic writer of the project: write beside the target, flush to disk, then rename over it. A failed
write (a full disk, say) leaves the previous file whole and removes its own temporary file.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import IO

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def _tmp_for(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


@contextlib.contextmanager
def atomic_open(path: Path, *, private: bool = False, newline: str | None = "\n") -> Iterator[IO[str]]:
    """A text file handle whose contents replace `path` only when the block ends without an error."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_for(path)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE if private else 0o666)
        with open(fd, "w", encoding="utf-8", newline=newline) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path beside `path` for a writer that wants a file name (a library's export, say);
    it replaces `path` when the block ends without an error."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_for(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def atomic_write_text(path: Path, text: str, *, private: bool = False) -> Path:
    """Replace `path` with `text` atomically; the old contents stay if the write fails."""
    with atomic_open(path, private=private) as fh:
        fh.write(text)
    return Path(path)


def atomic_replace_dir(tmp: Path, target: Path) -> None:
    """Put a fully written folder `tmp` in place of `target` (whatever was there is removed first)."""
    if target.exists() or target.is_symlink():
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        else:
            target.unlink()
    os.replace(tmp, target)


def clear_folder(folder: Path) -> Path:
    """Empty `folder` (created if missing) without removing or renaming the folder itself: a step's output
    may be a mount point (an Azure ML job's output), which can be written inside but not replaced."""
    folder.mkdir(parents=True, exist_ok=True)
    for child in folder.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
    return folder


def private_dir(path: Path) -> Path:
    """Create `path` (and its parents) readable by the user alone."""
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    with contextlib.suppress(OSError):
        os.chmod(path, PRIVATE_DIR)
    return path


def file_digest(path: Path) -> str:
    """The SHA-256 of a file's contents, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def try_lock(path: Path, *, create: bool = True) -> int | None:
    """An exclusive `flock` on `path` without waiting: the open descriptor that holds it (close it to let go),
    or None when another process holds it (or, with `create=False`, when the file is not there)."""
    import fcntl

    try:
        fd = os.open(path, os.O_RDWR | (os.O_CREAT if create else 0), 0o600)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd
