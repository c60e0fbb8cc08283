"""Messages that cross widget or screen boundaries, all in one place.

Workers (threads) never touch widgets: they post one of these and a handler on the UI side renders it.
Screens may append their own messages at the end of this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:
    from textual.theme import Theme

    from engine.chat.runtime import ChatModel
    from engine.chat.types import Answer
    from engine.config import LabConfig
    from engine.data.browse import JsonlIndex
    from engine.data.lines import Problem
    from engine.doctor import Check
    from engine.runs.watch import RunUpdate


@dataclass
class ConfigChanged(Message):
    """The lab's settings were saved (or restored); every screen should re-read `app.config`."""

    config: LabConfig


@dataclass
class SettingsLoaded(Message):
    """`lab.toml` and the theme files were read and validated (right after the first frame)."""

    config: LabConfig
    themes: list[Theme]
    problems: list[str]


@dataclass
class RunStarted(Message):
    """The pipeline was started; the app switches to the monitor."""

    run_id: str


@dataclass
class RunFailedToStart(Message):
    """Starting the pipeline failed before any step ran; `reason` says why, in plain words."""

    reason: str


@dataclass
class ChecklistLoaded(Message):
    """The newest run was read: one status per lab step (`done`, `running`, `failed`, `next`, `todo`)."""

    run_id: str | None
    statuses: dict[str, str]
    details: dict[str, str] = field(default_factory=dict)
    suggested_fields: dict[str, str] = field(default_factory=dict)
    """Field names the records seem to use instead of the configured ones ({"prompt": "question"})."""
    effects: tuple[str, list[str]] | None = None
    """What each step did (widgets.checklist.read_effects): where the figures come from, then the lines."""


@dataclass
class DoctorChecked(Message):
    """The environment checks finished; `checks` are the engine's Check objects."""

    checks: list[Check]


@dataclass
class DatasetOpened(Message):
    """A dataset's index is ready enough to page: `total` records so far (`complete` once fully indexed)."""

    path: str
    total: int
    complete: bool
    index: JsonlIndex | None = None


@dataclass
class DatasetPage(Message):
    """One page of records, already rendered through the training template."""

    path: str
    start: int
    rows: list[dict[str, object]]


@dataclass
class DatasetChecked(Message):
    """The dataset's problems (engine Problem objects, each with a line number)."""

    path: str
    problems: list[Problem]
    records: int
    held: set[int] = field(default_factory=set)
    """Record indices (0-based, usable records only) held back for evaluation."""
    skipped_lines: list[int] = field(default_factory=list)
    """Sorted line numbers that are not records (so line -> record index is exact)."""
    exact: bool = True
    """False when there were too many problems to map every line to its record."""
    fatal: str | None = None
    suggested_fields: dict[str, str] = field(default_factory=dict)
    """Field names the records seem to use instead of the configured ones ({"prompt": "question"})."""
    effects: tuple[str, list[str]] | None = None
    """What each step did (widgets.checklist.read_effects): where the figures come from, then the lines."""
    summary: str | None = None
    """Why most lines are not records (not JSONL, or JSON objects without the configured fields), if so."""


@dataclass
class DatasetStats(Message):
    """Statistics so far; `done` is False while they are still being computed."""

    path: str
    text: str
    done: bool
    fraction: float = 0.0
    duplicate_lines: list[tuple[int, int]] = field(default_factory=list)
    """(line, the earlier line it repeats), once the statistics are done."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, DatasetStats) and message.path == self.path


@dataclass
class SearchFound(Message):
    """The next record matching a search, or None when nothing after the cursor matches."""

    query: str
    index: int | None


@dataclass
class DatasetFailed(Message):
    """The file could not be read at all (missing, not a file, unreadable)."""

    path: str
    reason: str


@dataclass
class MonitorRunUpdated(Message):
    """What changed in the run folder the monitor follows (an `engine.runs.watch.RunUpdate`).

    `generation` tells updates of the run shown now from late ones of a run shown before.
    """

    generation: int
    update: RunUpdate


@dataclass
class MonitorActionDone(Message):
    """A monitor action run in a worker (start, cancel, report) finished; `error` says why it failed."""

    action: str
    result: str | None = None
    error: str | None = None


# --- chat ------------------------------------------------------------------------------------------


@dataclass
class ChatModelLoaded(Message):
    """The chat model is loaded (`model` is an engine ChatModel); `notice` says if it is not where asked."""

    model: ChatModel
    notice: str | None = None


@dataclass
class ChatModelMissing(Message):
    """No model could be loaded; `reason` is shown as the chat screen's empty state."""

    reason: str


@dataclass
class ChatTokens(Message):
    """A batch of answer text for the answer box `box` (the worker batches tokens, about 20 per second)."""

    box: str
    text: str


@dataclass
class ChatAnswerDone(Message):
    """The answer in `box` ended (`answer` is an engine Answer with its timings)."""

    box: str
    answer: Answer


@dataclass
class ChatAnswerFailed(Message):
    """The answer in `box` could not be produced; `reason` says why."""

    box: str
    reason: str


@dataclass
class ChatIdle(Message):
    """The generation worker finished: the prompt can be sent again."""


@dataclass
class GoldenProgress(Message):
    """The golden check answered `done` of `total` held-back examples."""

    done: int
    total: int


@dataclass
class GoldenDone(Message):
    """The golden check finished: its table as text, and where the report was saved (None if not saved)."""

    table: str
    saved: str | None
    note: str = ""


@dataclass
class GoldenFailed(Message):
    """The golden check could not run; `reason` says why in plain words."""

    reason: str
