"""The command palette lists every action of the app, from any screen.

Commands come from the key table (`tui.keymap`), so the palette, the help screen and the footer never
disagree. An action that belongs to another screen switches there first.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

from tui import keymap

if TYPE_CHECKING:
    from tui.app import OliveLabApp


class LabCommands(Provider):
    """One palette entry per binding in the key table, titled `Scope: action`."""

    def _entries(self) -> list[tuple[str, str, keymap.KeySpec]]:
        app: OliveLabApp = self.app  # type: ignore[assignment]
        user_keys = app.user_keys
        entries = []
        for spec in keymap.KEYS:
            # steps.run_on acts on the focused field (the palette has "Run all compute steps on …" instead)
            if spec.id in ("app.palette", "dataset.close", "steps.leave_field", "steps.run_on"):
                continue
            if spec.scope in keymap.SUB_SCOPES:  # they act on a screen opened from another one
                continue
            title = f"{keymap.SCOPE_TITLES[spec.scope]}: {spec.description}"
            keys = keymap.display_keys(keymap.effective_keys(spec, user_keys))
            entries.append((title, f"key {keys}", spec))
        return entries

    def _callback(self, spec: keymap.KeySpec) -> Callable[[], object]:
        app: OliveLabApp = self.app  # type: ignore[assignment]
        return partial(app.run_key_action, spec)

    async def discover(self) -> Hits:
        for title, help_text, spec in self._entries():
            yield DiscoveryHit(title, self._callback(spec), help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, spec in self._entries():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), self._callback(spec), text=title, help=help_text)
