"""The chat playground's engine, in one import: models, adapters, sessions, saved chats.

    from engine.chat import ChatModel, ChatSession, describe_model

The parts live in `chat_models` (finding models, adapters, the all-zero base adapter), `chat_runtime`
(onnxruntime-genai, streaming), `chat_prompt` (a turn's prompt, trimmed to the context), `chat_session`
(multi-turn history), `chat_store` (save and export) and `chat_types` (the data). Nothing here imports
onnxruntime-genai until a model is loaded.
"""

from __future__ import annotations

from engine.chat.models import (
    BASE_ADAPTER,
    AdapterInfo,
    ChatError,
    ModelInfo,
    describe_model,
    find_models,
    is_model_dir,
)
from engine.chat.runtime import AnswerStream, ChatModel
from engine.chat.session import ChatSession
from engine.chat.store import (
    export_conversation,
    list_conversations,
    load_conversation,
    save_conversation,
    to_jsonl,
    to_markdown,
)
from engine.chat.types import Answer, AnswerStats, Comparison, Conversation, Device, SamplingOptions, Turn

__all__ = [
    "BASE_ADAPTER",
    "AdapterInfo",
    "Answer",
    "AnswerStats",
    "AnswerStream",
    "ChatError",
    "ChatModel",
    "ChatSession",
    "Comparison",
    "Conversation",
    "Device",
    "ModelInfo",
    "SamplingOptions",
    "Turn",
    "describe_model",
    "export_conversation",
    "find_models",
    "is_model_dir",
    "list_conversations",
    "load_conversation",
    "save_conversation",
    "to_jsonl",
    "to_markdown",
]
