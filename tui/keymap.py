"""Every key binding of the app in one table, each with an id, so `lab.toml [keys]` can remap it.

Screens take their `BINDINGS` from here; the help screen and the command palette read the same table, so a
key shown anywhere is the key that works. Remapping is Textual's own keymap (`App.set_keymap`), keyed by the
binding ids below.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from textual.binding import Binding, BindingType


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
    short: str = ""
    """The footer's label when `description` is too long for 80 columns."""

    def binding(self) -> Binding:
        return Binding(
            self.keys,
            self.action,
            self.short or self.description,
            show=self.show,
            priority=self.priority,
            id=self.id,
            tooltip=self.description,
        )


MODE_TITLES: dict[str, str] = {
    "home": "Checklist",
    "dataset": "Dataset",
    "steps": "Steps",
    "monitor": "Monitor",
    "gpu": "GPU",
    "chat": "Chat",
}
"""The app's screens reached with 1-6 (and alt+1-6), in that order."""

SCOPE_TITLES: dict[str, str] = {
    "app": "Everywhere",
    **MODE_TITLES,  # the six screens, titled once
    "upload": "Upload to Azure ML",
    "compare": "Compare runs",
    "golden": "Golden check",
    "saved": "Saved chats",
    "sweep": "Sweep",
    "export": "Export",
}
SUB_SCOPES = ("upload", "compare", "golden", "saved", "sweep", "export")
"""Scopes of screens opened from a mode's screen: their keys work there only (the palette leaves them out)."""

KEYS: tuple[KeySpec, ...] = (
    KeySpec("app.home", "app", "1", "switch_mode('home')", "Checklist", show=False),
    KeySpec("app.dataset", "app", "2", "switch_mode('dataset')", "Dataset", show=False),
    KeySpec("app.steps", "app", "3", "switch_mode('steps')", "Steps", show=False),
    KeySpec("app.monitor", "app", "4", "switch_mode('monitor')", "Monitor", show=False),
    KeySpec("app.gpu", "app", "5", "switch_mode('gpu')", "GPU", show=False),
    KeySpec("app.chat", "app", "6", "switch_mode('chat')", "Chat", show=False),
    *(
        KeySpec(
            f"app.{mode}_alt",
            "app",
            f"alt+{n}",
            f"go('{mode}')",
            f"{title}, from a text box too",
            show=False,
            priority=True,
        )
        for n, (mode, title) in enumerate(MODE_TITLES.items(), start=1)
    ),
    KeySpec("app.focus_next", "app", "tab", "focus_next", "Next field", show=False, priority=True),
    KeySpec("app.focus_previous", "app", "shift+tab", "focus_previous", "Previous field", show=False, priority=True),
    KeySpec(
        "app.help", "app", "f1,question_mark", "help", "This list of keys (? works outside a text box)", short="Keys"
    ),
    KeySpec("app.palette", "app", "ctrl+p", "command_palette", "Palette", show=False, priority=True),
    KeySpec(
        "app.quit",
        "app",
        "ctrl+q",
        "quit",
        "Quit (asks first when a run is going or edits are unsaved)",
        short="Quit",
        priority=True,
    ),
    KeySpec("app.quit_ask", "app", "q", "quit(True)", "Quit, always asking first (not inside a text box)", show=False),
    KeySpec("app.notifications", "app", "f2", "notifications", "Notification history", short="Notes", show=False),
    KeySpec("home.run", "home", "r", "run_pipeline", "Run pipeline"),
    KeySpec("home.refresh", "home", "f5", "refresh", "Refresh"),
    KeySpec("home.upload", "home", "u", "open_upload", "Upload to Azure ML", short="Upload"),
    KeySpec("home.page_up", "home", "pageup", "scroll_body(-1)", "Scroll the checklist up", show=False, priority=True),
    KeySpec(
        "home.page_down", "home", "pagedown", "scroll_body(1)", "Scroll the checklist down", show=False, priority=True
    ),
    KeySpec("dataset.open", "dataset", "o", "open_path", "Open file", short="Open"),
    KeySpec("dataset.next_page", "dataset", "n,pagedown", "page(1)", "Next page", short="Next"),
    KeySpec("dataset.prev_page", "dataset", "p,pageup", "page(-1)", "Prev page", short="Prev"),
    KeySpec("dataset.toggle_view", "dataset", "v", "toggle_view", "Table/record", short="View"),
    KeySpec("dataset.search", "dataset", "slash", "search", "Search", short="Find"),
    KeySpec("dataset.search_next", "dataset", "ctrl+n", "search_next", "Next match", show=False),
    KeySpec("dataset.problems", "dataset", "e", "focus_problems", "Problems"),
    KeySpec("dataset.close", "dataset", "escape", "close_prompt", "Back", show=False),
    KeySpec("dataset.first", "dataset", "home", "first", "First record", show=False, priority=True),
    KeySpec("dataset.last", "dataset", "end", "last", "Last record", show=False, priority=True),
    KeySpec("steps.save", "steps", "ctrl+s", "save", "Save", priority=True),
    KeySpec(
        "steps.run_on",
        "steps",
        "ctrl+t",
        "run_on",
        "Where the step runs: this machine or an Azure ML cluster",
        short="Run on",
    ),
    KeySpec(
        "steps.run_all_on", "steps", "ctrl+g", "run_all_on", "Run all compute steps on …", short="All on", show=False
    ),
    KeySpec("steps.reset_field", "steps", "ctrl+r", "reset_field", "Reset field", short="Reset"),
    KeySpec("steps.restore", "steps", "ctrl+o", "restore_run", "Settings from an earlier run", show=False),
    KeySpec("steps.revert", "steps", "ctrl+z", "revert", "Revert all", show=False),
    KeySpec("steps.leave_field", "steps", "escape", "leave_field", "Leave field", show=False),
    KeySpec(
        "steps.copy_command", "steps", "ctrl+y", "copy_command", "Copy the command (OSC 52)", short="Copy", show=False
    ),
    KeySpec(
        "steps.expand_command", "steps", "ctrl+l", "expand_command", "Whole command / compact", short="Cmd", show=False
    ),
    KeySpec("monitor.start", "monitor", "r", "start_run", "Start run", short="Run"),
    KeySpec("monitor.cancel", "monitor", "c", "cancel_run", "Cancel run", short="Cancel"),
    KeySpec("monitor.copy_link", "monitor", "y", "copy_link", "Copy the Azure ML job's studio link", short="Link"),
    KeySpec("monitor.retry", "monitor", "t", "retry", "Retry failed", short="Retry"),
    KeySpec("monitor.from_step", "monitor", "s", "run_from_step", "Run from step", short="From step", show=False),
    KeySpec("monitor.pick", "monitor", "p", "pick_run", "Runs"),
    KeySpec("monitor.compare", "monitor", "d", "compare", "Compare", show=False),
    KeySpec("monitor.report", "monitor", "m", "report", "Report", show=False),
    KeySpec("monitor.search", "monitor", "slash", "search", "Search the log", short="Find"),
    KeySpec("monitor.next", "monitor", "n", "find_next", "Next match", show=False),
    KeySpec("monitor.prev", "monitor", "N", "find_prev", "Previous match", show=False),
    KeySpec("monitor.errors", "monitor", "e", "toggle_errors", "Errors only", short="Errors"),
    KeySpec("monitor.follow", "monitor", "f,end", "follow", "Follow", show=False),
    KeySpec("monitor.wrap", "monitor", "w", "toggle_wrap", "Wrap long log lines on/off", short="Wrap", show=False),
    KeySpec("monitor.zoom", "monitor", "z", "toggle_zoom", "Log fills the screen / back", short="Zoom", show=False),
    KeySpec(
        "monitor.pager", "monitor", "o", "open_log", "Open the running step's log in $PAGER", short="Pager", show=False
    ),
    KeySpec(
        "monitor.close_search",
        "monitor",
        "escape",
        "close_search",
        "Close search (a branch: back to its sweep)",
        show=False,
    ),
    KeySpec("gpu.faster", "gpu", "plus,equals_sign", "interval(0.5)", "Sample faster", short="Faster"),
    KeySpec("gpu.slower", "gpu", "minus", "interval(2.0)", "Sample slower", short="Slower"),
    KeySpec("gpu.processes", "gpu", "t", "toggle_processes", "Show/hide the GPU process table", short="Processes"),
    KeySpec("chat.stop", "chat", "escape", "stop", "Stop"),
    KeySpec("chat.prompt", "chat", "i", "focus_prompt", "Back to the prompt", show=False),
    KeySpec("chat.log_up", "chat", "pageup", "scroll_log(-1)", "Scroll the answers up", show=False),
    KeySpec("chat.log_down", "chat", "pagedown", "scroll_log(1)", "Scroll the answers down", show=False),
    KeySpec("chat.regenerate", "chat", "ctrl+r", "regenerate", "Regenerate", short="Again"),
    KeySpec("chat.edit", "chat", "ctrl+o", "edit_last", "Edit last prompt", short="Edit", show=False),
    KeySpec("chat.copy", "chat", "ctrl+y", "copy_answer", "Copy answer", short="Copy", show=False),
    KeySpec("chat.compare", "chat", "f6", "toggle_compare", "Compare", show=False),
    KeySpec(
        "chat.golden",
        "chat",
        "ctrl+g",
        "golden_check",
        "Golden check (base vs adapter ROUGE-L)",
        short="Golden",
        show=False,
    ),
    KeySpec("chat.save", "chat", "ctrl+s", "save", "Save and export the chat", priority=True, short="Save"),
    KeySpec("chat.new", "chat", "ctrl+n", "new_chat", "New chat", short="New", show=False),
    KeySpec("chat.sampling", "chat", "ctrl+t", "sampling", "Sampling settings", short="Sampling", show=False),
    KeySpec("chat.saved", "chat", "ctrl+l", "saved_chats", "Saved chats: reopen, rename, delete", short="Chats"),
    KeySpec("upload.send", "upload", "ctrl+s", "send", "Check and send", short="Send", priority=True),
    KeySpec("upload.cancel", "upload", "ctrl+x", "cancel_upload", "Cancel the upload", short="Cancel"),
    KeySpec("upload.close", "upload", "escape", "close", "Back to the checklist", short="Back"),
    KeySpec("compare.back", "compare", "escape", "app.pop_screen", "Back to the monitor", short="Back"),
    KeySpec("golden.close", "golden", "escape,q", "close", "Close", short="Close"),
    KeySpec("golden.rerun", "golden", "r", "rerun", "Run the check again", short="Run again"),
    KeySpec("saved.close", "saved", "escape", "close", "Close"),
    KeySpec("saved.rename", "saved", "r", "rename", "Rename the chat", short="Rename"),
    KeySpec("saved.delete", "saved", "d", "delete", "Delete the chat (asks first)", short="Delete"),
    KeySpec("saved.yes", "saved", "y", "confirm_delete", "Yes, delete", show=False),
)


def _curve_keys(scope: str, show: bool) -> tuple[KeySpec, ...]:
    """The chart's keys, the same on every screen that draws curves (tui/widgets/curves.py)."""
    return (
        KeySpec(f"{scope}.chart_log", scope, "l", "chart('log')", "Chart: log scale on/off", short="Log", show=show),
        KeySpec(
            f"{scope}.chart_in",
            scope,
            "plus,equals_sign",
            "chart('in')",
            "Chart: zoom in (the newest steps)",
            short="Zoom+",
            show=False,
        ),
        KeySpec(f"{scope}.chart_out", scope, "minus", "chart('out')", "Chart: zoom out", short="Zoom-", show=False),
        KeySpec(f"{scope}.chart_all", scope, "0", "chart('all')", "Chart: every step again", short="All", show=False),
        KeySpec(
            f"{scope}.chart_metric",
            scope,
            "g",
            "chart('metric')",
            "Chart: loss / learning rate / grad norm",
            short="Curve",
            show=False,
        ),
    )


KEYS = (
    *KEYS,
    KeySpec(
        "steps.sweep",
        "steps",
        "f6",  # not ctrl+b: tmux's prefix never reaches the app
        "sweep",
        "Sweep: one branch per value of a setting",
        short="Sweep",
        priority=True,
    ),
    KeySpec("monitor.branches", "monitor", "b", "branches", "A sweep's branches side by side", short="Branches"),
    KeySpec(
        "monitor.export",
        "monitor",
        "x",
        "export",
        "Export the run's model with its model card",
        short="Export",
        show=False,
    ),
    *_curve_keys("monitor", show=False),
    KeySpec(
        "chat.model",
        "chat",
        "f3",
        "pick_model",
        "Talk to which model (any finished run or sweep branch)",
        short="Model",
    ),
    KeySpec(
        "chat.export", "chat", "f4", "export_model", "Export this model with its model card", short="Export", show=False
    ),
    KeySpec("sweep.back", "sweep", "escape", "app.pop_screen", "Back", short="Back"),
    KeySpec("sweep.chat", "sweep", "c", "chat", "Chat with the chosen branch (Enter too)", short="Chat"),
    KeySpec("sweep.export", "sweep", "x", "export", "Export the chosen branch with its model card", short="Export"),
    KeySpec("sweep.upload", "sweep", "u", "upload", "Upload the chosen branch to Azure ML", short="Upload", show=False),
    KeySpec("sweep.best", "sweep", "b", "best", "Go to the best branch", short="Best"),
    KeySpec(
        "sweep.compare",
        "sweep",
        "d",
        "compare",
        "Compare the chosen branch with the best (or the next)",
        short="Compare",
        show=False,
    ),
    KeySpec(
        "sweep.log",
        "sweep",
        "o",
        "show_log",
        "The chosen branch on the monitor (its log and steps)",
        short="Monitor",
        show=False,
    ),
    *_curve_keys("sweep", show=True),
    KeySpec("export.close", "export", "escape", "close", "Close", short="Close"),
)

_BY_ID: dict[str, KeySpec] = {spec.id: spec for spec in KEYS}


def bindings(scope: str) -> list[BindingType]:
    """The Textual bindings of one scope (a key of `SCOPE_TITLES`)."""
    return [spec.binding() for spec in KEYS if spec.scope == scope]


def unknown_ids(keymap: Mapping[str, str]) -> list[str]:
    """Binding ids in a user's `[keys]` table that name no binding (typos)."""
    return sorted(key for key in keymap if key not in _BY_ID)


def effective_keys(spec: KeySpec, keymap: Mapping[str, str]) -> str:
    """The keys that trigger `spec` once the user's remaps are applied."""
    return keymap.get(spec.id, spec.keys)


def display_keys(keys: str) -> str:
    """Keys as a person reads them: `question_mark,f1` -> `? / f1`."""
    names = {
        "question_mark": "?", "slash": "/", "pagedown": "PgDn", "pageup": "PgUp", "escape": "Esc",
        "plus": "+", "minus": "-", "equals_sign": "=",
    }  # fmt: skip
    return " / ".join(names.get(key.strip(), key.strip()) for key in keys.split(","))


def specs(scope: str | None = None) -> list[KeySpec]:
    return [spec for spec in KEYS if scope is None or spec.scope == scope]


KEYS_BY_ID: Mapping[str, KeySpec] = _BY_ID


def key_label(app: object, binding_id: str) -> str:
    """The keys of binding `binding_id` as shown to the user, with the app's remaps (if any) applied."""
    user_keys = getattr(app, "user_keys", None)
    return display_keys(effective_keys(_BY_ID[binding_id], user_keys if isinstance(user_keys, dict) else {}))
