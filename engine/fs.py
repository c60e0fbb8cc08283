"""Files written so that a reader never sees half of one, and private to the user where they hold runs or chats;
files read only when they are what they should be, and never without a limit.

The one atomic writer of the project: write beside the target, flush to disk, then rename over it. A failed
write (a full disk, say) leaves the previous file whole and removes its own temporary file. A folder is
written the same way (`atomic_dir`): whole beside its target, then renamed into place.

The one reader: `open_regular` opens without waiting (a FIFO would block the open until a writer came) and
refuses anything but a regular file, saying what it is (a FIFO, a device, a folder); `read_limited` reads
such a file whole, up to a limit. So a named pipe or a link to /dev/zero where a file belongs is refused at
once instead of hanging the reader.
"""

from __future__ import annotations

import contextlib
import errno
import fnmatch
import hashlib
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import IO, BinaryIO

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
SMALL_FILE_LIMIT = 16 << 20  # settings, states, reports: far larger is a damaged or foreign file

_KINDS = (
    (stat.S_ISREG, "a file"),
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISLNK, "a symbolic link"),
)


class NotAFileError(OSError):
    """A path that is there but is not a regular file (or too big to be the file it should be)."""

    def __init__(self, path: Path, what: str) -> None:
        super().__init__(errno.EINVAL, what, str(path))
        self.what = what

    def __str__(self) -> str:
        return f"{self.filename} {self.what}"


def kind_of(mode: int) -> str:
    """What a file of this mode is, in words ("a FIFO (named pipe)", "a folder", ...)."""
    return next((word for test, word in _KINDS if test(mode)), "not a regular file")


def file_problem(path: Path) -> str | None:
    """Why `path` cannot be read as a file ("does not exist", "is a FIFO (named pipe), not a regular file"),
    or None when it is a readable regular file. Links are followed: a link to a regular file is fine."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "does not exist"
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    if stat.S_ISDIR(mode):
        return "is a folder, not a file"
    if not stat.S_ISREG(mode):
        return f"is {kind_of(mode)}, not a regular file"
    if not os.access(path, os.R_OK):
        return "cannot be read (permission denied)"
    return None


def folder_problem(path: Path) -> str | None:
    """Why `path` is not a folder that can be listed, or None."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "does not exist"
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    return None if stat.S_ISDIR(mode) else f"is {kind_of(mode)}, not a folder"


def open_regular(path: Path) -> BinaryIO:
    """`path` opened for reading in binary, when it is a regular file (a link to one is fine); NotAFileError
    at once otherwise. FileNotFoundError and PermissionError come through as they are."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            what = "is a folder, not a file" if stat.S_ISDIR(mode) else f"is {kind_of(mode)}, not a regular file"
            raise NotAFileError(Path(path), what)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_limited(path: Path, limit: int = SMALL_FILE_LIMIT) -> bytes:
    """The whole of the regular file `path`; NotAFileError when it is something else or over `limit` bytes."""
    with open_regular(path) as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise NotAFileError(Path(path), f"is larger than {limit // (1 << 20)} MiB, too large to be read")
    return data


def read_text_limited(path: Path, limit: int = SMALL_FILE_LIMIT, *, encoding: str = "utf-8") -> str:
    """`read_limited` decoded (UnicodeDecodeError when it is not text in `encoding`)."""
    return read_limited(path, limit).decode(encoding)


def _tmp_for(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


@contextlib.contextmanager
def atomic_open(path: Path, *, private: bool = False, newline: str | None = "\n") -> Iterator[IO[str]]:
    """A text file handle whose contents replace `path` only when the block ends without an error."""
    path = Path(path)
    private_dir(path.parent) if private else path.parent.mkdir(parents=True, exist_ok=True)
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
def atomic_path(path: Path, *, private: bool = False) -> Iterator[Path]:
    """A temporary path beside `path` for a writer that wants a file name (a library's export, say);
    it replaces `path` when the block ends without an error (made the user's alone with `private`)."""
    path = Path(path)
    private_dir(path.parent) if private else path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_for(path)
    try:
        yield tmp
        if private:
            os.chmod(tmp, PRIVATE_DIR if tmp.is_dir() else PRIVATE_FILE)
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


@contextlib.contextmanager
def atomic_dir(target: Path, *, tmp: Path | None = None, replace: bool = True) -> Iterator[Path]:
    """A path beside `target` for a writer that fills a folder whole (it creates the folder there); when the
    block ends without an error the folder is put in place of `target`, so a reader sees no folder or a whole
    one. Whatever was at `target` is removed first, or with `replace=False` FileExistsError is raised and the
    target left alone. A failed block removes its folder.

    `tmp` names the folder (default `.<name>.<pid>.tmp`): a fixed name lets the next writer remove what a
    killed one left, a name readers know to skip keeps a folder being made out of listings. Anything already
    there is removed before the block starts."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_for(target) if tmp is None else Path(tmp)
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        yield tmp
        if replace:
            _remove(target)
        elif target.exists() or target.is_symlink():
            raise FileExistsError(errno.EEXIST, "a folder of that name is there already", str(target))
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _remove(path: Path) -> None:
    """Remove whatever is at `path` (a folder and all in it, a file, a link); nothing when it is not there."""
    if path.exists() or path.is_symlink():
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


def copy_tree(source: Path, target: Path, *, skip: tuple[str, ...] = ()) -> None:
    """Copy the folder `source` to the new folder `target`: the contents only, each folder and file made with
    the process's umask (never the source's modes: a run's files are the user's alone, a copy of them for
    others is not). Names matching a pattern of `skip` are left out; the first error (a full disk) stops it
    and comes through as the OSError it is, naming the file. Missing folders above `target` are made too."""
    target.mkdir(parents=True)
    for entry in sorted(Path(source).iterdir()):
        if any(fnmatch.fnmatch(entry.name, pattern) for pattern in skip):
            continue
        if entry.is_dir():
            copy_tree(entry, target / entry.name, skip=skip)
        else:
            shutil.copyfile(entry, target / entry.name)


def free_mib(folder: Path) -> str:
    """ ", X MiB free" on the disk of `folder` (empty when that cannot be read): said beside "no space left"."""
    try:
        return f", {shutil.disk_usage(folder).free / 2**20:.1f} MiB free"
    except OSError:
        return ""


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
    with open_regular(path) as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def try_lock(path: Path, *, create: bool = True) -> int | None:
    """An exclusive `flock` on `path` without waiting: the open descriptor that holds it (close it to let go),
    or None when another process holds it (or, with `create=False`, when the file is not there)."""
    import fcntl

    try:
        # a lock looked at without creating it is opened read-only: that works on a read-only lab too
        fd = os.open(path, (os.O_RDWR | os.O_CREAT) if create else os.O_RDONLY, 0o600)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd
