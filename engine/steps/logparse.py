"""The one log parser for Olive and olive-lab's own step programs.

It reads the raw output stream in chunks (tqdm redraws with `\\r` included) and reports what a person
watching the log would notice: passes starting and finishing, the failure reason (a traceback's last
exception line), cache hits, where the model was saved, progress (step, total, rate, ETA) and the Trainer's
loss dictionaries. Olive exits 0 when it fails, so the verdict comes from this and the outputs, never from
the exit status alone.

Speed matters (a step can print millions of lines): each chunk is scanned with a few compiled regular
expressions in C, and only matching lines are looked at in Python. Progress keeps only its latest value.
"""

from __future__ import annotations

import ast
import re
import time
from dataclasses import dataclass, field
from typing import Any

from engine.azure.auth import SIGN_IN_PROMPT, DeviceCode

# [2026-11-24 21:11:57,112] [INFO] [engine.py:665:_run_pass] Running pass f:lora


def stamped(message: str, *, level: str = "INFO", origin: str = "olive-lab") -> str:
    """A line olive-lab writes into a step log, stamped like Olive's own (local time, milliseconds), so the
    parser and the monitor read it like theirs; no newline. `origin` says who wrote it."""
    now = time.time()
    return (
        f"[{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(now))},{int(now * 1000) % 1000:03d}] "
        f"[{level}] [{origin}] {message}"
    )


# Only the lines worth a look reach Python: errors, and the few messages the parser acts on.
_LOG_LINE = re.compile(
    r"^\[\d{4}-\d\d-\d\d [\d:,.]+\] \[(?:(?P<level>ERROR|CRITICAL)|[A-Z]+)\] \[[^\]\r\n]*\] "
    r"(?P<msg>(?(level)|(?:Running pass |Pass |Loaded model from cache|Loading run |Saved output model to "
    r"|No output model produced|" + re.escape(SIGN_IN_PROMPT) + r"))[^\r\n]*)",
    re.MULTILINE,
)
# A chunk holding none of these has no log line the parser acts on (a cheap test before the regex).
_LOG_WORDS = (
    "] [ERROR]",
    "] [CRITICAL]",
    SIGN_IN_PROMPT,
    "Running pass ",
    "] Pass ",
    "from cache",
    "Saved output model",
    "No output model",
)
_PAIR = re.compile(r"'(\w+)': '?([^',}]*)'?")
_TQDM = re.compile(
    r"(?:(?P<desc>[^\r\n|]*?): *)?\s*(?P<pct>\d+)%\|[^|\r\n]*\| *(?P<n>\d+)/(?P<total>\d+)"
    r" \[(?P<elapsed>[\d:]+)<(?P<eta>[\d:?]+)(?:, *(?P<rate>[\d.]+|\?)(?P<unit>s/it|it/s|[^\]\r\n]*))?"
)
_DICT = re.compile(r"\{'(?:loss|eval_loss|train_runtime)'[^\r\n{}]*\}")
_BARE = re.compile(r"^(?P<msg>Model is saved at [^\r\n]*|No output model produced[^\r\n]*)", re.MULTILINE)
_TRACEBACK = "Traceback (most recent call last)"
# The line that ends a traceback names the exception, whatever its type: `KeyError: 'x'`, a bare
# `Exception: ...`, `SystemExit: 1`, `onnxruntime...Fail: [ONNXRuntimeError] ...` or a name alone.
_RAISED = re.compile(r"(?P<exc>[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*(?::(?:[ \t][^\r\n]*)?)?)$")
# Outside a traceback only a line that looks like an exception by its name counts (a weaker reason), or
# argparse's refusal (`olive finetune: error: unrecognized arguments: ...`, then exit status 2).
_EXCEPTION = re.compile(
    r"^(?P<exc>(?:[A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Failure|Fault)\b:?|Exception(?::|$))[^\r\n]*)",
    re.MULTILINE,
)
_USAGE_ERROR = re.compile(r"^(?P<exc>[\w.\-]+(?: [\w.\-]+)*: error: [^\r\n]+)", re.MULTILINE)
_EXCEPTION_WORDS = ("Error", "Exception", "Exit", "Interrupt", "Failure", "Fault")
_ESC = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

PASS_RUNNING = "Running pass "
PASS_FINISHED = re.compile(r"^Pass (?P<name>\S+) finished in (?P<secs>[\d.]+) seconds")


@dataclass
class ProgressInfo:
    n: int
    total: int
    rate: float | None  # items per second
    eta_s: float | None
    desc: str


@dataclass
class ParsedEvent:
    kind: str  # pass_started, pass_finished, cache_hit, saved, no_output, failed, loss, eval_loss, train_done,
    # warning, sign_in_code
    data: dict[str, Any] = field(default_factory=dict)


def _seconds(text: str) -> float | None:
    if "?" in text:
        return None
    total = 0.0
    for part in text.split(":"):
        total = total * 60 + float(part)
    return total


def parse_progress(segment: str) -> ProgressInfo | None:
    """Parse one tqdm redraw (`' 50%|█████     | 5/10 [00:06<00:06,  1.33s/it]'`)."""
    matches = list(_TQDM.finditer(segment))
    if not matches:
        return None
    m = matches[-1]
    rate: float | None = None
    raw_rate, unit = m.group("rate"), (m.group("unit") or "")
    if raw_rate and raw_rate != "?":
        value = float(raw_rate)
        rate = (1.0 / value if value else None) if unit.startswith("s/") else value
    return ProgressInfo(
        n=int(m.group("n")),
        total=int(m.group("total")),
        rate=rate,
        eta_s=_seconds(m.group("eta")),
        desc=(m.group("desc") or "").strip(),
    )


def _number(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def parse_metrics(text: str) -> dict[str, Any] | None:
    """A Trainer log dict (`{'loss': '6.916', 'epoch': '0.26'}`; values may be strings) as numbers."""
    pairs = _PAIR.findall(text)
    if pairs and text.count(":") == len(pairs):  # the common, flat case, without literal_eval's cost
        return {k: _number(v) for k, v in pairs}
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return None
    if not isinstance(value, dict):
        return None
    return {str(k): _number(v) for k, v in value.items()}


class LogParser:
    """Feed it chunks of text as they arrive; it returns the notable events in each chunk."""

    def __init__(self) -> None:
        self._pending = ""
        self.lines = 0
        self.progress: ProgressInfo | None = None
        self.progress_serial = 0  # bumps on every progress change, so a writer can throttle
        self.current_pass: str | None = None
        self.passes_finished: list[str] = []
        self.saved_to: str | None = None
        self.no_output = False
        self.failure: str | None = None  # the last exception line that ends a traceback
        self.stray_failure: str | None = None  # the last exception-like line outside any traceback
        self.pass_failed = False
        self.cache_hits = 0
        self.errors = 0
        self._in_traceback = False

    def feed(self, chunk: str) -> list[ParsedEvent]:
        if not chunk:
            return []
        text = self._pending + chunk
        cut = max(text.rfind("\n"), text.rfind("\r")) + 1
        self._pending = text[cut:]
        if len(self._pending) > 1_000_000:  # a line with no end in sight: parse what we have
            cut, self._pending = len(text), ""
        return self._scan(text[:cut])

    def finish(self) -> list[ParsedEvent]:
        """The stream ended: parse whatever was left without a line end."""
        rest, self._pending = self._pending, ""
        return self._scan(rest + "\n") if rest else []

    def _scan(self, text: str) -> list[ParsedEvent]:
        if not text:
            return []
        self.lines += text.count("\n")
        events: list[tuple[int, ParsedEvent]] = []
        if "%|" in text:
            last = text.rfind("%|")
            start = max(text.rfind("\r", 0, last), text.rfind("\n", 0, last)) + 1
            end_candidates = [i for i in (text.find("\r", last), text.find("\n", last)) if i >= 0]
            segment = text[start : min(end_candidates) if end_candidates else len(text)]
            info = parse_progress(segment)
            if info is not None:
                self.progress = info
                self.progress_serial += 1
        if any(word in text for word in _LOG_WORDS):
            for m in _LOG_LINE.finditer(text):
                event = self._log_line(m.group("level") or "INFO", m.group("msg"))
                if event is not None:
                    events.append((m.start(), event))
        if "{'" in text:
            for m in _DICT.finditer(text):
                metrics = parse_metrics(m.group(0))
                if not metrics:
                    continue
                if "eval_loss" in metrics:
                    events.append((m.start(), ParsedEvent("eval_loss", metrics)))
                elif "loss" in metrics:
                    events.append((m.start(), ParsedEvent("loss", metrics)))
                elif "train_runtime" in metrics:
                    events.append((m.start(), ParsedEvent("train_done", metrics)))
        if "Model is saved at" in text or "No output model produced" in text:
            for m in _BARE.finditer(text):
                msg = m.group("msg")
                if msg.startswith("Model is saved at"):
                    self.saved_to = msg[len("Model is saved at ") :].strip()
                    events.append((m.start(), ParsedEvent("saved", {"path": self.saved_to})))
                else:
                    self.no_output = True
                    events.append((m.start(), ParsedEvent("no_output", {"message": msg})))
        if self._in_traceback or _TRACEBACK in text:
            self._traceback(text)
        else:
            if any(word in text for word in _EXCEPTION_WORDS):
                for m in _EXCEPTION.finditer(text):
                    self.stray_failure = _ESC.sub("", m.group("exc")).strip()
            if ": error: " in text:
                for m in _USAGE_ERROR.finditer(text):
                    self.stray_failure = _ESC.sub("", m.group("exc")).strip()
        if len(events) > 1:
            events.sort(key=lambda pair: pair[0])
        return [event for _, event in events]

    def _traceback(self, text: str) -> None:
        """Walk the tracebacks in `text` (which ends at a line end). A traceback's frames are indented; its
        first line at the margin names the exception. Chained tracebacks follow one another, so the last
        exception line wins. The walk may stop mid-traceback and carry on with the next chunk."""
        pos = 0 if self._in_traceback else text.find(_TRACEBACK)
        while pos >= 0:
            if not self._in_traceback:  # `pos` is at a header: step past its line
                self._in_traceback = True
                pos = _after_line(text, pos)
            while self._in_traceback and pos < len(text):
                end = _after_line(text, pos)
                line = text[pos:end].rstrip("\r\n")
                pos = end
                if "\r" in line:  # a progress redraw: what shows is the last part
                    line = line.rsplit("\r", 1)[-1]
                line = _ESC.sub("", line)
                if not line.strip() or line[0] in " \t" or _TRACEBACK in line:
                    continue
                self._in_traceback = False
                m = _RAISED.match(line.rstrip())
                if m:
                    self.failure = m.group("exc").strip()
                    self.errors += 1
            if self._in_traceback:
                return
            pos = text.find(_TRACEBACK, pos)

    def _log_line(self, level: str, msg: str) -> ParsedEvent | None:
        if level in ("ERROR", "CRITICAL"):
            self.errors += 1
        if msg.startswith(PASS_RUNNING):
            name = msg[len(PASS_RUNNING) :].strip()
            self.current_pass = name
            pass_name, _, pass_type = name.partition(":")
            return ParsedEvent("pass_started", {"pass_name": pass_name, "pass_type": pass_type})
        if msg.startswith("Pass ") and " finished in " in msg:
            m = PASS_FINISHED.match(msg)
            if m:
                self.passes_finished.append(m.group("name"))
                self.current_pass = None
                return ParsedEvent("pass_finished", {"pass_name": m.group("name"), "seconds": float(m.group("secs"))})
        if msg.startswith("Pass run failed"):
            self.pass_failed = True
            return ParsedEvent("pass_failed", {"pass_name": self.current_pass})
        if msg.startswith("Loaded model from cache") or (msg.startswith("Loading run ") and "from cache" in msg):
            self.cache_hits += 1
            return ParsedEvent("cache_hit", {"detail": msg})
        if msg.startswith("Saved output model to "):
            self.saved_to = msg[len("Saved output model to ") :].strip()
            return ParsedEvent("saved", {"path": self.saved_to})
        if msg.startswith("No output model produced"):
            self.no_output = True
            return ParsedEvent("no_output", {"message": msg})
        if msg.startswith(SIGN_IN_PROMPT) and (code := DeviceCode.from_sentence(msg)) is not None:
            return ParsedEvent("sign_in_code", code.event_fields())
        if level in ("ERROR", "CRITICAL"):
            return ParsedEvent("error", {"message": msg})
        return None

    @property
    def reason(self) -> str | None:
        """The best one-line explanation of a failure seen in the log, if any."""
        if self.failure:
            return self.failure
        if self.stray_failure:
            return self.stray_failure
        if self.no_output:
            return "Olive produced no output model (see the step log)"
        if self.pass_failed:
            return f"pass {self.current_pass or '?'} failed (see the step log)"
        return None


def _after_line(text: str, pos: int) -> int:
    """The index just past the line that holds `pos` (its newline included)."""
    end = text.find("\n", pos)
    return len(text) if end < 0 else end + 1


_ERROR_WORDS = ("Traceback (most recent call last)", "] [ERROR]", "] [CRITICAL]", "No output model produced")


def classify_line(text: str) -> str:
    """How a log view should colour one line: error, warning, progress, info or other."""
    if any(word in text for word in _ERROR_WORDS) or _EXCEPTION.match(text):
        return "error"
    if "] [WARNING]" in text or "Warning:" in text or "WARNING" in text[:40]:
        return "warning"
    if "%|" in text:
        return "progress"
    if "] [INFO]" in text:
        return "info"
    return "other"
