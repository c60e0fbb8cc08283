"""scripts/walk.py when its tmux server is gone: a fresh server, or the stage reported as FAIL, never a traceback."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from engine.paths import PROJECT_ROOT


def load_walk() -> ModuleType:
    spec = importlib.util.spec_from_file_location("walk_script", PROJECT_ROOT / "scripts" / "walk.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def fake_tmux(calls: list[list[str]], new_session_fails: int) -> Any:
    """subprocess.run for tmux: `new-session` exits 1 (its server gone) the first `new_session_fails` times."""

    def run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        calls.append(list(cmd))
        failing = "new-session" in cmd and sum("new-session" in c for c in calls) <= new_session_fails
        rc, err = (1, "server exited unexpectedly") if failing or "capture-pane" in cmd else (0, "")
        if kwargs.get("check") and rc:
            raise subprocess.CalledProcessError(rc, cmd, "", err)
        return subprocess.CompletedProcess(cmd, rc, "tmux 3.4" if "-V" in cmd else "", err)

    return run


def test_a_gone_tmux_server_is_restarted_and_the_stage_goes_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    walk = load_walk()
    calls: list[list[str]] = []
    monkeypatch.setattr(walk.subprocess, "run", fake_tmux(calls, new_session_fails=1))
    monkeypatch.setattr(walk.Walk, "wait", lambda self, what, found, timeout: [])
    w = walk.Walk(tmp_path, 80, 24, {}, set())
    w.start("demo", tmp_path / "lab")
    verbs = [c[3] for c in calls]
    assert verbs[:3] == ["new-session", "kill-server", "new-session"], verbs


def test_a_tmux_that_keeps_failing_is_a_failed_stage_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    walk = load_walk()
    calls: list[list[str]] = []
    monkeypatch.setattr(walk.subprocess, "run", fake_tmux(calls, new_session_fails=99))
    code = walk.main(["--sizes", "80x24", "--stages", "demo", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 1, out
    assert "FAIL 80x24 demo: the walk went on: could not start the app in tmux" in out, out
    assert "tmux new-session exited 1: server exited unexpectedly" in out, out
