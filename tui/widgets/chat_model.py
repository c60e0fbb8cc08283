"""The chat's model loading: a worker that finds the model to talk to and loads it off the UI thread.

A widget that is not drawn; the result bubbles on to the chat screen as `ChatModelLoaded` or `ChatModelMissing`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from textual import work
from textual.widget import Widget

from engine.chat import ChatError, ChatModel, default_model, resolve_model
from engine.paths import LabPaths
from engine.runs import models
from tui.messages import ChatModelLoaded, ChatModelMissing

if TYPE_CHECKING:
    from engine.chat import Device


class ModelLoader(Widget):
    """Not drawn: loads `model_dir` (else the lab's newest finished model; a sweep: its best branch)."""

    DEFAULT_CSS = "ModelLoader { display: none; }"

    @work(thread=True, exclusive=True, group="chat-load", exit_on_error=False, name="load chat model")
    def load(self, lab: LabPaths, model_dir: Path | None, device: Device, empty: str) -> None:
        """`empty` is what to say when the lab has no model and none was named."""
        wanted = model_dir or getattr(models.default_model(lab), "model_dir", None)
        try:
            info = resolve_model(lab, wanted) if wanted else default_model(lab)
        except ChatError as exc:
            self.post_message(ChatModelMissing(empty if model_dir is None else str(exc)))
            return
        try:
            model = ChatModel(info, lab=lab, device=device)
        except ChatError as exc:
            self.post_message(ChatModelMissing(str(exc)))
            return
        self.post_message(ChatModelLoaded(model, model.notice))
