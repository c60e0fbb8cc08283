"""A path that is not what it should be is refused at once, saying what it is: a FIFO where the dataset or a
run's state belongs, a link to an endless device, a folder where a file belongs. Without the check, these
readers wait forever (the time limits below are what turns a hang into a failure)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cli import main as cli_main
from engine.paths import LabPaths
from engine.runs.control import cancel_run
from engine.runs.state import STATE_FILE, read_state
from tests.conftest import olive_lab
from tests.helpers import start

pytestmark = pytest.mark.timeout(60)


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = cli_main(list(argv))
    out = capsys.readouterr()
    return code, out.out + out.err


@pytest.mark.timeout(15)
@pytest.mark.parametrize("command", ["check", "stats"])
def test_a_fifo_dataset_is_refused_at_once(tmp_path: Path, capsys, command: str) -> None:  # type: ignore[no-untyped-def]
    fifo = tmp_path / "data.jsonl"
    os.mkfifo(fifo)
    code, text = run_cli(capsys, "dataset", command, str(fifo), "--lab", str(tmp_path))
    assert code == 2, text
    assert "FIFO" in text and "data.jsonl" in text and "Traceback" not in text


@pytest.mark.timeout(15)
def test_a_dataset_linked_to_an_endless_device_is_refused(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    link = tmp_path / "data.jsonl"
    link.symlink_to("/dev/zero")
    code, text = run_cli(capsys, "dataset", "check", str(link), "--lab", str(tmp_path))
    assert code == 2 and "character device" in text, text
    folder = tmp_path / "folder.jsonl"
    folder.mkdir()
    code, text = run_cli(capsys, "dataset", "stats", str(folder), "--lab", str(tmp_path))
    assert code == 2 and "is a folder" in text, text


@pytest.mark.timeout(30)
def test_pipeline_run_refuses_a_fifo_dataset(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    lab = tmp_path / "lab"
    lab.mkdir()
    fifo = lab / "data.jsonl"
    os.mkfifo(fifo)
    (lab / "lab.toml").write_text(f'profile = "demo"\n[dataset]\npath = "{fifo}"\n[quantize]\nenabled = false\n')
    code, text = run_cli(capsys, "pipeline", "run", "--lab", str(lab))
    assert code in (1, 2) and "FIFO" in text and "Traceback" not in text, text


def test_a_fifo_state_file_hides_no_other_run_and_hangs_no_reader(fake_olive_lab: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    good = start(fake_olive_lab)
    cancel_run(LabPaths.at(fake_olive_lab), good.name)
    bad = fake_olive_lab / "runs" / "20990101-000000-0001"
    bad.mkdir()
    os.mkfifo(bad / STATE_FILE)
    code, text = run_cli(capsys, "runs", "list", "--lab", str(fake_olive_lab))
    assert code == 0 and good.name in text and bad.name in text and "FIFO" in text, text
    code, text = run_cli(capsys, "runs", "show", good.name, "--lab", str(fake_olive_lab))
    assert code == 0 and good.name in text, text
    code, text = run_cli(capsys, "runs", "show", bad.name, "--lab", str(fake_olive_lab))
    assert code == 1 and "FIFO" in text and "Traceback" not in text, text
    detached = olive_lab("pipeline", "run", "--detach", lab=fake_olive_lab, timeout=60)
    assert detached.returncode == 0, detached.stderr
    runs = LabPaths.at(fake_olive_lab).runs
    newest = sorted(p for p in runs.iterdir() if p.name not in (good.name, bad.name))[-1]
    assert read_state(newest).status in ("starting", "running"), read_state(newest).status
    cancel_run(LabPaths.at(fake_olive_lab), newest.name)
    code, text = run_cli(capsys, "runs", "rm", bad.name, "--yes", "--lab", str(fake_olive_lab))
    assert code == 0 and not bad.exists(), text


def test_a_lost_runs_rows_read_as_ended_without_a_write(fake_olive_lab: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """Both the supervisor and its waiting parent are gone: no row may still say running or pending."""
    import subprocess
    import sys
    import time

    from engine.config import build_config
    from engine.runs.state import RunState, StepState, write_state

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    run_dir = fake_olive_lab / "runs" / "20990101-000000-0001"
    run_dir.mkdir(parents=True)
    now = time.time() - 60
    state = RunState(id=run_dir.name, lab=str(fake_olive_lab), profile="demo", config=build_config("demo"),
                     status="running", supervisor_pid=gone.pid, warden_pid=gone.pid, created_at=now, started_at=now,
                     steps=[StepState(name="prepare", status="done", started_at=now, ended_at=now + 1),
                            StepState(name="finetune", status="running", started_at=now + 1),
                            StepState(name="optimize")])  # fmt: skip
    write_state(run_dir, state)
    before = (run_dir / STATE_FILE).read_bytes()
    code, text = run_cli(capsys, "runs", "show", run_dir.name, "--lab", str(fake_olive_lab))
    assert code == 0 and "lost" in text, text
    assert "running" not in text and "pending" not in text, text
    assert "finetune  failed" in text and "optimize  skipped" in text, text
    code, text = run_cli(capsys, "runs", "list", "--lab", str(fake_olive_lab))
    assert "finetune:failed optimize:skipped" in text, text
    code, text = run_cli(capsys, "runs", "cancel", run_dir.name, "--lab", str(fake_olive_lab))
    assert code == 1 and "lost, nothing to cancel" in text and "running" not in text, text
    assert (run_dir / STATE_FILE).read_bytes() == before  # readers (and a cancel with no one to ask) never write


def test_cancel_of_a_stopped_supervisor_takes_under_five_seconds(fake_olive_lab: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import signal
    import time

    from tests.helpers import fake_olive_alive, wait_until

    monkeypatch.setenv("FAKE_OLIVE_DELAY", "0.2")  # a finetune that goes on for a while
    run_dir = start(fake_olive_lab)
    wait_until(lambda: read_state(run_dir).step("finetune").status == "running", what="finetune running")
    supervisor = read_state(run_dir).supervisor_pid
    assert supervisor
    os.kill(supervisor, signal.SIGSTOP)
    started = time.monotonic()
    state = cancel_run(LabPaths.at(fake_olive_lab), run_dir.name)
    took = time.monotonic() - started
    assert state.status == "cancelled" and took <= 5.0, (state.status, state.reason, took)
    assert state.step("finetune").status == "cancelled" and state.step("optimize").status in ("cancelled", "skipped")
    wait_until(lambda: not fake_olive_alive(), timeout=5, what="no step left")
