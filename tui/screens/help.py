"""The `?` screen: every key of the app, grouped by where it works, with the user's remaps applied."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.markup import escape
from textual.screen import ModalScreen
from textual.widgets import Static

from tui import keymap


def keys_text(user_keys: dict[str, str]) -> str:
    """The key table as plain text: one block per scope, key then what it does."""
    lines: list[str] = []
    for scope, title in keymap.SCOPE_TITLES.items():
        lines.append(f"[b]{title}[/b]")
        for spec in keymap.specs(scope):
            keys = keymap.display_keys(keymap.effective_keys(spec, user_keys))
            lines.append(f"  {keys:<16} {spec.description}  [dim]({spec.id})[/dim]")
        lines.append("")
    lines.append("In a text box every printable key is text; Esc leaves it. Esc then a key typed quickly")
    lines.append("(tmux's escape-time) arrives as alt+key: the app reads it as Esc, then that key.")
    lines.append(escape('Remap any key in lab.toml, e.g. under [keys] write "home.run" = "ctrl+r".'))
    lines.append("ctrl+p opens the command palette with every action.")
    return "\n".join(lines)


class HelpScreen(ModalScreen[None]):
    """A scrollable list of keys; Esc, q or ? closes it."""

    BINDINGS = [
        Binding("escape,q,question_mark", "dismiss", "Close", id="help.close"),
    ]

    def compose(self) -> ComposeResult:
        user_keys = getattr(self.app, "user_keys", None)
        keys = user_keys if isinstance(user_keys, dict) else {}
        with VerticalScroll(id="help-body"):
            yield Static(keys_text(keys), id="help-text")

    def on_mount(self) -> None:
        body = self.query_one("#help-body")
        body.border_title = "Keys"
        body.border_subtitle = "Esc to close"
        body.focus()
