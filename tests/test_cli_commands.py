"""`olive-lab pipeline commands` prints lines that paste into a shell: no `<id>` or `<demo model>` placeholders."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from fixtures.runfolders import LiveRun

from cli import main as cli_main
from cli.runs_cmd import follow
from engine.config import LabConfig
from engine.runs.state import RunState, write_state


def commands(lab: Path, capsys: pytest.CaptureFixture[str]) -> str:
    cli_main(["pipeline", "commands", "--lab", str(lab)])
    return capsys.readouterr().out


def test_without_a_run_the_lines_use_a_run_variable_set_first(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    out = commands(tmp_path, capsys)
    assert "<" not in out.replace("<|", "").replace("|>", "")  # template tokens are not placeholders
    assert out.startswith("RUN=") and '"$RUN"/finetune/output' in out
    assert subprocess.run(["bash", "-n"], input=out, text=True).returncode == 0  # valid shell


def test_with_a_run_the_lines_name_its_folder(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    run_dir = tmp_path / "runs" / "20260101-000000"
    run_dir.mkdir(parents=True)
    write_state(
        run_dir, RunState(id=run_dir.name, lab=str(tmp_path), profile="demo", config=LabConfig(), status="done")
    )
    out = commands(tmp_path, capsys)
    assert f"{run_dir}/quantize/output" in out and "$RUN" not in out and "<id>" not in out


def test_attach_says_done_when_the_run_closes_while_its_long_log_is_printed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stand_in_supervisor: int
) -> None:
    """The follower read the state (running), then printed a long log; meanwhile the run closed and its
    supervisor exited. The run is done, not lost (`pipeline run` of a chatty step said "lost", status 1)."""
    live = LiveRun(tmp_path / "runs", pid=stand_in_supervisor)
    live.start_step("finetune")
    live.print("finetune", "".join(f"line {i}\n" for i in range(1000)))

    class SlowTerminal(io.StringIO):
        def write(self, text: str) -> int:
            if "line 999" in text and not live.state.finished:  # the supervisor closes the run and exits
                live.finish_step("finetune")
                live.finish("done")
                os.kill(stand_in_supervisor, signal.SIGKILL)
                os.waitpid(stand_in_supervisor, 0)
            return super().write(text)

    terminal = SlowTerminal()
    monkeypatch.setattr("sys.stdout", terminal)
    assert follow(live.dir, poll_s=0.01) == 0
    assert terminal.getvalue().rstrip().endswith("run 20251124-170000-demo done")


def test_python_m_cli_without_a_command_opens_the_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`python -m cli --lab DIR` said "no command given (see --help)", though --help says no command opens the app."""
    import runpy

    import tui.app

    opened: list[str | None] = []

    def run_app(lab: str | None) -> int:
        opened.append(lab)
        return 0

    monkeypatch.setattr(tui.app, "run_app", run_app)
    monkeypatch.setattr(sys, "argv", ["cli", "--lab", str(tmp_path)])
    with pytest.raises(SystemExit) as done:
        runpy.run_module("cli", run_name="__main__", alter_sys=True)
    assert done.value.code == 0 and opened == [str(tmp_path)]
