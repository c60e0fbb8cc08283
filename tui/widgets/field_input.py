"""The app's text box: printable keys type into it, and the footer says how to get back to the app keys.

While a box has focus, `1`–`6`, `q`, `?` and the other single-letter keys are text, as in any editor. That
rule stays, but it is made visible: the box's own binding puts "Esc leave field" first in the footer, and
alt+1–6 switch screens from inside a box (Esc then a digit typed quickly arrives as alt+digit, see
`tui.app_setup.read_esc_digits_as_alt`). Esc runs the screen's own Esc action when it has one (close the
search, stop the answer), else it only takes the focus out of the box.

The box also runs its own editing keys (backspace, delete, arrows) the moment they arrive. Textual's Input
types printable keys at once but leaves the others to bubble up to the bindings, which run later; a burst
such as backspace, backspace, `abc` (a fast typist, a paste over SSH) was applied as `abc` then two
backspaces, so "20" became "20a" instead of "abc".

A pasted text of several lines is kept whole, on the box's one line, and the message line says so: its lines
joined with spaces (blank lines dropped), or in a settings form with `\\n`, the form's spelling of a newline.
Textual's Input kept the first line only, silently (a pasted template lost all but `<|user|>`).
"""

from __future__ import annotations

from textual import events
from textual.binding import Binding
from textual.widgets import Input

LEAVE_HINT = "leave field"


class FieldInput(Input):
    """An Input whose footer entry tells how to leave it."""

    BINDINGS = [Binding("escape", "leave_field", LEAVE_HINT, key_display="Esc", id="field.leave")]
    PASTE_JOIN = " "
    """How the lines of a pasted text are joined on the box's one line (a space: blank lines are dropped)."""
    PASTE_NOTE = "joined into one: the box is a single line"
    """What the message line says of a paste of several lines, after "Pasted N lines, "."""

    def pasted_lines(self, text: str) -> list[str]:
        """The lines of a pasted text as the box keeps them."""
        if self.PASTE_JOIN == " ":
            return [line.strip() for line in text.splitlines() if line.strip()]
        return text.strip("\r\n").splitlines()  # a copied line often ends with a newline: not a line of its own

    def _on_paste(self, event: events.Paste) -> None:
        lines = self.pasted_lines(event.text)
        if len(lines) > 1:
            self.notify(f"Pasted {len(lines)} lines, {self.PASTE_NOTE}")
        text = self.PASTE_JOIN.join(lines) if len(lines) > 1 else event.text.strip("\r\n")
        if text:
            if self.selection.is_empty:
                self.insert_text_at_cursor(text)
            else:
                self.replace(text, *self.selection)
        event.stop()
        event.prevent_default()  # not Input's own paste too, which keeps the first line only

    async def _on_key(self, event: events.Key) -> None:
        if not event.is_printable:
            for binding in self._bindings.key_to_bindings.get(event.key, []):
                event.stop()
                event.prevent_default()
                await self.run_action(binding.action)  # now, in the order the keys came
                return
        await super()._on_key(event)

    async def action_leave_field(self) -> None:
        screen = self.screen
        for binding in screen._bindings.key_to_bindings.get("escape", []):
            await self.app.run_action(binding.action, screen)  # each screen's Esc moves the focus itself
            return
        screen.set_focus(None)
