"""Runs that never lie and never leak: the real supervisor and real processes, killed, starved and damaged.

Finetune and optimize are the fake `olive` (replaying a captured real run), prepare is the real program
with the per-user demo model; quantize is off unless a test says otherwise.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from engine.errors import OliveLabError
from engine.runs.state import STATE_FILE, read_state
from tests.conftest import FAKE_OLIVE, olive_lab
from tests.helpers import fake_olive_alive, only_run, start, wait_until


def test_kill_9_of_the_supervisor_fails_the_run_with_the_cause_and_leaves_no_step_behind(
    fake_olive_lab: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_OLIVE_HANG", "1")
    run_dir = start(fake_olive_lab)
    wait_until(lambda: read_state(run_dir).step("finetune").pid is not None, what="finetune started")
    state = read_state(run_dir)
    step_pid = state.step("finetune").pid
    assert state.supervisor_pid is not None
    os.kill(state.supervisor_pid, signal.SIGKILL)
    wait_until(lambda: read_state(run_dir).finished, timeout=20, what="the run closed")
    state = read_state(run_dir)
    assert state.status == "failed" and state.reason == "supervisor killed by signal 9 (SIGKILL)"
    finetune = state.step("finetune")
    assert finetune.status == "failed" and finetune.ended_at is not None
    assert all(s.ended_at is not None for s in state.steps if s.started_at is not None)
    wait_until(lambda: not psutil.pid_exists(step_pid) or psutil.Process(step_pid).status() == "zombie", 10)
    assert not fake_olive_alive()
    shown = olive_lab("runs", "show", run_dir.name, lab=fake_olive_lab)
    assert "supervisor killed by signal 9" in shown.stdout and "running" not in shown.stdout
    # The lock went with the run: a new run can start at once.
    monkeypatch.delenv("FAKE_OLIVE_HANG")
    second = start(fake_olive_lab)
    wait_until(lambda: read_state(second).finished, what="the second run")
    assert read_state(second).status == "done"


def test_two_starts_at_the_same_moment_give_one_run(fake_olive_lab: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_OLIVE_HANG", "1")
    results: list[object] = []
    barrier = threading.Barrier(3)

    def go() -> None:
        barrier.wait()
        try:
            results.append(start(fake_olive_lab))
        except OliveLabError as exc:
            results.append(exc)

    threads = [threading.Thread(target=go) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    started = [r for r in results if isinstance(r, Path)]
    refused = [r for r in results if isinstance(r, OliveLabError)]
    assert len(started) == 1 and len(refused) == 2, results
    assert all("--allow-concurrent" in (r.hint or "") for r in refused)
    assert len(list((fake_olive_lab / "runs").iterdir())) == 1


def test_a_full_disk_at_a_state_write_is_recorded_as_such(
    fake_olive_lab: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OLIVE_LAB_FAULT_ENOSPC_AT", "state:6")
    monkeypatch.setenv("FAKE_OLIVE_DELAY", "0.01")
    run_dir = start(fake_olive_lab)
    wait_until(lambda: read_state(run_dir).finished, what="the run closed")
    state = read_state(run_dir)
    assert state.status == "failed" and (state.reason or "").startswith("no space left on device in "), state.reason
    assert "MiB free" in (state.reason or "")
    assert all(s.ended_at is not None for s in state.steps if s.started_at is not None)
    assert not list(run_dir.glob(".*.tmp")) and not (run_dir / ".reserve").exists()
    assert not fake_olive_alive()


def test_a_full_disk_on_a_real_small_filesystem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_olive_env
) -> None:
    import subprocess

    mnt = tmp_path / "small"
    mnt.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", str(mnt)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small filesystem here ({mounted.stderr.decode().strip()})")
    try:
        for key, value in {**fake_olive_env, "FAKE_OLIVE_LINES": "40000"}.items():
            monkeypatch.setenv(key, value)
        (mnt / "lab.toml").write_text('profile = "demo"\n[quantize]\nenabled = false\n[evaluate]\nenabled = false\n')
        run_dir = start(mnt, check=False)  # the disk fills during the run, after the pre-flight check
        wait_until(lambda: read_state(run_dir).finished, what="the run closed")
        state = read_state(run_dir)
        assert state.status == "failed"
        assert "no space left on device" in (state.reason or "").lower() or "No space left" in (
            state.step("finetune").reason or ""
        ), state.reason
        assert all(s.ended_at is not None for s in state.steps if s.started_at is not None)
        assert not fake_olive_alive()
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_damaged_run_files_never_crash_a_reader(fake_olive_lab: Path) -> None:
    good = start(fake_olive_lab)
    wait_until(lambda: read_state(good).finished, what="the run")
    bad = fake_olive_lab / "runs" / "20990101-000000-0001"
    bad.mkdir()
    (bad / STATE_FILE).write_text('{"id": "20990101-000000-0001", "status": "runn')
    for command in (["runs", "show", bad.name], ["runs", "report", bad.name], ["runs", "attach", bad.name]):
        proc = olive_lab(*command, lab=fake_olive_lab)
        assert proc.returncode != 0 and "Traceback" not in proc.stderr + proc.stdout, command
        assert "state.json" in proc.stderr + proc.stdout, command
    listed = olive_lab("runs", "list", lab=fake_olive_lab, check=True)
    assert bad.name in listed.stdout and "unreadable" in listed.stdout and good.name in listed.stdout
    pruned = olive_lab("runs", "prune", "--keep", "0", "--yes", lab=fake_olive_lab, check=True)
    assert f"skipped {bad.name}" in pruned.stdout and bad.exists()
    olive_lab("runs", "rm", bad.name, lab=fake_olive_lab, check=True)
    assert not bad.exists()


def test_a_garbage_events_line_is_skipped_with_a_note(fake_olive_lab: Path) -> None:
    run_dir = start(fake_olive_lab)
    wait_until(lambda: read_state(run_dir).finished, what="the run")
    with open(run_dir / "events.jsonl", "a") as fh:
        fh.write("\x00garbage{\n")
    attached = olive_lab("runs", "attach", "--json", run_dir.name, lab=fake_olive_lab, check=True)
    kinds = [json.loads(line)["kind"] for line in attached.stdout.splitlines()]
    assert "run_finished" in kinds and "Traceback" not in attached.stderr
    text = olive_lab("runs", "attach", run_dir.name, lab=fake_olive_lab, check=True)
    assert "skipped 1 damaged line" in text.stdout


def test_deletion_is_explicit_and_never_follows_a_link(fake_olive_lab: Path, tmp_path: Path) -> None:
    run_dir = start(fake_olive_lab)
    wait_until(lambda: read_state(run_dir).finished, what="the run")
    assert olive_lab("runs", "rm", lab=fake_olive_lab).returncode == 2  # no id: refused by the parser
    empty = olive_lab("runs", "rm", "", lab=fake_olive_lab)
    assert empty.returncode == 2 and "no run given" in empty.stderr
    latest = olive_lab("runs", "rm", "latest", lab=fake_olive_lab)
    assert latest.returncode == 1 and "--yes" in latest.stderr and run_dir.exists()
    outside = tmp_path / "precious"
    (outside / "state.json").parent.mkdir()
    (outside / "keep.txt").write_text("mine")
    link = fake_olive_lab / "runs" / "20990101-000000-0002"
    link.symlink_to(outside)
    pruned = olive_lab("runs", "prune", "--keep", "0", "--yes", lab=fake_olive_lab, check=True)
    assert "symbolic link" in pruned.stdout and (outside / "keep.txt").exists()
    assert run_dir.exists() and f"kept {run_dir.name}" in pruned.stdout  # the newest run with a model stays
    olive_lab("runs", "rm", run_dir.name, lab=fake_olive_lab, check=True)  # named, it goes
    assert not run_dir.exists()
    olive_lab("runs", "rm", "latest", "--yes", lab=fake_olive_lab, check=True)  # latest is now the link
    assert not link.is_symlink() and (outside / "keep.txt").read_text() == "mine"


def test_cancel_during_prepare_ends_every_step_within_five_seconds(
    fake_olive_lab: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OLIVE_LAB_CACHE", str(tmp_path / "fresh-cache"))  # prepare builds the demo model
    run_dir = start(fake_olive_lab)
    log = run_dir / "prepare" / "step.log"
    wait_until(lambda: log.exists() and "Building the demo model" in log.read_text(), what="the build began")
    prepare_pid = read_state(run_dir).step("prepare").pid
    assert prepare_pid and read_state(run_dir).step("prepare").command[1:3] == ["-m", "engine.steps.prepare"]
    started = time.time()
    olive_lab("runs", "cancel", lab=fake_olive_lab, check=True)
    took = time.time() - started
    state = read_state(run_dir)
    assert state.status == "cancelled" and took < 5 + 3  # the CLI's own start-up on top of the 5 s
    assert state.step("prepare").status == "cancelled" and state.step("prepare").ended_at is not None
    assert not psutil.pid_exists(prepare_pid) or psutil.Process(prepare_pid).status() == "zombie"
    assert not (tmp_path / "fresh-cache" / "models").exists() or not any(
        (tmp_path / "fresh-cache" / "models").glob("demo-*/config.json")
    )
    again = olive_lab("runs", "cancel", lab=fake_olive_lab)
    assert again.returncode == 1 and "nothing to cancel" in again.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--steps", ","], "no step given"),
        (["--steps", "quantize,optimize"], "optimize needs the output of finetune"),
        (["--from", "optimize"], "no earlier run finished it"),
    ],
)
def test_a_step_selection_that_cannot_run_is_refused_before_a_run_folder_exists(
    fake_olive_lab: Path, args: list[str], message: str
) -> None:
    (fake_olive_lab / "lab.toml").write_text('profile = "demo"\n')
    proc = olive_lab("pipeline", "run", *args, lab=fake_olive_lab)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert not (fake_olive_lab / "runs").exists() or not any((fake_olive_lab / "runs").iterdir())


def test_secret_step_variables_never_reach_the_run_folder(fake_olive_lab: Path) -> None:
    secret = "hf_s3cr3t_value_123"
    (fake_olive_lab / "lab.toml").write_text(
        'profile = "demo"\n[quantize]\nenabled = false\n[evaluate]\nenabled = false\n'
        f'[finetune.env]\nHF_TOKEN = "{secret}"\nMY_FLAG = "on"\n'
    )
    run_dir = start(fake_olive_lab)
    wait_until(lambda: read_state(run_dir).finished, what="the run")
    assert read_state(run_dir).status == "done"
    olive_lab("runs", "report", run_dir.name, lab=fake_olive_lab, check=True)
    for path in run_dir.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
    assert read_state(run_dir).config.finetune.env == {"HF_TOKEN": "***", "MY_FLAG": "on"}
    assert stat.S_IMODE(run_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((run_dir / STATE_FILE).stat().st_mode) == 0o600


def test_the_step_receives_the_secret_from_the_supervisor(
    fake_olive_lab: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The value travels in the process environment: a step that needs the token gets it."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import os, sys, runpy\n"
        f"open({str(tmp_path)!r} + '/seen-' + sys.argv[1], 'w').write(os.environ.get('HF_TOKEN', 'missing'))\n"
        f"sys.argv = [{str(FAKE_OLIVE)!r}] + sys.argv[1:]\n"
        f"runpy.run_path({str(FAKE_OLIVE)!r}, run_name='__main__')\n"
    )
    (fake_olive_lab / "lab.toml").write_text(
        'profile = "demo"\n[quantize]\nenabled = false\n[evaluate]\nenabled = false\n'
        '[finetune.env]\nHF_TOKEN = "hf_for_the_step"\n'
    )
    monkeypatch.setenv("OLIVE_LAB_OLIVE", f"{sys.executable} {probe}")
    run_dir = start(fake_olive_lab)
    wait_until(lambda: read_state(run_dir).finished, what="the run")
    assert (tmp_path / "seen-finetune").read_text() == "hf_for_the_step"
    assert (tmp_path / "seen-auto-opt").read_text() == "missing"  # only the step it was set for


def test_a_second_demo_lab_reuses_the_users_demo_model(demo_run: Path, lab: Path, fake_olive_env) -> None:
    """The demo model is built once per user from the bundled set, whatever a lab's own dataset is."""
    first_model = read_state(demo_run).step("quantize").command
    model_dir = Path(first_model[first_model.index("--model") + 1])
    built_at = (model_dir / "config.json").stat().st_mtime_ns
    rows = [f'{{"question": "Where is {i}?", "answer": "It is in town {i}."}}' for i in range(30)]
    (lab / "qa.jsonl").write_text("\n".join(rows) + "\n")
    template = "<|user|>\\n{question}<|end|>\\n<|assistant|>\\n{answer}<|end|>"
    (lab / "lab.toml").write_text(
        'profile = "demo"\n[dataset]\npath = "qa.jsonl"\nprompt_field = "question"\nresponse_field = "answer"\n'
        f'[quantize]\nenabled = false\n[evaluate]\nenabled = false\n[finetune]\ntext_template = "{template}"\n'
    )
    olive_lab("pipeline", "run", lab=lab, env=fake_olive_env, check=True)
    run_dir = only_run(lab)
    assert "Demo model found in the user cache" in (run_dir / "prepare" / "step.log").read_text()
    finetune = read_state(run_dir).step("finetune").command
    assert finetune[finetune.index("-m") + 1] == str(model_dir)
    assert (model_dir / "config.json").stat().st_mtime_ns == built_at  # not built again
