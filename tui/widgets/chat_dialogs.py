"""The chat's dialogs and files: sampling settings, saved chats, the model to talk to, the golden check, saving
and exporting.

A widget that is not drawn: the chat screen hands it the session shown (or none) and gets back what the user
chose as messages (`SamplingChosen`, `SavedChatChosen`, `ModelChosen`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textual.message import Message
from textual.widget import Widget

from engine.chat import (
    ChatError,
    ChatSession,
    Conversation,
    export_conversation,
    load_conversation,
    save_conversation,
)
from engine.paths import LabPaths

NOT_LOADED = "The model is not loaded yet"


class ChatDialogs(Widget):
    """Not drawn: the chat's modal dialogs and its files, each given the session it is about."""

    DEFAULT_CSS = "ChatDialogs { display: none; }"

    class SamplingChosen(Message):
        """New sampling settings are in the session."""

    @dataclass
    class SavedChatChosen(Message):
        conversation: Conversation

    @dataclass
    class ModelChosen(Message):
        model_dir: Path

    def __init__(self, lab: LabPaths) -> None:
        super().__init__()
        self.lab = lab

    def sampling(self, session: ChatSession | None) -> None:
        """Temperature, top-p, top-k and answer length in a small form; kept with the conversation."""
        if session is None:
            self.notify(NOT_LOADED, severity="warning")
            return
        from tui.screens.sampling import SamplingScreen

        def chosen(options: Any) -> None:
            if options is not None:
                session.set_options(options)
                self.post_message(self.SamplingChosen())

        self.app.push_screen(SamplingScreen(session.options), chosen)

    def saved_chats(self) -> None:
        """The saved conversations: Enter reopens one, r renames, d deletes."""
        from tui.screens.saved_chats import SavedChatsScreen

        def chosen(path: Any) -> None:
            if path is None:
                return
            try:
                conversation = load_conversation(path)
            except ChatError as exc:
                self.notify(str(exc), severity="error")
                return
            self.post_message(self.SavedChatChosen(conversation))

        self.app.push_screen(SavedChatsScreen(self.lab), chosen)

    def pick_model(self, current: Path | None) -> None:
        """Any finished model of the lab: a run's, or one branch's of a sweep (the best marked)."""
        from tui.widgets.model_picker import ModelPicker

        def chosen(model: Any) -> None:
            if model is not None:
                self.post_message(self.ModelChosen(model.model_dir))

        self.app.push_screen(ModelPicker(self.lab, title="Talk to which model?", current=current), chosen)

    def save(self, session: ChatSession | None) -> None:
        if session is None:
            return
        conversation = session.conversation
        try:
            saved = save_conversation(conversation, self.lab)
            export_conversation(conversation, saved.with_suffix(".md"), "md")
            export_conversation(conversation, saved.with_suffix(".jsonl"), "jsonl")
        except (ChatError, OSError) as exc:
            self.notify(str(exc), title="Not saved", severity="error")
            return
        self.notify(f"Saved {saved} (and .md, .jsonl beside it)", title="Chat saved and exported")

    def golden_check(self, session: ChatSession | None, busy: bool) -> None:
        """Base model vs adapter on the shown run's held-back examples (ROUGE-L), in a modal."""
        if session is None:
            self.notify(NOT_LOADED, severity="warning")
            return
        if busy:
            self.notify("Still answering: Esc stops it, then run the golden check", severity="warning")
            return
        run_dir = session.model.info.run_dir
        if run_dir is None:
            self.notify("The golden check needs a run's held-back data; this model is not from a run",
                        severity="warning")  # fmt: skip
            return
        from tui.screens.golden import GoldenScreen

        self.app.push_screen(GoldenScreen(session.model, run_dir))

    def export_model(self, session: ChatSession | None) -> None:
        """The model being talked to, exported with its model card."""
        from engine.runs.models import finished_models
        from tui.screens.export import ExportScreen

        path = session.model.info.path if session is not None else None
        model = next((m for m in finished_models(self.lab) if m.model_dir == path), None)
        if model is None:
            self.notify("No finished run's model is loaded to export (F3 picks one)", severity="warning")
            return
        self.app.push_screen(ExportScreen(self.lab, model))
