"""Every key binding of the app in one table, each with an id, so `lab.toml [keys]` can remap it.

Screens take their `BINDINGS` from here; the help screen and the command palette read the same table, so a
key shown anywhere is the key that works. Remapping is Textual's own keymap (`App.set_keymap`), keyed by the
binding ids below.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from textual.binding import Binding


@dataclass(frozen=True)
class KeySpec:
    """One remappable binding: where it applies, its default keys and what it does."""

    id: str
    scope: str
    keys: str
    action: str
    description: str
    show: bool = True
    priority: bool = False

    def binding(self) -> Binding:
        return Binding(
            self.keys,
            self.action,
            self.description,
            show=self.show,
            priority=self.priority,
            id=self.id,
            tooltip=self.description,
        )


SCOPE_TITLES: dict[str, str] = {
    "app": "Everywhere",
    "home": "Checklist",
    "dataset": "Dataset",
    "steps": "Steps",
}

KEYS: tuple[KeySpec, ...] = (
    KeySpec("app.home", "app", "1", "switch_mode('home')", "Checklist"),
    KeySpec("app.dataset", "app", "2", "switch_mode('dataset')", "Dataset"),
    KeySpec("app.steps", "app", "3", "switch_mode('steps')", "Steps"),
    KeySpec("app.monitor", "app", "4", "switch_mode('monitor')", "Monitor"),
    KeySpec("app.gpu", "app", "5", "switch_mode('gpu')", "GPU"),
    KeySpec("app.chat", "app", "6", "switch_mode('chat')", "Chat"),
    KeySpec("app.help", "app", "question_mark,f1", "help", "Keys"),
    KeySpec("app.palette", "app", "ctrl+p", "command_palette", "Palette", show=False, priority=True),
    KeySpec("app.quit", "app", "ctrl+q", "quit", "Quit", priority=True),
    KeySpec("home.run", "home", "r", "run_pipeline", "Run pipeline"),
    KeySpec("home.refresh", "home", "f5", "refresh", "Refresh"),
    KeySpec("dataset.open", "dataset", "o", "open_path", "Open file"),
    KeySpec("dataset.next_page", "dataset", "n,pagedown", "page(1)", "Next page"),
    KeySpec("dataset.prev_page", "dataset", "p,pageup", "page(-1)", "Prev page"),
    KeySpec("dataset.toggle_view", "dataset", "v", "toggle_view", "Table/record"),
    KeySpec("dataset.search", "dataset", "slash", "search", "Search"),
    KeySpec("dataset.search_next", "dataset", "ctrl+n", "search_next", "Next match", show=False),
    KeySpec("dataset.problems", "dataset", "e", "focus_problems", "Problems"),
    KeySpec("dataset.close", "dataset", "escape", "close_prompt", "Back", show=False),
    KeySpec("steps.save", "steps", "ctrl+s", "save", "Save", priority=True),
    KeySpec("steps.reset_field", "steps", "ctrl+r", "reset_field", "Reset field"),
    KeySpec("steps.restore", "steps", "ctrl+o", "restore_run", "From a run"),
    KeySpec("steps.revert", "steps", "ctrl+z", "revert", "Revert all", show=False),
    KeySpec("steps.leave_field", "steps", "escape", "leave_field", "Leave field", show=False),
)

_BY_ID: dict[str, KeySpec] = {spec.id: spec for spec in KEYS}


def bindings(scope: str) -> list[Binding]:
    """The Textual bindings of one scope (`app`, `home`, `dataset`, `steps`)."""
    return [spec.binding() for spec in KEYS if spec.scope == scope]


def unknown_ids(keymap: Mapping[str, str]) -> list[str]:
    """Binding ids in a user's `[keys]` table that name no binding (typos)."""
    return sorted(key for key in keymap if key not in _BY_ID)


def effective_keys(spec: KeySpec, keymap: Mapping[str, str]) -> str:
    """The keys that trigger `spec` once the user's remaps are applied."""
    return keymap.get(spec.id, spec.keys)


def display_keys(keys: str) -> str:
    """Keys as a person reads them: `question_mark,f1` -> `? / f1`."""
    names = {"question_mark": "?", "slash": "/", "pagedown": "PgDn", "pageup": "PgUp", "escape": "Esc"}
    return " / ".join(names.get(key.strip(), key.strip()) for key in keys.split(","))


def specs(scope: str | None = None) -> list[KeySpec]:
    return [spec for spec in KEYS if scope is None or spec.scope == scope]


KEYS_BY_ID: Mapping[str, KeySpec] = _BY_ID
