"""The app's own theme variables, shared by the theme loader and the theme file model."""

from __future__ import annotations

# App-specific colours every theme provides (Textual's built-in themes get these defaults).
VARIABLE_DEFAULTS: dict[str, str] = {
    "step-done": "#7FBF6A",
    "step-next": "#D9B44A",
    "step-failed": "#E0645A",
    "eval-row": "#4A6A8A",
    "search-hit": "#D9B44A",
    "search-hit-text": "#12150B",
}
