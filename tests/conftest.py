"""Shared fixtures. The real demo pipeline runs once per test session (`demo_run`) and its outputs are shared."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytest_plugins = ["tests.azure_fixtures"]  # lab_with_run, fake_cloud
FAKE_OLIVE = ROOT / "tests" / "fakes" / "fake_olive.py"

# No network here: never let a library reach for a hub, and keep Olive's telemetry off.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OLIVE_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def olive_lab(
    *args: str, lab: Path | None = None, env: dict[str, str] | None = None, timeout: float = 900, check: bool = False
):
    """Run the real `olive-lab` command line in a subprocess."""
    argv = [sys.executable, "-m", "cli.launch", *args]
    if lab is not None:
        argv += ["--lab", str(lab)]
    proc = subprocess.run(
        argv, cwd=ROOT, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=timeout
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"olive-lab {' '.join(args)} exited {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
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
    """A lab folder where the real demo pipeline ran once (shared by every test that needs real outputs).

    OLIVE_LAB_TEST_DEMO_LAB names a folder to keep it in between sessions: reused when its run finished,
    filled on first use (a developer's shortcut: the pipeline takes minutes on a loaded machine)."""
    kept = os.environ.get("OLIVE_LAB_TEST_DEMO_LAB")
    if kept and any(Path(kept).glob("runs/*/optimize/output/genai_config.json")):
        return Path(kept)
    lab = Path(kept) if kept else tmp_path_factory.mktemp("demo-lab")
    lab.mkdir(parents=True, exist_ok=True)
    proc = olive_lab("pipeline", "run", lab=lab, timeout=1500)
    if proc.returncode != 0:
        logs = "\n".join(
            f"== {p}\n{p.read_text(errors='replace')[-4000:]}" for p in sorted(lab.glob("runs/*/*/step.log"))
        )
        pytest.fail(
            f"the demo pipeline failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}\n{logs}"
        )
    return lab


@pytest.fixture(scope="session")
def demo_model() -> Path:
    """The demo profile's model in the per-user cache, built once for this user as the pipeline's prepare
    step builds it (the demo pipeline then finds it there)."""
    from engine.steps.demo_model import ensure_demo_model

    return ensure_demo_model(log=lambda line: None)


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
def stand_in_supervisor():
    """The pid of a live process that stands in for a run's supervisor (a run shown as going); the
    stray-run clean-up may signal it, so it is never the test process itself."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    yield proc.pid
    proc.kill()
    proc.wait()


@pytest.fixture
def fake_olive_env() -> dict[str, str]:
    return {"OLIVE_LAB_OLIVE": f"{sys.executable} {FAKE_OLIVE}"}


@pytest.fixture(autouse=True)
def _no_stray_runs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """After each test, cancel any run it left going: a failing test must not leave supervisors behind."""
    yield
    from engine.paths import LabPaths
    from engine.runs.control import cancel_run
    from engine.runs.state import RunFileError, read_state, supervisor_alive

    prefix = re.sub(r"[\W]", "_", request.node.name)[:30]  # how pytest names the test's tmp_path
    for state_file in tmp_path_factory.getbasetemp().glob(f"{prefix}*/**/runs/*/state.json"):
        run_dir = state_file.parent
        try:
            state = read_state(run_dir)
        except RunFileError:
            continue
        if state.supervisor_pid == os.getpid():  # a hand-written run that names the test itself
            continue
        if not state.finished and supervisor_alive(state):
            cancel_run(LabPaths.at(state.lab), run_dir.name)


@pytest.fixture
def fake_olive_lab(lab: Path, monkeypatch: pytest.MonkeyPatch, fake_olive_env: dict[str, str]) -> Path:
    (lab / "lab.toml").write_text('profile = "demo"\n[quantize]\nenabled = false\n[evaluate]\nenabled = false\n')
    for key, value in fake_olive_env.items():
        monkeypatch.setenv(key, value)
    return lab


# The test command runs on two workers (pytest-xdist, `--dist loadgroup`). A session fixture is built once per
# worker, so the tests that share a heavy one go to one worker together: the real demo pipeline's, the job
# environment's of the fake Azure ML node. Every other test stays with its file, so module fixtures (a real
# model, a real chain) are built once too.
_SHARED_GROUPS = {
    "real-pipeline": {"demo_lab", "demo_run"},
    "azure-node": {"node_env_built", "node_env_cache"},
}


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        group = next((name for name, needs in _SHARED_GROUPS.items() if fixtures & needs), item.nodeid.split("::")[0])
        item.add_marker(pytest.mark.xdist_group(group))
