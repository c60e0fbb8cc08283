"""Typing as a user over SSH does: text lands where the cursor was when it was typed, keys in one burst.

`pilot.press` hands the app one key and waits for it to be handled; a terminal hands over everything typed
since the last read at once (a paste, a fast typist, SSH). `burst` posts the keys the same way the terminal
driver does, all queued before the first is handled.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
from textual import events
from textual.keys import _character_to_key
from textual.widgets import Input

from engine.paths import LabPaths
from tui.app import OliveLabApp
from tui.screens.confirm import ConfirmScreen
from tui.screens.help import HelpScreen


def make_app(root: Path) -> OliveLabApp:
    return OliveLabApp(LabPaths.at(root), checks=lambda lab, config: [])


def burst(app: OliveLabApp, *parts: str) -> None:
    """Queue keys as one terminal read: a part is a key name ("tab") or text typed character by character."""
    for part in parts:
        if part in ("tab", "shift+tab", "escape", "alt+1", "alt+3", "alt+6"):
            app.post_message(events.Key(part, None))
            continue
        for char in part:
            app.post_message(events.Key(char if char.isalnum() else _character_to_key(char), char))


async def test_text_typed_before_tab_stays_in_its_upload_field(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("u")
        await pilot.pause(0.3)
        subscription = app.screen.query_one("#upload-subscription_id", Input)
        subscription.focus()
        await pilot.pause()
        burst(app, "0" * 36, "tab", "rg-walk", "tab", "ws")
        await pilot.pause(0.5)
        assert subscription.value == "0" * 36
        assert app.screen.query_one("#upload-resource_group", Input).value == "rg-walk"
        assert app.screen.query_one("#upload-workspace_name", Input).value == "ws"


async def test_text_typed_before_tab_stays_in_its_steps_field(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("3")
        await pilot.pause(0.5)
        model = app.screen.query_one("#field--lab--model", Input)
        model.focus()
        await pilot.pause()
        burst(app, "microsoft/Phi-3.5-mini-instruct", "tab", "12.5", "shift+tab", "shift+tab")
        await pilot.pause(0.5)
        assert model.value == "microsoft/Phi-3.5-mini-instruct"
        assert app.screen.query_one("#field--lab--stall_minutes", Input).value == "12.5"
        assert app.screen.focused is app.screen.query_one("#field--lab--profile")


async def test_alt_digit_switches_screens_from_inside_a_field(tmp_path: Path) -> None:
    """Esc then 3 typed quickly under tmux reaches the app as alt+3 (ESC 3): it switches, it types nothing."""
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("3")
        await pilot.pause(0.5)
        model = app.screen.query_one("#field--lab--model", Input)
        model.focus()
        await pilot.pause()
        before = model.value
        burst(app, "alt+1")
        await pilot.pause(0.3)
        assert app.current_mode == "home"
        assert model.value == before


async def test_q_asks_before_quitting_outside_a_text_box_and_is_typed_inside_one(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("3")
        await pilot.pause(0.5)
        model = app.screen.query_one("#field--lab--model", Input)
        model.focus()
        await pilot.pause()
        await pilot.press("end", "q")
        await pilot.pause()
        assert model.value.endswith("q") and not isinstance(app.screen, ConfirmScreen)
        await pilot.press("backspace", "escape", "1")
        await pilot.pause(0.3)
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await pilot.pause()
        assert app.is_running and not isinstance(app.screen, ConfirmScreen)
        await pilot.press("q", "y")
        await pilot.pause()
        assert not app.is_running


@pytest.mark.pipeline
async def test_question_mark_typed_after_tabbing_round_the_chat_lands_in_a_box(demo_run: Path, tmp_path: Path) -> None:
    """Tab in Chat goes between the boxes where typing lands; `?` typed after it is text, not Help."""
    run = tmp_path / "runs" / demo_run.name
    shutil.copytree(demo_run / "optimize" / "output", run / "optimize" / "output")
    shutil.copy(demo_run / "state.json", run / "state.json")
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("6")
        screen = app.screen
        for _ in range(400):  # the demo model loads in a worker
            if not screen.query_one("#chat-adapter").disabled:
                break
            await pilot.pause(0.05)
        prompt = screen.query_one("#chat-input", Input)
        assert screen.focused is prompt
        for _ in range(3):  # prompt -> adapter -> system prompt -> prompt
            await pilot.press("tab")
        await pilot.press("question_mark")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)
        assert prompt.value == "?"


async def test_help_lists_the_keys_of_every_screen(tmp_path: Path) -> None:
    from tui.screens.compare import CompareScreen
    from tui.screens.golden import GoldenScreen
    from tui.screens.saved_chats import SavedChatsScreen
    from tui.screens.upload import UploadScreen

    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f1")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = str(app.screen.query_one("#help-text").render())
        for title in ("Upload to Azure ML", "Compare runs", "Golden check", "Saved chats"):
            assert title in text
        for screen in (UploadScreen, CompareScreen, GoldenScreen, SavedChatsScreen):
            for binding in screen.BINDINGS:
                assert f"({binding.id})" in text, binding  # type: ignore[union-attr]
        assert "ctrl+x" in text and "Cancel the upload" in text


async def test_footer_keeps_quit_and_keys_in_sight_at_80_columns(tmp_path: Path) -> None:
    from textual.widgets._footer import FooterKey

    async def footer_ends(pilot, app: OliveLabApp) -> None:  # type: ignore[no-untyped-def]
        """Quit and Keys end left of the palette key, once the screen's footer is built (slow under load)."""
        for _ in range(100):
            await pilot.pause(0.1)
            keys = list(app.screen.query(FooterKey))
            palette = [k for k in keys if k.has_class("-command-palette")]
            ends = {k.action.rpartition(".")[2]: k.region.right for k in keys}
            if palette and palette[0].region.x > 0 and ends.get("quit", 0) > 0 and ends.get("help", 0) > 0:
                break
        for action in ("quit", "help"):
            assert 0 < ends[action] <= palette[0].region.x, (app.screen, action)

    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        for mode in "123456":
            await pilot.press(mode)
            await footer_ends(pilot, app)
        await pilot.press("3")
        await pilot.pause(0.3)
        app.screen.query_one("#field--quantize--run_on").focus()  # a compute step's field adds "Run on"
        await footer_ends(pilot, app)
        await pilot.press("escape", "1", "u")
        await footer_ends(pilot, app)


async def test_esc_then_a_letter_typed_quickly_leaves_the_field_and_then_acts_as_that_letter(tmp_path: Path) -> None:
    """Esc then q typed quickly under tmux reaches the app as one sequence, ESC q (Textual: alt+q): the field
    is left and q asks before quitting, as Esc and q typed slowly do; the field gets no q."""
    from textual._xterm_parser import XTermParser

    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("3")
        await pilot.pause(0.5)
        model = app.screen.query_one("#field--lab--model", Input)
        model.focus()
        await pilot.pause()
        before = model.value
        parser = XTermParser()  # what the terminal driver reads and posts, once its escape timeout passes
        typed = list(parser.feed("\x1bq"))
        await asyncio.sleep(0.2)
        typed += parser.tick()
        assert [e.key for e in typed if isinstance(e, events.Key)] == ["alt+q"]
        for event in typed:
            app.post_message(event)
        await pilot.pause(0.3)
        assert model.value == before
        assert isinstance(app.screen, ConfirmScreen)  # q outside a text box: quit, asking first
        await pilot.press("n")
        await pilot.pause()
        assert app.screen.focused is not model
