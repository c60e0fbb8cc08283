"""Shared fixtures. The real demo pipeline runs once per test session (`demo_run`) and its outputs are shared."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FAKE_OLIVE = ROOT / "tests" / "fakes" / "fake_olive.py"

# No network here: never let a library reach for a hub, and keep Olive's telemetry off.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OLIVE_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def olive_lab(*args: str, lab: Path | None = None, env: dict[str, str] | None = None, timeout: float = 900, check: bool = False):
    """Run the real `olive-lab` command line in a subprocess."""
    argv = [sys.executable, "-m", "tui.launch", *args]
    if lab is not None:
        argv += ["--lab", str(lab)]
    proc = subprocess.run(
        argv, cwd=ROOT, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=timeout
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"olive-lab {' '.join(args)} exited {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


@pytest.fixture(autouse=True)
def _steady_cursor(monkeypatch: pytest.MonkeyPatch) -> None:
    """A blinking cursor would make screenshots and timings flicker; hold it still in every test."""
    try:
        from textual.widgets import Input
    except ImportError:  # a GPU machine running only the engine's tests
        return
    monkeypatch.setattr(Input, "_toggle_cursor", lambda self: None)


@pytest.fixture(scope="session")
def demo_lab(tmp_path_factory) -> Path:
    """A lab folder where the real demo pipeline ran once (shared by every test that needs real outputs)."""
    lab = tmp_path_factory.mktemp("demo-lab")
    proc = olive_lab("pipeline", "run", lab=lab, timeout=1500)
    if proc.returncode != 0:
        logs = "\n".join(
            f"== {p}\n{p.read_text(errors='replace')[-4000:]}" for p in sorted(lab.glob("runs/*/*/step.log"))
        )
        pytest.fail(f"the demo pipeline failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}\n{logs}")
    return lab


@pytest.fixture(scope="session")
def demo_run(demo_lab: Path) -> Path:
    """The finished run folder of the shared demo pipeline (`runs/<id>/`). Treat it as read-only."""
    runs = sorted((demo_lab / "runs").iterdir())
    return runs[0]


@pytest.fixture
def lab(tmp_path: Path) -> Path:
    """An empty lab folder."""
    path = tmp_path / "lab"
    path.mkdir()
    return path


@pytest.fixture
def fake_olive_env() -> dict[str, str]:
    return {"OLIVE_LAB_OLIVE": f"{sys.executable} {FAKE_OLIVE}"}


def copy_lab_models(src_lab: Path, dst_lab: Path) -> None:
    """Share the built demo model with another lab folder (hard links), so it is not built again."""
    src = src_lab / ".olive-lab" / "models"
    if src.is_dir():
        shutil.copytree(src, dst_lab / ".olive-lab" / "models", copy_function=os.link, dirs_exist_ok=True)
