"""How fast the app opens: launch to first frame, the first page of a million-record dataset, and the
Steps screen's first opening (its settings form built and checked).

Targets: both at most 0.5 s. `run()` returns the figures; running the module prints them.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_S = 0.5


def start_to_first_frame(lab: Path, repeats: int = 5) -> tuple[float, float]:
    """Medians of seconds from launching `olive-lab --lab DIR` (headless) to its first frame drawn, and to
    the process's exit right after that frame."""
    first_frames, exits = [], []
    with tempfile.TemporaryDirectory() as tmp:
        stamp = Path(tmp) / "first-frame"
        env = {
            **os.environ,
            "OLIVE_LAB_EXIT_AFTER_FIRST_FRAME": "1",
            "OLIVE_LAB_FIRST_FRAME_STAMP": str(stamp),
        }
        for _ in range(repeats):
            began_wall, began = time.time(), time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "cli.launch", "--lab", str(lab)],
                cwd=ROOT, env=env, check=True, capture_output=True, timeout=60,
            )  # fmt: skip
            exits.append(time.perf_counter() - began)
            first_frames.append(float(stamp.read_text()) - began_wall)
    return statistics.median(first_frames), statistics.median(exits)


def write_big_dataset(path: Path, records: int = 1_000_000) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for i in range(records):
            fh.write(json.dumps({"prompt": f"Where should I go in month {i}?", "response": f"Try place {i}."}) + "\n")


async def _first_page(lab: Path) -> float:
    from engine.paths import LabPaths
    from tui.app import OliveLabApp
    from tui.screens.dataset import DatasetScreen

    app = OliveLabApp(LabPaths.at(lab), checks=lambda lab, config: [])
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        began = time.perf_counter()
        await app.switch_mode("dataset")
        screen = app.screen
        while not (isinstance(screen, DatasetScreen) and screen.rows):
            await asyncio.sleep(0.005)
            screen = app.screen
        elapsed = time.perf_counter() - began
        app.exit()
    return elapsed


def first_page_of_big_dataset(lab: Path, repeats: int = 3) -> list[float]:
    """Seconds from pressing 2 to the first page on screen, once per fresh app (`repeats` times)."""
    return [asyncio.run(_first_page(lab)) for _ in range(repeats)]


async def _steps_form(lab: Path) -> float:
    from engine.paths import LabPaths
    from tui.app import OliveLabApp
    from tui.screens.steps import StepsScreen

    app = OliveLabApp(LabPaths.at(lab), checks=lambda lab, config: [])
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        began = time.perf_counter()
        await app.switch_mode("steps")
        await pilot.pause()  # composed, mounted, checked and drawn
        assert isinstance(app.screen, StepsScreen) and app.screen.valid_config is not None
        elapsed = time.perf_counter() - began
        app.exit()
    return elapsed


def first_steps_form(lab: Path, repeats: int = 3) -> list[float]:
    """Seconds from pressing 3 to the Steps form on screen, checked, once per fresh app (`repeats` times)."""
    return [asyncio.run(_steps_form(lab)) for _ in range(repeats)]


def run(records: int = 1_000_000) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        lab = Path(tmp)
        first_frame, process_exit = start_to_first_frame(lab)
        steps_forms = first_steps_form(lab)
        write_big_dataset(lab / "big.jsonl", records)
        (lab / "lab.toml").write_text('[dataset]\npath = "big.jsonl"\n', encoding="utf-8")
        first_pages = first_page_of_big_dataset(lab)
    return {
        "start_to_first_frame_s": round(first_frame, 3),
        "start_to_exit_after_first_frame_s": round(process_exit, 3),
        "first_page_1m_s": round(statistics.median(first_pages), 3),
        "first_page_1m_worst_of_3_s": round(max(first_pages), 3),
        "steps_form_first_open_s": round(statistics.median(steps_forms), 3),
    }


if __name__ == "__main__":
    figures = run()
    for name, value in figures.items():
        print(f"{name:<34} {value:6.3f} s  (target <= {TARGET_S} s){'' if value <= TARGET_S else '  OVER'}")
