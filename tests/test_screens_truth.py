"""Screens that tell the truth: what each shows agrees with the run folder and fits the terminal."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fixtures.monitor_app import MonitorApp
from fixtures.runfolders import LiveRun, finished_run
from textual.pilot import Pilot
from textual.visual import Visual, visualize
from textual.widgets import Input, OptionList

from tui.screens.monitor import MonitorScreen


async def wait_for(pilot: Pilot, check: Callable[[], bool], timeout: float = 5.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if check():
            return
        await pilot.pause(0.05)
    raise AssertionError("condition not met in time")


def shown(container) -> str:
    """Each cell (Static) of `container` as drawn at its own size, its wrapped lines joined (a cut cell loses
    its end), scrolled into view or not."""
    return "\n".join("".join(line.strip() for line in drawn(w)) for w in container.query("Static"))


def drawn(widget) -> list[str]:
    """The widget's lines as drawn at its own size, scrolled into view or not."""
    visual = visualize(widget, widget.render())
    return [
        s.text for s in Visual.to_strips(widget, visual, widget.size.width, widget.size.height, widget.visual_style)
    ]


async def test_compare_fits_the_screen_and_lists_only_run_settings(tmp_path: Path) -> None:
    finished_run(tmp_path / "runs", "20251124-100000-a")
    b = finished_run(tmp_path / "runs", "20251124-110000-b", lora_r=16, fail_step="optimize")
    state = json.loads((b / "state.json").read_text())
    state["config"]["theme"] = "olive-light"  # the app's look, not a setting of the run
    state["config"]["dataset"]["path"] = "/home/someone/sets/a/long/way/down/to/my_travel_set_2026.jsonl"
    (b / "state.json").write_text(json.dumps(state))
    for size in ((120, 40), (80, 24)):
        await look_at_compare(tmp_path, size)


async def look_at_compare(lab: Path, size: tuple[int, int]) -> None:
    from tui.screens.compare import CompareScreen

    app = MonitorApp(lab)
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, MonitorScreen) and app.screen.state is not None)
        await pilot.press("d", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen) and app.screen.comparison is not None)
        settings = app.screen.query_one("#cmp-settings")
        steps = app.screen.query_one("#cmp-steps")
        try:  # the cells' heights follow their wrapped lines after a layout pass
            await wait_for(pilot, lambda: "2026.jsonl" in shown(settings), timeout=3)
        except AssertionError:
            pass  # judged below
        assert settings.region.right <= size[0] and steps.region.right <= size[0]
        settings_text, steps_text = shown(settings), shown(steps)
        assert "/home/someone/sets/a/long/way/down/to/my_travel_set_2026.jsonl" in settings_text
        assert "data/travel.jsonl" in settings_text  # both values whole
        assert "theme" not in settings_text and "olive-light" not in settings_text
        assert "CUDAoutofmemorywhiletrainingtheadapter" in "".join(steps_text.split())  # wrapped, not cut


async def test_gpu_screen_history_is_drawn_on_a_fixed_scale() -> None:
    """1 % CPU and a quarter of the RAM draw low bars, not full ones (a series is not stretched to its own
    minimum and maximum)."""
    from dataclasses import replace

    from tests.gpu_screen_app import GpuReplayApp, recorded_samples

    samples = []
    for i, sample in enumerate(recorded_samples()[:12]):
        host = replace(sample.host, cpu_pct=1.0 + (i % 2), ram_total_mib=64000.0, ram_used_mib=16000.0 + 10 * i)
        samples.append(replace(sample, host=host))
    app = GpuReplayApp(samples)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.3)
        cpu = app.screen.query_one("#host-cpu").children[-1]
        ram = app.screen.query_one("#host-ram").children[-1]
        cpu_bars, ram_bars = "".join(drawn(cpu)), "".join(drawn(ram))
        assert cpu_bars.strip() and set(cpu_bars.strip()) == {"▁"}
        assert ram_bars.strip() and set(ram_bars.strip()) <= {"▂", "▃"}  # a quarter of the total


async def test_the_monitor_progress_agrees_with_the_latest_loss_step(tmp_path: Path, stand_in_supervisor: int) -> None:
    live = LiveRun(tmp_path / "runs", pid=stand_in_supervisor)
    live.start_step("finetune")
    live.event("progress", step="finetune", n=0, total=30, rate=None, eta_s=None, desc="")  # the bar's first draw
    for i in range(7):  # the bar's redraws were throttled away; the loss lines were not
        live.event("loss", step="finetune", train_step=i + 1, loss=3.0 - 0.1 * i, learning_rate=1e-3)
    app = MonitorApp(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, MonitorScreen) and app.screen.state is not None)
        await wait_for(pilot, lambda: "at step 7" in str(app.screen.query_one("#mon-progress").render()))
        progress = str(app.screen.query_one("#mon-progress").render())
        assert "7/30 (23%)" in progress and "0/30" not in progress


async def test_saved_chats_are_listed_newest_first_and_open_to_read_without_a_model(tmp_path: Path) -> None:
    from textual.app import App

    from engine.chat import Answer, AnswerStats, Conversation, Turn, save_conversation
    from engine.paths import LabPaths
    from tui.screens.chat import ChatScreen
    from tui.screens.saved_chats import SavedChatsScreen
    from tui.widgets.chat_view import AnswerBox

    lab = LabPaths.at(tmp_path)
    stats = AnswerStats(prompt_tokens=5, answer_tokens=2, total_s=0.1)
    old = Conversation(
        id="20260102-090000-000",
        name="Older",
        updated_at=1_000.0,
        turns=[Turn(user="Where in May?", answer=Answer(text="Lisbon.", adapter="travel", stats=stats))],
    )
    new = Conversation(
        id="20260101-080000-000",
        name="Newer",
        updated_at=2_000.0,  # started earlier, used later
        turns=[Turn(user="Where in June?", answer=Answer(text="Oslo.", adapter="travel", stats=stats))],
    )
    for chat in (old, new):
        save_conversation(chat, lab)

    class ChatApp(App[None]):
        def __init__(self) -> None:
            super().__init__()
            self.lab = lab

        def on_mount(self) -> None:
            self.push_screen(ChatScreen(device="cpu"))

    app = ChatApp()
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.has_class("-empty"))
        chat_screen = app.screen
        await pilot.press("ctrl+l")
        await wait_for(pilot, lambda: isinstance(app.screen, SavedChatsScreen))
        listing = app.screen.query_one("#saved-list", OptionList)
        assert "Newer" in str(listing.get_option_at_index(0).prompt)
        assert "Older" in str(listing.get_option_at_index(1).prompt)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen is chat_screen and bool(chat_screen.query(AnswerBox)))
        log = chat_screen.query_one("#chat-log")
        await wait_for(pilot, lambda: log.display)  # shown in place of "no model"
        assert "read-only" in str(log.border_title)
        assert "Where in June?" in " ".join(str(w.render()) for w in log.query("*") if hasattr(w, "render"))


async def test_upload_says_what_is_missing_in_the_forms_words_where_it_shows_and_keeps_the_last_attempt(
    lab_with_run, tmp_path: Path, monkeypatch
) -> None:
    from engine.config import build_config
    from engine.paths import LabPaths
    from engine.runs.state import write_state
    from tests.helpers import fixed_checks, new_run_folder
    from tui.app import OliveLabApp
    from tui.screens.upload import UploadScreen

    monkeypatch.setenv("AZURE_CONFIG_DIR", str(tmp_path / "no-az"))  # no az defaults fill the workspace in
    lab, _run = lab_with_run
    app = OliveLabApp(LabPaths.at(lab), checks=fixed_checks)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("u")
        await wait_for(pilot, lambda: isinstance(app.screen, UploadScreen))
        await pilot.press("ctrl+s")
        result = app.screen.query_one("#upload-result")
        await wait_for(pilot, lambda: "Not sent" in str(result.render()), timeout=20)
        await pilot.pause(0.3)
        text = str(result.render())
        assert 'the "Subscription" field' in text and "--subscription" not in text
        assert result.region.height >= 1 and 0 <= result.region.y  # drawn, not only held
        assert result.region.bottom <= 24 - 1  # on screen, above the footer
        await pilot.press("escape")

    # an upload that ran and failed: coming back shows it
    paths = LabPaths.at(lab)
    upload_dir = paths.run_dir("20991231-235959")
    upload_dir.mkdir(parents=True)
    state, _ = new_run_folder(paths, upload_dir, build_config("demo"), only=["register"])
    step = state.step("register")
    step.status, step.reason, step.started_at, step.ended_at = (
        "failed",
        "cannot reach login.microsoftonline.com",
        1.0,
        2.0,
    )
    state.status, state.reason, state.ended_at = "failed", step.reason, 2.0
    write_state(upload_dir, state)
    app = OliveLabApp(paths, checks=fixed_checks)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("u")
        await wait_for(pilot, lambda: isinstance(app.screen, UploadScreen))
        result = app.screen.query_one("#upload-result")
        await wait_for(pilot, lambda: "failed" in str(result.render()), timeout=5)
        await pilot.pause(0.1)
        assert result.region.height >= 1  # drawn, not only held
        assert "20991231-235959" in str(result.render()) and "cannot reach login.microsoftonline.com" in str(
            result.render()
        )


async def test_upload_shows_the_device_code_the_register_step_asks_for(
    lab_with_run, capsys, stand_in_supervisor: int
) -> None:
    """The register step prints the device code (azure-identity's prompt callback, engine/azure/auth.py);
    the run records it as a typed event and the upload screen shows it."""
    from engine.azure.auth import DeviceCode
    from engine.config import build_config
    from engine.paths import LabPaths
    from engine.runs.events import EventWriter
    from engine.runs.state import StepState, write_state
    from engine.runs.stepproc import to_event
    from engine.steps.logparse import LogParser
    from engine.steps.register import log
    from tests.helpers import fixed_checks, new_run_folder
    from tui.app import OliveLabApp
    from tui.screens.upload import UploadScreen

    lab, _run = lab_with_run
    paths = LabPaths.at(lab)
    upload_dir = paths.run_dir("20991231-235959")
    upload_dir.mkdir(parents=True)
    state, _ = new_run_folder(paths, upload_dir, build_config("demo"), only=["register"])
    state.status, state.supervisor_pid, state.started_at = "running", stand_in_supervisor, 1.0
    step = state.step("register")
    step.status, step.started_at = "running", 1.0
    write_state(upload_dir, state)
    expires = datetime.now(UTC) + timedelta(minutes=15)
    asked = DeviceCode(
        url="https://microsoft.com/devicelogin", code="FGH7JKL2M", expires_at=expires, unencrypted_cache=True
    )
    log(asked.sentence(), "WARNING")  # as the step does
    printed = capsys.readouterr().out
    writer = EventWriter(upload_dir)
    for parsed in LogParser().feed(printed):
        found = to_event(StepState(name="register"), parsed, {}, 1)
        if found is not None:
            writer.write(found)
    writer.close()
    app = OliveLabApp(paths, checks=fixed_checks)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("u")
        await wait_for(pilot, lambda: isinstance(app.screen, UploadScreen))
        signin = app.screen.query_one("#upload-signin")
        await wait_for(pilot, lambda: "FGH7JKL2M" in str(signin.render()), timeout=5)
        assert "https://microsoft.com/devicelogin" in str(signin.render())
        # until when the code works and where the sign-in will be kept, as the step said them
        until = expires.astimezone().strftime("%H:%M")
        assert f"(before {until})" in str(signin.render()) and "no keyring" in str(signin.render())
    # the monitor shows the same line, once, while the step waits on it
    from engine.runs.state import read_state
    from engine.runs.watch import RunDigest
    from tui.widgets.run_text import progress_text

    shown = progress_text(read_state(upload_dir), RunDigest.of_run(upload_dir), time.time())
    assert shown.count("FGH7JKL2M") == 1 and f"(before {until})" in shown and "no keyring" in shown


async def test_an_upload_with_no_sign_in_and_no_network_shows_a_network_failure_on_screen(
    lab_with_run, tmp_path: Path, monkeypatch
) -> None:
    """No service principal, no `az`, no network: the register run fails in seconds, and its reason is drawn
    at the top of the Upload screen (it used to be held by a box that was never displayed). A proxy that
    refuses every connection stands in for the network, so no real host is contacted."""
    import os
    import sys

    from engine.config import load_config
    from engine.paths import LabPaths
    from tui.app import OliveLabApp
    from tui.screens.confirm import ConfirmScreen
    from tui.screens.upload import UploadScreen

    lab, _run = lab_with_run
    (lab / "lab.toml").write_text('[azure]\nsubscription_id = "00000000-0000-0000-0000-000000000000"\n'
                                  'resource_group = "rg-walk"\nworkspace_name = "walk-ws"\n')  # fmt: skip
    (tmp_path / "bin").mkdir()  # a PATH without the Azure CLI
    for name in [k for k in os.environ if k.startswith(("AZURE_", "IDENTITY_", "MSI_"))]:
        monkeypatch.delenv(name)
    refused = "http://127.0.0.1:9"
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.setenv("AZURE_CONFIG_DIR", str(tmp_path / "no-az"))
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"):
        monkeypatch.setenv(name, refused)
    monkeypatch.setenv("NO_PROXY", "")
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parent.parent))
    assert Path(sys.executable).is_absolute()
    paths = LabPaths.at(lab)
    app = OliveLabApp(paths, checks=lambda lab, config: [])
    assert load_config(paths).azure.workspace_name == "walk-ws"
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("u")
        await wait_for(pilot, lambda: isinstance(app.screen, UploadScreen))
        upload = app.screen
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), timeout=20)
        await pilot.press("y")
        result = upload.query_one("#upload-result")
        await wait_for(pilot, lambda: app.screen is upload and "Upload failed" in str(result.render()), timeout=60)
        await pilot.pause(0.1)
        text = str(result.render())
        assert result.region.height >= 1 and 0 <= result.region.y and result.region.bottom <= 40 - 1  # drawn
        assert "not signed in" not in text.lower(), text
        assert "cannot reach" in text and "check the connection" in text, text


async def test_the_upload_screen_follows_a_long_upload_and_stays_responsive(
    lab_with_run, stand_in_supervisor: int
) -> None:
    """An upload with a long event log (100,000 progress events): the screen follows it through the one
    follower in a worker, reading only what was added, so typing in the form stays quick; a device code the
    step asks for later and the run's end still show (it used to re-read state and every event on the UI
    thread every half second)."""
    from engine.config import build_config
    from engine.paths import LabPaths
    from engine.runs.state import Progress, write_state
    from tests.helpers import fixed_checks, new_run_folder
    from tui.app import OliveLabApp
    from tui.screens.upload import UploadScreen

    lab, _run = lab_with_run
    paths = LabPaths.at(lab)
    upload_dir = paths.run_dir("20991231-235959")
    upload_dir.mkdir(parents=True)
    state, _ = new_run_folder(paths, upload_dir, build_config("demo"), only=["register"])
    state.status, state.supervisor_pid, state.started_at = "running", stand_in_supervisor, 1.0
    step = state.step("register")
    step.status, step.started_at, step.progress = "running", 1.0, Progress(n=40, total=100)
    write_state(upload_dir, state)
    with open(upload_dir / "events.jsonl", "a", encoding="utf-8") as fh:
        for i in range(100_000):
            fh.write(
                json.dumps({"t": 1.0 + i, "kind": "progress", "step": "register", "n": i % 100, "total": 100}) + "\n"
            )
    app = OliveLabApp(paths, checks=fixed_checks)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("u")
        await wait_for(pilot, lambda: isinstance(app.screen, UploadScreen))
        progress, signin = app.screen.query_one("#upload-progress"), app.screen.query_one("#upload-signin")
        await wait_for(pilot, lambda: "40/100 MiB (40%)" in str(progress.render()), timeout=30)
        await pilot.pause(3)  # the whole log has been read once by now
        name = app.screen.query_one("#upload-name", Input)
        name.focus()
        started = time.monotonic()
        await pilot.press(*"travel")
        typing = time.monotonic() - started
        assert name.value.endswith("travel") and typing < 3.0, f"typing 6 keys took {typing:.1f} s"
        with open(upload_dir / "events.jsonl", "a", encoding="utf-8") as fh:
            fh.write(
                json.dumps(
                    {
                        "t": 2e5,
                        "kind": "sign_in_code",
                        "step": "register",
                        "url": "https://microsoft.com/devicelogin",
                        "code": "QRS4TUV5W",
                    }
                )
                + "\n"
            )
        await wait_for(pilot, lambda: "QRS4TUV5W" in str(signin.render()), timeout=5)
        step.status, step.reason, step.ended_at = "failed", "the sign-in was declined", 3.0
        state.status, state.reason, state.ended_at = "failed", step.reason, 3.0
        write_state(upload_dir, state)
        result = app.screen.query_one("#upload-result")
        await wait_for(
            pilot,
            lambda: "Upload failed (run 20991231-235959): the sign-in was declined" in str(result.render()),
            timeout=5,
        )
