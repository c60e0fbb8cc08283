"""The saved conversations of the lab: Enter reopens one, r renames it, d deletes it (after a y).

Reads and writes go through the engine's chat store (`list_conversations`, `load_conversation`,
`save_conversation`); this screen only lists and asks.
"""

from __future__ import annotations

import time
from pathlib import Path

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from engine.chat import ChatError, list_conversations, load_conversation, save_conversation
from engine.paths import LabPaths
from tui import keymap
from tui.widgets.field_input import FieldInput


class SavedChatsScreen(ModalScreen[Path | None]):
    """Dismisses with the path of the chat to reopen, or None."""

    DEFAULT_CSS = """
    SavedChatsScreen { align: center middle; }
    SavedChatsScreen > Vertical {
        width: 90%; max-width: 100; height: 80%; border: round $primary; background: $surface; padding: 0 1;
    }
    SavedChatsScreen OptionList { height: 1fr; }
    SavedChatsScreen #saved-name { display: none; }
    SavedChatsScreen #saved-name.-shown { display: block; }
    SavedChatsScreen #saved-note { height: auto; color: $text-muted; }
    """
    BINDINGS = keymap.bindings("saved")

    def __init__(self, lab: LabPaths) -> None:
        super().__init__()
        self.lab = lab
        self.paths: list[Path] = []
        self._deleting: Path | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="saved-body"):
            yield OptionList(id="saved-list")
            yield FieldInput(placeholder="new name, Enter keeps it", compact=True, id="saved-name")
            yield Static("Enter reopens · r renames · d deletes · Esc closes", id="saved-note")

    def on_mount(self) -> None:
        self.query_one("#saved-body").border_title = "Saved chats"
        self.refresh_list()
        self.query_one(OptionList).focus()

    def refresh_list(self) -> None:
        self.paths = list_conversations(self.lab)
        options = []
        for index, path in enumerate(self.paths):
            try:
                chat = load_conversation(path)
            except ChatError:
                options.append(Option(f"{path.name}  (cannot be read)", id=f"chat-{index}"))
                continue
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(chat.updated_at))
            answers = len(chat.turns) + len(chat.comparisons)
            options.append(Option(f"{when}  {chat.title}  ({answers} answer(s))", id=f"chat-{index}"))
        listing = self.query_one(OptionList)
        listing.set_options(options or [Option("No saved chats yet: every answered chat is kept here", id="none")])
        if options:
            listing.highlighted = 0

    def _current(self) -> Path | None:
        listing = self.query_one(OptionList)
        if listing.highlighted is None or not self.paths:
            return None
        return self.paths[listing.highlighted]

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if (event.option.id or "").startswith("chat-"):
            self.dismiss(self.paths[int((event.option.id or "").removeprefix("chat-"))])

    def action_rename(self) -> None:
        if self._current() is None:
            return
        name = self.query_one("#saved-name", Input)
        name.add_class("-shown")
        name.value = ""
        name.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        path = self._current()
        event.input.remove_class("-shown")
        self.query_one(OptionList).focus()
        if path is None or not event.value.strip():
            return
        try:
            chat = load_conversation(path)
            save_conversation(chat.model_copy(update={"name": event.value.strip()}), self.lab)
        except (ChatError, OSError) as exc:
            self.notify(str(exc), severity="error")
            return
        self.refresh_list()

    def action_delete(self) -> None:
        self._deleting = self._current()
        if self._deleting is not None:
            self.query_one("#saved-note", Static).update(
                f"Delete {self._deleting.name}? y deletes, any other key keeps it"
            )

    def action_confirm_delete(self) -> None:
        path, self._deleting = self._deleting, None
        if path is None:
            return
        for extra in (path, path.with_suffix(".md"), path.with_suffix(".jsonl")):
            extra.unlink(missing_ok=True)
        self.query_one("#saved-note", Static).update("Deleted. Enter reopens · r renames · d deletes · Esc closes")
        self.refresh_list()

    def on_key(self, event: object) -> None:
        if self._deleting is not None and getattr(event, "key", "") != "y":
            self._deleting = None
            self.query_one("#saved-note", Static).update("Enter reopens · r renames · d deletes · Esc closes")

    def action_close(self) -> None:
        self.dismiss(None)
