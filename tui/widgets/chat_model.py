"""The chat's model loading: a worker that finds the model to talk to and loads it off the UI thread.

A widget that is not drawn; the result bubbles on to the chat screen as `ChatModelLoaded` or `ChatModelMissing`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from textual import work
from textual.widget import Widget

from engine.chat import ChatModel, describe_model
from engine.errors import OliveLabError
from engine.paths import LabPaths
from engine.runs.models import model_at, pick_model
from tui.messages import ChatModelLoaded, ChatModelMissing

if TYPE_CHECKING:
    from engine.chat import Device


class ModelLoader(Widget):
    """Not drawn: loads `model_dir` (a model or run folder), else the lab's newest finished model (a sweep: its
    best branch), picked by engine.runs.models as `olive-lab chat` picks it."""

    DEFAULT_CSS = "ModelLoader { display: none; }"

    @work(thread=True, exclusive=True, group="chat-load", exit_on_error=False, name="load chat model")
    def load(self, lab: LabPaths, model_dir: Path | None, device: Device, empty: str) -> None:
        """`empty` is what to say when the lab has no model and none was named."""
        try:
            info = describe_model(model_at(model_dir) if model_dir else pick_model(lab).model_dir)
        except OliveLabError as exc:
            self.post_message(ChatModelMissing(empty if model_dir is None else exc.full()))
            return
        try:
            model = ChatModel(info, lab=lab, device=device)
        except OliveLabError as exc:
            self.post_message(ChatModelMissing(str(exc)))
            return
        self.post_message(ChatModelLoaded(model, model.notice))
