"""The yes/no question: only keys pressed once it is there answer it."""

from __future__ import annotations

from textual import events
from textual.app import App
from textual.widgets import Static

from tui.screens.confirm import ConfirmScreen


class _Asker(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.answers: list[bool | None] = []

    def compose(self):  # type: ignore[no-untyped-def]
        yield Static("below")

    def ask(self) -> ConfirmScreen:
        screen = ConfirmScreen("Save and run?", yes="Save and run", no="Don't save")
        self.push_screen(screen, self.answers.append)
        return screen


async def test_keys_typed_before_the_question_appeared_do_not_answer_it() -> None:
    app = _Asker()
    async with app.run_test() as pilot:
        typed_ahead = [events.Key(k, k if len(k) == 1 else None) for k in ("y", "enter")]  # made before it opened
        screen = app.ask()
        await pilot.pause()
        for key in typed_ahead:
            app.post_message(key)
        await pilot.pause(0.2)
        assert app.answers == [] and app.screen is screen  # still asking
        await pilot.press("y")  # pressed while the question is shown
        await pilot.pause()
        assert app.answers == [True]
