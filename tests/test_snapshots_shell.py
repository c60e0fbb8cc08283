"""How the checklist, dataset and steps screens look at 80x24 and 120x40 (fixed labs, nothing time-bound)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.config import LabConfig
from engine.doctor import Check
from engine.paths import LabPaths
from tui.app import OliveLabApp

SIZES = [(80, 24), (120, 40)]


def fixed_checks(lab: LabPaths, config: LabConfig) -> list[Check]:
    return [
        Check("python", "ok", "Python 3.11"),
        Check("gpu", "warn", "no NVIDIA GPU found", "the demo runs on the CPU; use a GPU machine for phi35"),
    ]


@pytest.fixture(autouse=True)
def _steady(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLIVE_LAB_OLIVE", "olive")


def make_lab(root: Path) -> OliveLabApp:
    lines = [f'{{"prompt": "Question {i}?", "response": "Answer number {i}."}}' for i in range(30)]
    lines[7] = '{"prompt": "half a record"'
    (root / "data.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (root / "lab.toml").write_text('profile = "demo"\n[dataset]\npath = "data.jsonl"\n')
    return OliveLabApp(LabPaths.at(root), checks=fixed_checks)


async def _settle(pilot) -> None:  # type: ignore[no-untyped-def]
    await pilot.pause(0.2)
    await pilot.app.workers.wait_for_complete()
    await pilot.pause(0.2)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_home(snap_compare, tmp_path: Path, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(make_lab(tmp_path), terminal_size=size, run_before=_settle)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_dataset(snap_compare, tmp_path: Path, size: tuple[int, int], demo_model: Path) -> None:  # type: ignore[no-untyped-def]
    """With the demo model on disk (in the per-user cache), the statistics count tokens."""

    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("2")
        await _settle(pilot)

    assert snap_compare(make_lab(tmp_path), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_steps(snap_compare, tmp_path: Path, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("3")
        await _settle(pilot)

    assert snap_compare(make_lab(tmp_path), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_home_says_what_each_step_did(snap_compare, tmp_path: Path, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    """A finished run with an evaluation: the panel under the steps, with the sample size and the warning."""
    from fixtures.runfolders import evaluated_run

    app = make_lab(tmp_path)
    lines = [f'{{"prompt": "Question {i}?", "response": "Answer number {i}."}}' for i in range(30)]
    (tmp_path / "data.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    evaluated_run(tmp_path / "runs")
    assert snap_compare(app, terminal_size=size, run_before=_settle)
