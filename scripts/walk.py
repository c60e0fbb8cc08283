"""Replay a user's walk through olive-lab in a real terminal (tmux) at 80x24 and 120x40, and check what they see.

Stages: the demo pipeline (`r` on the checklist, to the end), an upload with no sign-in and no network, a
cancelled run, a question/answer set of the user's own (the suggested field names taken on Steps and saved),
a typo in `lab.toml`, and a two-branch sweep (started on Steps, watched, compared, the best branch chatted
with and exported). Each stage starts the app in its own lab folder, sends keys, waits for text on the
screen (never a fixed sleep) and captures the pane; every capture is checked for known defects (a traceback, a
footer cut mid-word, a notification covering the content) and each stage for its own. Prints one PASS/FAIL line
per check; the panes go to the output folder as text, one file per capture. Exit status 1 when a check failed.

    python scripts/walk.py [--fake-olive] [--sizes 80x24,120x40] [--stages demo,upload,cancel,qa,typo,sweep]
                           [--out DIR]

`--fake-olive` runs Olive's steps with tests/fakes/fake_olive.py (replayed output: fast); the default is the
real `olive`. The demo lab is shared by the sizes (the second walk re-runs it: reused steps) and by the upload.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FAKE_OLIVE = ROOT / "tests" / "fakes" / "fake_olive.py"
REFUSED = "http://127.0.0.1:9"  # a proxy that refuses every connection: the network is down, no host is reached
WORKSPACE = '[azure]\nsubscription_id = "00000000-0000-0000-0000-000000000000"\nresource_group = "rg-walk"\n' \
    'workspace_name = "walk-ws"\n'  # fmt: skip
QA_LINES = [("Where can I leave luggage in Lisbon?", "At the lockers in Rossio station."),
            ("Is tap water safe in Vienna?", "Yes, it comes from the Alps."),
            ("How do I get from Narita to Tokyo?", "Take the Narita Express."),
            ("When is the Louvre closed?", "On Tuesdays."),
            ("Do I need cash in Oslo?", "Rarely: cards are taken almost everywhere."),
            ("What is the tipping custom in Rome?", "Round up; service is often included.")]  # fmt: skip
TYPO_TOML = "[finetune]\nmax_steps = 2o\n"  # the letter o for a zero
STATUS_LINE = re.compile(r"^ run \S+ · \S+ · (starting|running|done|failed|cancelled)\b")
Lines = list[str]


SOCKET = f"olive-walk-{os.getpid()}"  # a tmux server of the walk's own: its settings touch no other session


def tmux(*args: str) -> str:
    """tmux's output; StageFailed (saying the command and tmux's own words) when it fails."""
    done = subprocess.run(["tmux", "-L", SOCKET, *args], capture_output=True, text=True)
    if done.returncode != 0:
        said = (done.stderr or done.stdout).strip() or "no message"
        raise TmuxFailed(f"tmux {args[0]} exited {done.returncode}: {said}")
    return done.stdout


def footer_words() -> set[str]:
    """Every word a footer may show: the key table's labels and the bindings of the upload and confirm screens."""
    from tui.keymap import KEYS

    words = {w for spec in KEYS for text in (spec.description, spec.short or "") for w in text.split()}
    return words | {"Send", "Cancel", "upload", "Back", "Yes", "No", "Keys", "Palette"}


class StageFailed(Exception):
    """A stage could not go on (the screen never showed what it waited for, or tmux failed)."""


class TmuxFailed(StageFailed):
    """A tmux command failed (its server gone, a session that cannot be made)."""


class Walk:
    """One terminal size: a tmux session per stage, captures and checks."""

    def __init__(self, out: Path, width: int, height: int, env: dict[str, str], words: set[str]) -> None:
        self.size = f"{width}x{height}"
        self.width, self.height = width, height
        self.out = out / self.size
        self.out.mkdir(parents=True, exist_ok=True)
        self.env = env
        self.words = words
        self.session = f"olive-walk-{os.getpid()}-{self.size}"
        self.stage = ""
        self.shots = 0
        self.failed = 0

    # -- the terminal ------------------------------------------------------------------------------
    def start(self, stage: str, lab: Path, env: dict[str, str] | None = None) -> None:
        self.stage, self.shots = stage, 0
        merged = {**self.env, **(env or {})}
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in merged.items())
        command = (
            f"cd {shlex.quote(str(ROOT))} && env -i HOME={shlex.quote(str(Path.home()))} TERM=xterm-256color "
            f"LANG=C.UTF-8 {exports} {shlex.quote(sys.executable)} -m cli.launch --lab {shlex.quote(str(lab))}"
        )
        new_session = ("new-session", "-d", "-s", self.session, "-x", str(self.width), "-y", str(self.height), command)
        try:
            tmux(*new_session)
        except TmuxFailed as exc:  # the walk's tmux server is gone or stuck: a fresh one, once
            subprocess.run(["tmux", "-L", SOCKET, "kill-server"], capture_output=True)
            try:
                tmux(*new_session)
            except TmuxFailed as again:
                raise StageFailed(f"could not start the app in tmux ({exc}; after a server restart: {again})") from None
        tmux("set-option", "-t", self.session, "remain-on-exit", "on")
        tmux("set-option", "-s", "escape-time", "0")  # an Escape reaches the app at once, not as alt+<next key>
        self.wait("the app's mode bar", lambda t: "1 Checklist" in t, 60)

    def stop(self) -> None:
        subprocess.run(["tmux", "-L", SOCKET, "send-keys", "-t", self.session, "C-q"], capture_output=True)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and "1 Checklist" in "\n".join(self.pane()):
            time.sleep(0.2)
        subprocess.run(["tmux", "-L", SOCKET, "kill-session", "-t", self.session], capture_output=True)

    def pane(self) -> Lines:
        try:
            return tmux("capture-pane", "-t", self.session, "-p").splitlines()
        except TmuxFailed:
            return []

    def keys(self, *keys: str) -> None:
        for key in keys:
            tmux("send-keys", "-t", self.session, key)
            time.sleep(0.15)

    def leave_field(self) -> None:
        """Escape out of a text field, and wait until it is left (a key sent at once would read as alt+key)."""
        self.keys("Escape")
        self.wait("the field to be left", lambda t: "Esc leave the field" not in t, 5)
        time.sleep(0.5)

    def wait(self, what: str, found: Callable[[str], bool], timeout: float) -> Lines:
        """The pane once `found(text)` holds; StageFailed (with the pane saved) when it does not in time."""
        deadline = time.monotonic() + timeout
        while True:
            lines = self.pane()
            if found("\n".join(lines)):
                return lines
            if time.monotonic() > deadline:
                self.capture(f"timeout-{re.sub(r'[^a-z0-9]+', '-', what.lower())}", lines)
                raise StageFailed(f"waited {timeout:.0f} s for {what}")
            time.sleep(0.25)

    # -- captures and checks -----------------------------------------------------------------------
    def capture(self, name: str, lines: Lines | None = None) -> Lines:
        """Save the pane and check it for the defects any screen can have."""
        lines = self.pane() if lines is None else lines
        self.shots += 1
        (self.out / f"{self.stage}-{self.shots:02d}-{name}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        where = f"{self.stage}/{name}"
        crashed = any(  # the app's own (plain, or rich's framed one), not a step's inside the log panel
            x.lstrip().startswith("Traceback (most recent call last)")
            or (x.lstrip().startswith("╭") and "Traceback (most recent call last)" in x)
            for x in lines
        )
        self.check(f"{where}: no traceback from the app", not crashed)
        cut = self.cut_footer(lines)
        self.check(f"{where}: footer shows whole labels", cut is None, f"ends with {cut!r}")
        covered = self.toast_over_content(lines)
        self.check(f"{where}: no notification covers the content", covered is None, f"under it: {covered!r}")
        return lines

    def cut_footer(self, lines: Lines) -> str | None:
        """The footer's end when a label is cut short (`^q Qui▏`), a key lost its label (`… ^▏`) or the palette
        key at the right is garbled; else None."""
        if not lines:
            return None
        left, _, right = lines[-1].partition("▏")
        if right and right.strip() != "^p Palette":
            return right.strip()
        left = left.rstrip()
        last = left.split(" ")[-1] if left else ""
        if not last or last in self.words or last in ("?", "Keys"):
            return None
        if last.startswith("^") or any(w.startswith(last) for w in self.words):
            return left[-20:]
        return None

    def toast_over_content(self, lines: Lines) -> str | None:
        """Text a notification hides: a notification is a column of `▌` (two or more lines, right of the first
        third); it covers content where a line holds other text left of it."""
        columns: dict[int, list[int]] = {}
        for row, line in enumerate(lines[1:-1], start=1):
            for match in re.finditer("▌", line):
                if match.start() >= self.width // 3:
                    columns.setdefault(match.start(), []).append(row)
        for column, rows in columns.items():
            if len(rows) < 2:
                continue
            for row in rows:
                under = lines[row][:column].strip()
                if under:
                    return under[-40:]
        return None

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        print(f"{'PASS' if ok else 'FAIL'} {self.size} {name}" + ("" if ok or not detail else f": {detail}"),
              flush=True)  # fmt: skip
        self.failed += not ok
        return ok


def flat(lines: Lines) -> str:
    """The pane's words in order, without box drawing, wrapped lines joined."""
    return " ".join(re.sub(r"[│╭╮╰╯─▔▁▊▎█▌▐▀▄]", " ", line).strip() for line in lines).replace("  ", " ")


# ---------------------------------------------------------------- the stages


def stage_demo(w: Walk, labs: Path, timeout: float) -> None:
    lab = labs / "demo"
    lab.mkdir(exist_ok=True)
    (lab / "lab.toml").write_text(WORKSPACE)  # for the upload stage; the pipeline does not read it
    w.start("demo", lab)
    w.capture("checklist", w.wait("the checklist", lambda t: "Steps (Enter acts" in t, 30))
    w.keys("r")
    w.capture("started", w.wait("the run to start", lambda t: bool(STATUS_LINE.search(t.split("\n", 2)[1])), 60))
    lines = w.wait(
        "the run to end", lambda t: re.search(r"· (done|failed|cancelled)\b", t.split("\n", 2)[1]) is not None, timeout
    )
    w.capture("finished", lines)
    w.check("demo: the run is done", " · done" in lines[1], lines[1].strip())
    w.keys("1")
    lines = w.capture("checklist-after", w.wait("the checklist", lambda t: "Steps (Enter acts" in t, 15))
    w.check("demo: the checklist marks Optimize done", any("✔ Optimize" in line for line in lines))


def stage_upload(w: Walk, labs: Path, timeout: float) -> None:
    from engine.paths import LabPaths
    from engine.runs.models import default_model

    lab = labs / "demo"
    if default_model(LabPaths.at(lab)) is None:  # the model the upload form offers first
        raise StageFailed("no finished run to upload (run the demo stage first)")
    nothing = labs / "empty-bin"  # a PATH without the Azure CLI
    nothing.mkdir(exist_ok=True)
    w.start("upload", lab, {"PATH": str(nothing), "HTTPS_PROXY": REFUSED, "HTTP_PROXY": REFUSED, "NO_PROXY": ""})
    w.keys("u")
    w.capture("form", w.wait("the upload form", lambda t: "Upload to Azure ML:" in t, 20))
    w.keys("C-s")
    lines = w.wait("the confirmation", lambda t: "Send (y)" in t or "Not sent:" in t, 30)
    w.capture("confirm", lines)
    if "Send (y)" in "\n".join(lines):
        w.keys("y")
    outcome = ("Upload failed", "Not sent:", "To sign in, open", "registered", "network")
    try:  # offline, the sign-in fails within a minute; an outcome below the screen's edge is not seen
        lines = w.wait("the upload's outcome", lambda t: any(s in t for s in outcome), 120)
    except StageFailed:
        w.check("upload: the outcome shows on the screen", False, "nothing after 120 s (below the edge?)")
        return
    lines = w.capture("outcome", lines)
    text = flat(lines)
    offline = any(
        s in text for s in ("connect to proxy", "Connection refused", "Failed to resolve", "Unable to connect")
    )
    w.check(
        "upload: a network failure is not called 'not signed in'",
        not (offline and "not signed in" in text.lower()),
        text[text.lower().find("not signed in") :][:100],
    )
    w.check(
        "upload: the outcome says what to do next",
        any(s in text for s in ("az login", "To sign in, open", "check the connection", "network")),
        text[-160:],
    )


def stage_cancel(w: Walk, labs: Path, timeout: float) -> None:
    lab = labs / f"cancel-{w.size}"
    lab.mkdir(exist_ok=True)
    w.start("cancel", lab)
    w.wait("the checklist", lambda t: "Steps (Enter acts" in t, 30)
    w.keys("r")
    w.wait("a running step", lambda t: " · running" in t.split("\n", 2)[1] and "▶" in t, 120)
    w.keys("c")
    w.capture("confirm", w.wait("the cancel question", lambda t: "Cancel the run" in t, 15))
    asked = time.monotonic()
    w.keys("y")
    lines = w.wait("the run to be cancelled", lambda t: "· cancelled" in t.split("\n", 2)[1], 60)
    took = time.monotonic() - asked
    lines = w.capture("cancelled", lines)
    w.check("cancel: the run ends cancelled within 10 s", took <= 10, f"{took:.1f} s")
    w.check("cancel: no step is still shown running", not any(re.search(r"▶ \w+ +running", x) for x in lines))


def stage_qa(w: Walk, labs: Path, timeout: float) -> None:
    import json

    lab = labs / f"qa-{w.size}"
    lab.mkdir(exist_ok=True)
    (lab / "qa.jsonl").write_text("".join(json.dumps({"question": q, "answer": a}) + "\n" for q, a in QA_LINES))
    (lab / "lab.toml").write_text('[dataset]\npath = "qa.jsonl"\n')
    w.start("qa", lab)
    lines = w.capture("checklist", w.wait("the dataset's verdict", lambda t: "Enter sets" in t or "problem" in t, 30))
    w.check("qa: the checklist offers the records' own field names", "prompt_field='question'" in flat(lines))
    w.keys("2")
    lines = w.capture("dataset", w.wait("the problem list", lambda t: "Problems (" in t, 30))
    text = flat(lines)
    w.check(
        "qa: JSON records are not called 'not JSONL'", "not look like JSONL" not in text and "not JSONL" not in text
    )
    w.check("qa: the problems say the lines are JSON objects", "are JSON objects" in text, text[:120])
    w.keys("1")
    w.wait("the checklist", lambda t: "Steps (Enter acts" in t, 15)
    w.keys("Enter")
    w.capture("steps", w.wait("Steps with the field names", lambda t: "question" in t and "prompt_field" in t, 20))
    w.keys("C-s")
    w.capture("saved", w.wait("the save", lambda t: "Saved to" in t or "Not saved" in t, 15))
    saved = (lab / "lab.toml").read_text()
    w.check("qa: lab.toml names the records' fields", 'prompt_field = "question"' in saved, saved.replace("\n", " | "))
    w.leave_field()
    w.keys("2")
    lines = w.wait("the records as rows", lambda t: "✘ bad" not in t and "Statistics" in t and "records" in t, 30)
    lines = w.capture("dataset-after", lines)
    if w.width < 110:  # the narrow table shows the two fields side by side
        header = next((x for x in lines if "⏵" in x and "v: as trained" in x), "")
        w.check("qa: the table header names the configured fields", "question ⏵ answer" in header, header.strip())
    w.check("qa: the statistics count the records", f"{len(QA_LINES)} records" in flat(lines))


def stage_typo(w: Walk, labs: Path, timeout: float) -> None:
    lab = labs / f"typo-{w.size}"
    lab.mkdir(exist_ok=True)
    (lab / "lab.toml").write_text(TYPO_TOML)
    w.start("typo", lab)
    w.wait("the checklist", lambda t: "Steps (Enter acts" in t, 30)
    try:  # the checklist is where a broken lab.toml is said to show
        lines = w.wait("the checklist to name lab.toml", lambda t: "lab.toml" in t.split("This machine")[0], 15)
    except StageFailed:
        lines = w.pane()
    text = flat(lines)
    w.check("typo: the checklist names lab.toml and the line", "lab.toml" in text and "line 2" in text, text[:160])
    w.keys("3")
    w.wait("Steps", lambda t: "Model and profile" in t, 15)
    w.leave_field()
    w.keys("C-s")
    saved = ("Saved to", "Not saved", "not saved", "Could not")
    try:
        lines = w.wait("an answer to ctrl+s", lambda t: any(s in t for s in saved), 8)
    except StageFailed:
        lines = w.pane()
    lines = w.capture("after-save", lines)
    w.check("typo: ctrl+s does not say 'Saved to lab.toml' over a broken file", "Saved to" not in flat(lines))
    w.stop()  # what the app writes on its way out counts too
    kept = (lab / "lab.toml").read_text()
    w.check("typo: the user's lab.toml is kept as typed", "max_steps = 2o" in kept, kept.replace("\n", " | "))


def stage_sweep(w: Walk, labs: Path, timeout: float) -> None:
    """A two-branch sweep started on Steps (ctrl+b), watched side by side, compared, its best branch chatted with
    and exported, the checklist reading it: keys only."""
    lab = labs / f"sweep-{w.size}"
    lab.mkdir(exist_ok=True)
    (lab / "lab.toml").write_text("[quantize]\nenabled = false\n[evaluate]\nenabled = false\n")  # the fine-tunes only
    w.start("sweep", lab)
    w.keys("3")
    w.wait("Steps", lambda t: "Model and profile" in t, 15)
    w.leave_field()
    w.keys("C-b")
    w.capture("form", w.wait("the sweep form", lambda t: "SETTING=V1,V2" in t, 15))
    w.keys("4")
    lines = w.capture("planned", w.wait("the plan", lambda t: "2 branches" in t, 10))
    w.check("sweep: the form gives the command line", "olive-lab sweep --set finetune.lora_r=" in flat(lines))
    w.keys("Enter")
    w.capture(
        "started", w.wait("the branches side by side", lambda t: "sweep " in t and " of finetune.lora_r" in t, 30)
    )
    lines = w.wait("both branches done", lambda t: "best: lora_r-" in t, timeout)
    lines = w.capture("done", lines)
    best = re.search(r"best: (lora_r-\d+)", "\n".join(lines))
    w.check("sweep: the view names the best branch and marks it", best is not None and "★" in "\n".join(lines[2:]))
    w.keys("l", "+")
    w.capture("log-zoom", w.wait("the log scale", lambda t: "· log" in t and "newest 1/2" in t, 10))
    w.keys("0", "d")
    lines = w.capture("compare", w.wait("the comparison", lambda t: "A = " in t and "· lora_r-" in t, 20))
    w.keys("Escape")
    time.sleep(0.5)  # an Escape followed at once by a letter reads as alt+letter
    w.keys("b", "c")
    lines = w.wait("chat on the best branch", lambda t: "6 Chat" in t and ("branch" in t or "Loading" in t), 20)
    time.sleep(3)  # the fake model cannot answer: the chat then says why, naming the branch's folder
    lines = w.capture("chat", w.pane())
    if best:
        w.check("sweep: chat talks to the best branch", best.group(1) in flat(lines), flat(lines)[:200])
    w.keys("4")
    w.wait("the branches again", lambda t: "best: lora_r-" in t, 10)
    w.keys("x")
    w.wait("the export form", lambda t: "Export run" in t, 10)
    w.keys("Enter")
    lines = w.capture("exported", w.wait("the export", lambda t: "exported" in t or "not exported" in t, 30))
    w.check("sweep: the export wrote a model card", any(lab.glob("exports/*/README.md")), flat(lines)[-200:])
    w.keys("Escape")
    time.sleep(0.5)
    w.keys("Escape")
    time.sleep(0.5)
    w.keys("1")
    lines = w.capture("checklist", w.wait("the checklist", lambda t: "2 of 2 branches done" in t, 15))
    w.check("sweep: the checklist marks Fine-tune done", any("✔ Fine-tune" in line for line in lines))


STAGES: dict[str, Callable[[Walk, Path, float], None]] = {
    "demo": stage_demo, "upload": stage_upload, "cancel": stage_cancel, "qa": stage_qa, "typo": stage_typo,
    "sweep": stage_sweep,
}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fake-olive", action="store_true", help="Olive's steps by tests/fakes/fake_olive.py (fast)")
    parser.add_argument("--sizes", default="80x24,120x40", help="terminal sizes, WIDTHxHEIGHT, comma-separated")
    parser.add_argument("--stages", default=",".join(STAGES), help=f"comma-separated, of {', '.join(STAGES)}")
    parser.add_argument("--out", default=None, help="folder for the panes and labs (default: walk-<time>/)")
    parser.add_argument(
        "--timeout", type=float, default=None, help="seconds a pipeline may take (default 1500; 600 fake)"
    )
    args = parser.parse_args(argv)
    if subprocess.run(["tmux", "-V"], capture_output=True).returncode != 0:
        print("walk: tmux is not installed", file=sys.stderr)
        return 2
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        parser.error(f"unknown stage(s): {', '.join(unknown)}")
    out = Path(args.out or ROOT / f"walk-{time.strftime('%Y%m%d-%H%M%S')}").resolve()
    labs = out / "labs"
    labs.mkdir(parents=True, exist_ok=True)
    env = {"PYTHONPATH": str(ROOT), "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HF_HUB_OFFLINE": "1",
           "OLIVE_DISABLE_TELEMETRY": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}  # fmt: skip
    if args.fake_olive:
        env["OLIVE_LAB_OLIVE"] = f"{sys.executable} {FAKE_OLIVE}"
    timeout = args.timeout or (600.0 if args.fake_olive else 1500.0)
    words = footer_words()
    failed = 0
    for size in args.sizes.split(","):
        width, height = (int(n) for n in size.lower().split("x"))
        walk = Walk(out, width, height, env, words)
        for stage in stages:
            try:
                STAGES[stage](walk, labs, timeout)
            except StageFailed as exc:
                walk.check(f"{stage}: the walk went on", False, str(exc))
            finally:
                walk.stop()
        failed += walk.failed
    subprocess.run(["tmux", "-L", SOCKET, "kill-server"], capture_output=True)
    print(f"walk: {failed} check(s) failed; panes in {out}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
