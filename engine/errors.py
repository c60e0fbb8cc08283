"""The one root of olive-lab's errors: a message a user can act on and, where there is one, a hint.

Every subsystem's errors derive from `OliveLabError`; the command line catches it once (prints the message,
the hint and exits 1), the app catches it once (a notice or a modal). So the same failure reads the same in
both faces, and no traceback reaches a user for a failure we foresaw.
"""

from __future__ import annotations


class OliveLabError(Exception):
    """A failure with a message that says what and where, and an optional hint that says what to do."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message

    def full(self) -> str:
        """The message and the hint on one line, for a notice or a one-line refusal."""
        return f"{self.message} ({self.hint})" if self.hint else self.message
