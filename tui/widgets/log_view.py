"""The live log: a bounded Textual `Log` fed in batches, with follow mode, search and an error filter.

Lines arrive as (kind, text) pairs (kind from `engine.steps.logparse.classify_line`) at any rate; they are kept in
a buffer and written at most `flush_hz` times a second with one `write_lines` call, so the UI stays
responsive at thousands of lines a second. Only the last `max_lines` lines are held (the full log stays on
disk). Follow mode pins the view to the newest line; scrolling up stops it, End or `f` resumes it.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from rich.highlighter import Highlighter
from rich.text import Text
from textual import events
from textual.reactive import var
from textual.widgets import Log

KIND_STYLES: dict[str, str] = {
    "error": "bold $error",
    "warning": "$warning",
    "header": "bold $accent",
    "note": "italic dim",
    "progress": "dim",
    "match": "bold $search-hit-text on $search-hit",
    "match-line": "on $panel",
}
ERROR_KINDS = ("error", "warning", "header")
# Characters str.splitlines() would split on: a shown line must stay one line, or kinds lose their place.
_SPLITTERS = str.maketrans({c: " " for c in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"})


class _LineStyler(Highlighter):
    """Colours whole lines by kind and marks the search term (called only for visible lines)."""

    def __init__(self, view: LogView) -> None:
        self.view = view

    def highlight(self, text: Text) -> None:
        view = self.view
        y = view._styling_y
        kinds = view._kinds
        if 0 <= y < len(kinds):
            style = view._styles.get(kinds[y])
            if style:
                text.stylize(style)
            if y == view.match_line:
                text.stylize(view._styles["match-line"])
        if view.search_term:
            text.highlight_words([view.search_term], view._styles["match"], case_sensitive=False)


class LogView(Log):
    """A follow-mode log with search (`find`) and an errors-and-warnings filter (`errors_only`)."""

    DEFAULT_CSS = """
    LogView { height: 1fr; border: round $primary 40%; }
    LogView:focus { border: round $primary; }
    """

    follow: var[bool] = var(True)
    """Keep the newest line in view. Scrolling up turns it off; `resume_follow` turns it on."""
    errors_only: var[bool] = var(False)
    """Show only error and warning lines."""
    wrap: var[bool] = var(True)
    """Fold lines longer than the view onto the next rows (indented), instead of cutting them."""

    def __init__(self, *, max_lines: int = 10_000, flush_hz: float = 10.0, id: str | None = None) -> None:
        super().__init__(highlight=True, max_lines=max_lines, auto_scroll=True, id=id)
        self.flush_hz = flush_hz
        self._pending: list[tuple[str, str]] = []
        self._all: deque[tuple[str, str]] = deque(maxlen=max_lines)  # what the filter can bring back
        self._kinds: list[str] = []  # kind of each line shown, parallel to `self.lines`
        self._styling_y = -1
        self._styles: dict[str, str] = {}
        self.search_term = ""
        self.match_line = -1
        self.received = 0
        self.highlighter = _LineStyler(self)
        self._folded_at: int | None = None  # the width long lines were last folded at

    def on_mount(self) -> None:
        self._styles = {kind: self._resolve(style) for kind, style in KIND_STYLES.items()}
        self.set_interval(1 / self.flush_hz, self.flush)

    def _resolve(self, style: str) -> str:
        variables = self.app.theme_variables
        return " ".join(variables.get(p[1:], p) if p.startswith("$") else p for p in style.split())

    # feeding -----------------------------------------------------------------------------------------

    def append(self, lines: list[tuple[str, str]]) -> None:
        """Queue lines; they appear at the next flush."""
        self._pending.extend(lines)
        extra = len(self._pending) - self.max_kept
        if extra > 0:  # more than the view can hold before the next flush: the oldest would be pruned anyway
            del self._pending[:extra]
            self.received += extra

    def reset(self) -> None:
        self._pending.clear()
        self._all.clear()
        self._kinds.clear()
        self.match_line = -1
        self.received = 0
        self.clear()
        self.follow = True

    def flush(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        self.received += len(batch)
        self._all.extend(batch)
        if self.errors_only:
            batch = [line for line in batch if line[0] in ERROR_KINDS]
        if batch:
            self._write(batch)

    def _write(self, batch: list[tuple[str, str]]) -> None:
        before = len(self._lines)
        if self.wrap:
            batch = self._folded(batch)
        texts = [text.translate(_SPLITTERS) or " " for _, text in batch]  # one entry per line, always
        self._kinds.extend(kind for kind, _ in batch)
        self.write_lines(texts, scroll_end=False)
        removed = before + len(texts) - len(self._lines)
        if removed > 0:
            del self._kinds[:removed]
            if self.match_line >= 0:
                self.match_line -= removed
        if self.follow:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
            self.call_after_refresh(self._keep_following)  # the new lines' height may not be laid out yet
        elif removed > 0:  # keep the lines the reader is looking at still under their eyes
            self.scroll_to(y=max(0, self.scroll_y - removed), animate=False, immediate=True)

    def _folded(self, batch: list[tuple[str, str]]) -> list[tuple[str, str]]:
        width = self.scrollable_content_region.width - 1
        if width < 20:  # not laid out yet: the first resize folds them
            return batch
        if any(len(text) > width for _, text in batch):
            self._folded_at = width
        out: list[tuple[str, str]] = []
        for kind, text in batch:
            if len(text) <= width:
                out.append((kind, text))
                continue
            out.append((kind, text[:width]))
            rest, chunk = text[width:], width - 2
            out.extend((kind, "  " + rest[i : i + chunk]) for i in range(0, len(rest), chunk))
        return out

    @property
    def max_kept(self) -> int:
        return self.max_lines or 10_000

    def _update_size(self, updates: int, lines: list[str]) -> None:  # type: ignore[override]
        # Log measures new lines' cell widths in a thread worker per write; at a flush every 100 ms that is a
        # thread, a worker and a round trip each time. Character counts are close enough for the scrollbar.
        if lines:
            self._update_maximum_width(updates, max(map(len, lines)))

    def _render_line_strip(self, y: int, rich_style: Any) -> Any:
        self._styling_y = y
        return super()._render_line_strip(y, rich_style)

    # follow mode -------------------------------------------------------------------------------------

    def resume_follow(self) -> None:
        self.follow = True
        self.scroll_end(animate=False, immediate=True, x_axis=False)

    def _keep_following(self) -> None:
        if self.follow:
            self.scroll_end(animate=False, immediate=True, x_axis=False)

    def action_scroll_up(self) -> None:
        self.follow = False
        super().action_scroll_up()

    def action_page_up(self) -> None:
        self.follow = False
        super().action_page_up()

    def action_scroll_home(self) -> None:
        self.follow = False
        super().action_scroll_home()

    def action_scroll_end(self) -> None:
        self.resume_follow()

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        self.follow = False

    # filter ------------------------------------------------------------------------------------------

    def watch_errors_only(self, errors_only: bool) -> None:
        self._rebuild()

    def watch_wrap(self, wrap: bool) -> None:
        self._rebuild()

    def on_resize(self, event: events.Resize) -> None:
        width = self.scrollable_content_region.width - 1
        if not self.wrap or width == self._folded_at or width < 20:
            return
        if self._folded_at is not None or any(len(text) > width for _, text in self._all):
            self._rebuild()

    def _rebuild(self) -> None:
        """Show the kept lines again under the current filter and wrap (the log on disk is untouched)."""
        self._folded_at = None
        self.flush()
        keep = list(self._all)
        if self.errors_only:
            keep = [line for line in keep if line[0] in ERROR_KINDS]
        self.clear()
        self._kinds.clear()
        self.match_line = -1
        if keep:
            self._write(keep)
        self.refresh()

    # search ------------------------------------------------------------------------------------------

    def find(self, term: str, *, forward: bool = False, start: int | None = None) -> int | None:
        """Select the next line holding `term` (before the current match, or after it when `forward`).

        Returns the line number shown, or None when no line matches.
        """
        self.flush()
        self.search_term = term
        if not term:
            self.match_line = -1
            self.refresh()
            return None
        needle = term.lower()
        lines = self._lines
        count = len(lines)
        if start is None:
            start = self.match_line if self.match_line >= 0 else (-1 if forward else count)
        order = range(start + 1, count) if forward else range(start - 1, -1, -1)
        for y in order:
            if needle in lines[y].lower():
                self.match_line = y
                self.follow = False
                self.scroll_to(y=max(0, y - self.size.height // 2), animate=False, immediate=True)
                self.refresh()
                return y
        self.refresh()
        return None
