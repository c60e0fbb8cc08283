"""Saved chats: JSON files in the lab's chats folder, and exports as Markdown or JSONL.

The JSONL export writes one `{"prompt", "response"}` record per answered turn, the same shape as the
training data, so a good conversation can become training examples.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import ValidationError

from engine.chat.models import ChatError
from engine.chat.types import Answer, Conversation
from engine.fs import atomic_write_text, private_dir, read_limited
from engine.paths import LabPaths

ExportFormat = Literal["md", "jsonl"]


def save_conversation(conversation: Conversation, lab: LabPaths) -> Path:
    """Write the chat to `<lab>/.olive-lab/chats/<id>.json` (atomically) and return the path."""
    private_dir(lab.chats)
    path = lab.chats / f"{conversation.id}.json"
    return atomic_write_text(path, conversation.model_dump_json(indent=1), private=True)


def load_conversation(path: Path) -> Conversation:
    try:
        return Conversation.model_validate_json(read_limited(path))
    except OSError as exc:
        raise ChatError(f"{path}: cannot be read ({exc.strerror})") from exc
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise ChatError(f"{path}: not a saved chat (field {where}: {err['msg']})") from exc


def list_conversations(lab: LabPaths) -> list[Path]:
    """Saved chats, the most recently updated first (an unreadable one by its file's time)."""
    if not lab.chats.is_dir():
        return []

    def updated(path: Path) -> float:
        try:
            return float(json.loads(path.read_text(encoding="utf-8"))["updated_at"])
        except (OSError, ValueError, KeyError, TypeError):
            try:
                return path.stat().st_mtime
            except OSError:
                return 0.0

    return sorted(lab.chats.glob("*.json"), key=updated, reverse=True)


def _stats_note(answer: Answer) -> str:
    note = f"*{answer.adapter} · {answer.stats.line()}"
    return note + (" · cancelled*" if answer.finish == "cancelled" else "*")


def to_markdown(conversation: Conversation) -> str:
    lines = [f"# {conversation.title}", "", f"- Model: `{conversation.model}`"]
    lines.append(f"- Adapter: {conversation.adapter}")
    if conversation.system_prompt.strip():
        lines.append(f"- System prompt: {conversation.system_prompt.strip()}")
    lines.append("")
    for turn in conversation.turns:
        lines += ["## User", "", turn.user.strip(), ""]
        if turn.answer is not None:
            lines += ["## Assistant", "", turn.answer.text.strip(), "", _stats_note(turn.answer), ""]
    for comparison in conversation.comparisons:
        lines += ["## Compare", "", comparison.prompt.strip(), ""]
        for answer in (comparison.left, comparison.right):
            lines += [f"### {answer.adapter}", "", answer.text.strip(), "", _stats_note(answer), ""]
    return "\n".join(lines).rstrip() + "\n"


def to_jsonl(conversation: Conversation) -> str:
    records = [
        {"prompt": t.user, "response": t.answer.text.strip(), "adapter": t.answer.adapter}
        for t in conversation.turns
        if t.answer is not None and t.answer.finish != "cancelled"
    ]
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def export_conversation(conversation: Conversation, path: Path, fmt: ExportFormat | None = None) -> Path:
    """Write Markdown or JSONL (chosen by `fmt`, else by the file's suffix)."""
    fmt = fmt or ("jsonl" if path.suffix.lower() in (".jsonl", ".json") else "md")
    text = to_jsonl(conversation) if fmt == "jsonl" else to_markdown(conversation)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ChatError(f"{path}: cannot write the export ({exc.strerror})") from exc
    return path
