"""The supervisor's side of a start: it reads the start request (engine.runs.launch), makes the run folder all
at once and answers its starter with one line.

The folder is written under a hidden name (`.new-<pid>-<id>`, which no reader lists) and renamed into place
once its settings, state and shared links are there: a start interrupted at any moment leaves no run or a
whole one. A hidden folder left by a supervisor killed before the rename is removed by its waiting parent, or
by the next start in the same place once its maker is gone.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

from engine.config import save_config_to
from engine.fs import PRIVATE_FILE, atomic_dir, private_dir
from engine.runs.launch import StartRequest
from engine.runs.state import pid_alive, write_state

NEW_PREFIX = ".new-"


def read_request(stream: IO[bytes]) -> StartRequest | None:
    """The start request the starter wrote (None when it is incomplete: the starter died while writing)."""
    try:
        return StartRequest.model_validate_json(stream.read())
    except ValueError:
        return None


def hidden_folder(run_dir: Path, pid: int) -> Path:
    return run_dir.with_name(f"{NEW_PREFIX}{pid}-{run_dir.name}")


def make_run_folder(run_dir: Path, request: StartRequest) -> None:
    """The run folder, whole: written under its hidden name (`fill_run_folder`, its state naming this supervisor
    and its waiting parent), then renamed into place. OSError when the disk refuses, FileExistsError when a
    folder of that name is there."""
    private_dir(run_dir.parent)
    _remove_abandoned(run_dir.parent)
    request.state.supervisor_pid, request.state.warden_pid = os.getpid(), os.getppid()
    with atomic_dir(run_dir, tmp=hidden_folder(run_dir, os.getpid()), replace=False) as tmp:
        fill_run_folder(tmp, request)


def fill_run_folder(folder: Path, request: StartRequest) -> None:
    """A new run's files in `folder` (made if missing, the user's alone): settings.toml (secrets masked), the
    links it shares with another run, and last its first state."""
    from engine.runs.reuse import link_tree

    private_dir(folder)
    save_config_to(folder / "settings.toml", request.state.config, private=True)
    for source, inside in request.links:
        link_tree(Path(source), folder / inside)
    write_state(folder, request.state)


def _remove_abandoned(parent: Path) -> None:
    """Hidden folders of starts whose supervisor died before its folder was whole."""
    try:
        found = [p for p in parent.iterdir() if p.name.startswith(NEW_PREFIX)]
    except OSError:
        return
    for path in found:
        pid = path.name[len(NEW_PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and not pid_alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)


def remove_unfinished(run_dir: Path, pid: int) -> None:
    """The waiting parent's clean-up after a supervisor that died while making its folder."""
    shutil.rmtree(hidden_folder(run_dir, pid), ignore_errors=True)


def answer(code: int, **what: object) -> int:
    """The one line the starter waits for, on the launcher's output pipe; returns `code` (an exit status)."""
    try:
        os.write(1, (json.dumps(what) + "\n").encode())
    except OSError:
        pass  # the starter is gone: the run goes on without it
    return code


def log_to_run(run_dir: Path) -> None:
    """From now on this process's output goes to the run's supervisor.log (the starter's pipe is closed)."""
    fd = os.open(run_dir / "supervisor.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, PRIVATE_FILE)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def quiet() -> None:
    """The waiting parent says nothing: its output must not hold the starter's pipe open."""
    fd = os.open(os.devnull, os.O_RDWR)
    for target in (0, 1, 2):
        os.dup2(fd, target)
    os.close(fd)


def supervisor_main(
    argv: Sequence[str] | None,
    take_over: Callable[[Path, dict[str, dict[str, str]] | None], int],
    detach: Callable[[Path], None],
) -> int:
    """The supervisor's command line (`python -m engine.runs.supervisor [--daemonize] [--new] RUN_DIR`): with
    `--daemonize` it `detach`es (engine.runs.warden: the waiting parent stays); with `--new` it reads the start
    request on stdin and makes the run folder; then `take_over` runs the run."""
    parser = argparse.ArgumentParser(prog="engine.runs.supervisor")
    parser.add_argument("--daemonize", action="store_true")
    parser.add_argument("--new", action="store_true", help="make the run folder from the request on stdin")
    parser.add_argument("run_dir")
    args = parser.parse_args(argv)
    os.umask(0o077)  # every file and folder of the run (the steps' too) is the user's alone
    run_dir = Path(args.run_dir).resolve()
    request = read_request(sys.stdin.buffer) if args.new else None
    if args.new and request is None:
        return answer(1, error="the start request was incomplete (its starter stopped while writing it)")
    if args.daemonize:
        detach(run_dir)  # returns in the supervisor's own process only
    if request is not None:
        try:
            make_run_folder(run_dir, request)
        except OSError as exc:  # a full or read-only disk: no run, and the starter says why
            return answer(1, error=exc.strerror or str(exc), errno=exc.errno, filename=exc.filename)
    return take_over(run_dir, request.secrets if request is not None else None)
