"""The upload screen driven by keys: opened from the checklist (u) and the palette ("azure"), the form
from the last use, the confirmation with the az command, live progress and the result, against the fake
control plane and Azurite; the captured screen and everything written are scanned for secrets."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input

from engine.config import load_config
from engine.paths import LabPaths
from tests.azure_helpers import ACCOUNT_KEY, RG, SUB, WS, container_client
from tests.fakes.azure_ml import BEARER_TOKEN
from tests.helpers import fixed_checks
from tui.app import OliveLabApp
from tui.screens.confirm import ConfirmScreen
from tui.screens.upload import UploadScreen

pytestmark = pytest.mark.azure


def screen_text(app) -> str:
    return "\n".join(str(w.render()) for w in app.screen.query("Static, Input, Label, Select"))


async def until(pilot, condition, timeout: float = 90.0) -> None:
    for _ in range(int(timeout / 0.1)):
        if condition():
            return
        await pilot.pause(0.1)
    raise AssertionError("the upload screen did not get there in time")


async def test_upload_screen_by_keys(lab_with_run, fake_cloud) -> None:
    lab, run_dir = lab_with_run
    az, _spec = fake_cloud
    (lab / "lab.toml").write_text(
        f'profile = "demo"\n[registration]\nname = "ft-for-travel"\nversion = "7"\n'
        f'[azure]\nsubscription_id = "{SUB}"\nresource_group = "{RG}"\nworkspace_name = "{WS}"\n'
    )
    app = OliveLabApp(LabPaths.at(lab), checks=fixed_checks)
    async with app.run_test(size=(120, 45)) as pilot:
        await pilot.press("u")
        await until(pilot, lambda: isinstance(app.screen, UploadScreen))
        screen = app.screen
        assert screen.query_one("#upload-version", Input).value == "7"  # the last use
        assert run_dir.name in screen_text(app) and "model.onnx.data" in screen_text(app)
        await pilot.press("escape")
        # the palette finds it by "azure"
        await pilot.press("ctrl+p")
        await pilot.pause(0.3)
        for ch in "azure":
            await pilot.press(ch)
        await pilot.pause(0.5)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, UploadScreen))
        screen = app.screen
        version = screen.query_one("#upload-version", Input)
        version.value = "1"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        question = str(app.screen.query_one("#confirm-question").render())
        assert "az ml model create --name ft-for-travel --version 1" in question
        await pilot.press("y")
        await until(pilot, lambda: "Registered ft-for-travel version 1" in screen_text(app))
        text = screen_text(app)
        assert "ml.azure.com/model/ft-for-travel:1" in text and "upload: done" in text
        assert load_config(LabPaths.at(lab)).registration.version == "1"  # the next default
    assert len(list(container_client(az).list_blobs(name_starts_with="LocalUpload/"))) == 6
    written = "\n".join(
        p.read_text(errors="replace") for p in Path(lab).rglob("*") if p.is_file() and p.stat().st_size < 2**20
    )
    for secret in (BEARER_TOKEN, ACCOUNT_KEY):
        assert secret not in text and secret not in written


async def test_an_upload_the_form_refuses_is_not_sent_and_says_which_field(lab_with_run, monkeypatch) -> None:
    """A name Azure ML would refuse, then no workspace: each time the screen says what and in which field,
    asks nothing and sends nothing; the form keeps what was typed."""
    lab, _run_dir = lab_with_run
    for var in ("AZURE_SUBSCRIPTION_ID", "AZURE_RESOURCE_GROUP", "AZUREML_WORKSPACE_NAME"):
        monkeypatch.delenv(var, raising=False)
    (lab / "lab.toml").write_text('profile = "demo"\n[registration]\nname = "ft-for-travel"\nversion = "7"\n')
    app = OliveLabApp(LabPaths.at(lab), checks=fixed_checks)
    async with app.run_test(size=(120, 45)) as pilot:
        await pilot.press("u")
        await until(pilot, lambda: isinstance(app.screen, UploadScreen))
        screen = app.screen
        assert isinstance(screen, UploadScreen)

        def said() -> str:
            return _said(screen)

        runs_before = sorted(p.name for p in (lab / "runs").iterdir())
        screen.query_one("#upload-name", Input).value = "ft for travel"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: "Not sent" in said(), timeout=10)
        assert "model name 'ft for travel' is not allowed in Azure ML" in said()
        screen.query_one("#upload-name", Input).value = "ft-for-travel"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: "no workspace name given" in said(), timeout=10)
        assert said().startswith("Not sent: ") and 'the "Workspace / project" field' in said()
        assert "--workspace" not in said()  # the form's words, not the command line's
        assert isinstance(app.screen, UploadScreen)  # nothing was asked
        assert screen.query_one("#upload-name", Input).value == "ft-for-travel"
        assert sorted(p.name for p in (lab / "runs").iterdir()) == runs_before  # nothing was started


def _said(screen: UploadScreen) -> str:
    return str(screen.query_one("#upload-result").render())
