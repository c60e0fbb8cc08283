"""What the chat screen offers for the state of its model, and what it says when it has none.

A key that cannot do anything now is not offered: with no model loaded (no run has built an ONNX model yet,
or its folder was removed) the footer shows neither Stop nor Again nor Save, and the palette says such an
action is not available instead of running it (`ChatScreen.check_action`, refreshed whenever the model
loads or goes). The texts of the empty screen live here too, beside the rule that hides the keys.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tui.widgets.chat_dialogs import NOT_LOADED

if TYPE_CHECKING:
    from engine.chat import ChatSession

DEMO_NOTE = (
    "This is the demo model: a tiny model trained for seconds on the bundled set, so its answers are "
    "gibberish. That is expected: it shows the pipeline works end to end. The phi35 profile gives real answers."
)
EMPTY_STATE = "No optimized model yet: run the pipeline first (press 1 for the Checklist, then r)"
NONE_LEFT = "no model left: run the pipeline (1 for the Checklist, then r)"

NEEDS_MODEL = frozenset(
    {"regenerate", "edit_last", "save", "new_chat", "toggle_compare", "sampling", "golden_check", "export_model"}
)
"""The screen's actions that work on the conversation with a loaded model (its `action_*` names)."""


def offered(action: str, *, loaded: bool, in_prompt: bool) -> bool:
    """Whether the screen offers `action` now: `loaded` a model is loaded, `in_prompt` the prompt has the focus
    (a saved chat reopened to read shows it with no model). Esc stops an answer or an edit, or leaves the
    prompt: with no model and no prompt in focus it has nothing to stop."""
    if action == "stop":
        return loaded or in_prompt
    return loaded or action not in NEEDS_MODEL


def not_ready(session: ChatSession | None, *, busy: bool, asked: bool, what: str) -> str | None:
    """Why `what` (regenerate, edit) cannot be done now, or None when it can."""
    if session is None:
        return NOT_LOADED
    if busy:
        return f"Still answering: Esc stops it, then {what}"
    if not asked:
        return "Nothing asked yet"
    return None
