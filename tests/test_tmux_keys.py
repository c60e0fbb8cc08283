"""Keys sent in one burst through a real terminal (tmux) reach a number field in the order they were typed.

Pilot hands keys to the app one message at a time, so it cannot show this; tmux writes them to the app's
terminal in one read, as a fast typist or a paste over SSH does.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=True).stdout


def pane(session: str) -> list[str]:
    return tmux("capture-pane", "-t", session, "-p").splitlines()


def wait_for(session: str, check, timeout: float = 30.0) -> list[str]:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        lines = pane(session)
        if check(lines):
            return lines
        if time.monotonic() > deadline:
            raise AssertionError("the app did not get there in time:\n" + "\n".join(lines))
        time.sleep(0.2)


def field_line(lines: list[str], name: str) -> str:
    return next((line for line in lines if line.startswith(f" {name} ")), "")


def test_backspaces_and_letters_in_one_burst_keep_their_order(tmp_path: Path) -> None:
    session = f"olive-lab-keys-{os.getpid()}"
    command = (
        f"cd {shlex.quote(str(ROOT))} && PYTHONPATH={shlex.quote(str(ROOT))} "
        f"{shlex.quote(sys.executable)} -m cli.launch --lab {shlex.quote(str(tmp_path))}"
    )
    tmux("new-session", "-d", "-s", session, "-x", "80", "-y", "24", command)
    try:
        wait_for(session, lambda lines: any("No runs yet" in line for line in lines))
        tmux("send-keys", "-t", session, "3")
        wait_for(session, lambda lines: any("Model and profile" in line for line in lines))
        for _ in range(23):  # profile, model, ... (each compute step starts with run_on) lora_alpha, then max_steps
            tmux("send-keys", "-t", session, "Tab")
            time.sleep(0.05)

        wait_for(session, lambda lines: field_line(lines, "max_steps") != "")  # scrolled to it
        time.sleep(1.0)
        assert field_line(pane(session), "max_steps").split()[1] == "20"
        tmux("send-keys", "-t", session, "End")
        time.sleep(0.3)
        tmux("send-keys", "-t", session, "BSpace", "BSpace", "a", "b", "c")  # one write to the terminal
        lines = wait_for(session, lambda lines: field_line(lines, "max_steps").split()[1:2] != ["20"], 15)
        time.sleep(1.0)
        assert field_line(pane(session), "max_steps").split()[1] == "abc", lines  # not "20a"
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


def open_app(session: str, lab: Path) -> None:
    command = (
        f"cd {shlex.quote(str(ROOT))} && PYTHONPATH={shlex.quote(str(ROOT))} "
        f"{shlex.quote(sys.executable)} -m cli.launch --lab {shlex.quote(str(lab))}"
    )
    tmux("new-session", "-d", "-s", session, "-x", "80", "-y", "24", command)
    wait_for(session, lambda lines: any("No runs yet" in line for line in lines))


def to_model_field(session: str) -> None:
    tmux("send-keys", "-t", session, "3")
    wait_for(session, lambda lines: any("Model and profile" in line for line in lines))
    for _ in range(2):  # profile, then model
        tmux("send-keys", "-t", session, "Tab")
        time.sleep(0.3)
    wait_for(session, lambda lines: "leave" in lines[-1])  # the footer of a text box


def test_text_typed_then_tab_in_one_burst_stays_in_its_field(tmp_path: Path) -> None:
    session = f"olive-lab-tab-{os.getpid()}"
    open_app(session, tmp_path)
    try:
        to_model_field(session)
        tmux("send-keys", "-t", session, "my-fast-model", "Tab", "12.5")  # one write, as a paste or over SSH
        wait_for(session, lambda lines: field_line(lines, "stall_minutes").split()[1:2] == ["12.5"], 15)
        assert field_line(pane(session), "model").split()[1] == "my-fast-model"  # not "my-fast-model12.5"
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


def test_esc_then_digit_typed_quickly_switches_screens_from_a_field(tmp_path: Path) -> None:
    """Esc then 2 within tmux's escape-time (500 ms by default) reaches the app as one sequence, ESC 2."""
    session = f"olive-lab-esc-{os.getpid()}"
    open_app(session, tmp_path)
    try:
        to_model_field(session)
        tmux("send-keys", "-t", session, "Escape", "2")  # one write: ESC 2, what tmux sends for Esc+2 typed fast
        wait_for(session, lambda lines: any(line.startswith(" File ") for line in lines), 30)  # a new screen
        tmux("send-keys", "-t", session, "M-3")
        lines = wait_for(session, lambda lines: any("Model and profile" in line for line in lines))
        assert field_line(lines, "model").split()[1] == "demo"  # nothing typed into it (it became "¡")
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
