"""At start the app takes up again the Azure ML jobs that went on with no poller, in a worker: it says which
runs it follows again, and a failure goes to the app log, never in the user's way."""

from __future__ import annotations

from pathlib import Path

from engine.paths import LabPaths
from tui.app import OliveLabApp


async def test_the_app_resumes_polling_and_says_so(tmp_path: Path) -> None:
    lab = LabPaths.at(tmp_path)
    lab.runs.mkdir(parents=True)
    seen: list[Path] = []

    def resume(lab: LabPaths) -> list[str]:
        seen.append(lab.root)
        return ["20251124-170000-demo"]

    app = OliveLabApp(lab, checks=lambda lab, config: [], resume=resume)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await pilot.pause(0.2)
        await app.workers.wait_for_complete()
        await pilot.pause(0.1)
        assert seen == [tmp_path]
        assert any(
            n.message == "polling the Azure ML job of run 20251124-170000-demo again" for n in app._notifications
        )


async def test_a_failed_resume_is_only_logged(tmp_path: Path) -> None:
    lab = LabPaths.at(tmp_path)
    lab.runs.mkdir(parents=True)

    def resume(lab: LabPaths) -> list[str]:
        raise OSError("the disk went away")

    app = OliveLabApp(lab, checks=lambda lab, config: [], resume=resume)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await pilot.pause(0.2)
        await app.workers.wait_for_complete()
        await pilot.pause(0.1)
        assert not any("disk" in n.message or n.severity == "error" for n in app._notifications)
    assert "resuming the pollers of Azure ML jobs failed" in lab.app_log.read_text()
