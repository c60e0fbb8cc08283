"""Upload to Azure ML: pick a finished run's ONNX folder, say where it goes, confirm what will be sent (with
the equivalent `az ml model create` command), then watch the register step run as a supervised run of its
own (so it survives the app closing) until its result: the model's id and its studio link.

The form starts from the last use (`[registration]` and `[azure]` of lab.toml, saved when an upload starts).
The sign-in box says how the step will sign in, and shows a device code's URL and code when the step asks
for one; nothing is printed over the screen. All the work is the engine's; this screen only draws it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Input, Label, Select, Static
from textual.worker import get_current_worker

from engine.config import save_config
from engine.durations import format_duration
from engine.errors import OliveLabError
from tui import keymap
from tui.screens.confirm import ConfirmScreen
from tui.screens.steps_fields import error_text

if TYPE_CHECKING:
    from engine.runs.state import RunState
    from engine.runs.watch import RunDigest, RunUpdate
    from tui.app import OliveLabApp

FIELDS = (  # (setting, the form's title, its lab.toml table, the command line's flag for it)
    ("name", "Model name", "registration", "--name"),
    ("version", "Version", "registration", "--version"),
    ("subscription_id", "Subscription", "azure", "--subscription"),
    ("resource_group", "Resource group", "azure", "--resource-group"),
    ("workspace_name", "Workspace / project", "azure", "--workspace"),
)


def in_form_words(text: str) -> str:
    """The engine's hints name the command line's flags; on this screen they are the form's fields."""
    text = re.sub(r"\bpass (--[\w-]+(?: and --[\w-]+)*)", r"fill in \1", text)  # pass --a and --b
    text = re.sub(r"\buse (--[\w-]+) (\S+)", r"set \1 to \2", text)  # use --version 3
    for _key, title, _section, flag in FIELDS:
        text = re.sub(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", f'the "{title}" field', text)
    return text


def last_upload(lab: Any) -> Path | None:
    """The newest upload run of this screen or `olive-lab upload` (a run of the register step alone)."""
    from engine.runs.state import iter_runs

    for entry in iter_runs(lab.runs):
        if entry.state is not None and [s.name for s in entry.state.steps] == ["register"]:
            return entry.dir
    return None


@dataclass
class Planned(Message):
    config: Any  # the LabConfig the upload run will start with
    question: str


@dataclass
class Refused(Message):
    text: str


@dataclass
class UploadUpdated(Message):
    """What changed in the followed upload run (engine.runs.watch.RunWatcher, read in a worker)."""

    run_dir: Path
    update: RunUpdate
    ended: str | None = None  # the run's status once it has ended


@dataclass
class Started(Message):
    run_dir: Path


def finished_runs(lab: Any) -> list[tuple[str, Path]]:
    """(label, ONNX folder) of each finished model, newest first: runs and sweep branches (engine.runs.select)."""
    from engine.runs.models import finished_models

    out = []
    for model in finished_models(lab):
        files = [p for p in model.model_dir.rglob("*") if p.is_file()]
        size = sum(p.stat().st_size for p in files) / 2**20
        out.append((f"{model.label.removeprefix('run ')} · {size:.1f} MiB, {len(files)} files", model.model_dir))
    return out


def sign_in_text(config: Any) -> str:
    from engine.azure.auth import SignInMethod, choose_method

    method = choose_method(SignInMethod(config.azure.sign_in))
    return {
        SignInMethod.ENV: "Sign-in: a service principal from the environment (AZURE_CLIENT_ID …)",
        SignInMethod.CLI: "Sign-in: your Azure CLI login (`az login`)",
        SignInMethod.WORKLOAD: "Sign-in: workload identity (AZURE_FEDERATED_TOKEN_FILE)",
        SignInMethod.MANAGED: "Sign-in: this machine's managed identity",
        SignInMethod.DEVICE: "Sign-in: a device code; its URL and code will show here when the upload starts",
    }[method]


class UploadScreen(Screen[None]):
    BINDINGS = keymap.bindings("upload")
    DEFAULT_CSS = """
    UploadScreen #upload-body { padding: 0 1; }
    UploadScreen .upload-row { height: auto; }
    UploadScreen .upload-row Label { width: 22; padding: 0 1 0 0; }
    UploadScreen .upload-row Input { width: 1fr; }
    UploadScreen #upload-files, UploadScreen #upload-signin { color: $text-muted; margin: 0 0 1 0; }
    UploadScreen #upload-progress { margin: 1 0 0 0; }
    UploadScreen #upload-result { margin: 0 0 1 0; display: none; }
    UploadScreen #upload-result.-said { display: block; }
    """

    def __init__(self, model_dir: Path | None = None) -> None:
        """`model_dir`: the model chosen first (a sweep branch's, say); default the newest."""
        super().__init__()
        self.folders: dict[str, Path] = {}
        self.run_dir: Path | None = None
        self.chosen = model_dir

    @property
    def lab_app(self) -> OliveLabApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        config = self.lab_app.config
        runs = finished_runs(self.lab_app.lab)
        self.folders = {label: folder for label, folder in runs}
        with VerticalScroll(id="upload-body"):
            yield Static("[b]Upload to Azure ML[/b]: register a model folder in a workspace's model registry")
            yield Static("", id="upload-result", markup=False)  # first: at 80x24 the form's end is off screen
            options = [(label, label) for label, _ in runs]
            first = next((label for label, folder in runs if folder == self.chosen), options[0][1] if options else None)
            yield Select(options, prompt="No finished run yet", allow_blank=not options, id="upload-run",
                         value=first if first is not None else Select.NULL)  # fmt: skip
            yield Static("", id="upload-files", markup=False)
            for key, title, section, _flag in FIELDS:
                with Horizontal(classes="upload-row"):
                    yield Label(title)
                    yield Input(str(getattr(getattr(config, section), key)), id=f"upload-{key}", compact=True)
            yield Static(sign_in_text(config), id="upload-signin", markup=False)
            keys = {spec: keymap.key_label(self.app, f"upload.{spec}") for spec in ("send", "cancel", "close")}
            yield Static(f"{keys['send']}: check and send · {keys['cancel']}: cancel the upload · "
                         f"{keys['close']}: back · Tab: next box", id="upload-help", markup=False)  # fmt: skip
            yield Static("", id="upload-progress", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.show_files()
        last = last_upload(self.lab_app.lab)  # the last attempt: its result, or its progress if it goes on
        if last is not None:
            self.follow(last, announce=False)

    def say(self, text: str) -> None:
        """The result, at the top of the screen and scrolled into view."""
        box = self.query_one("#upload-result", Static)
        box.update(text)
        box.set_class(bool(text), "-said")  # hidden while there is nothing to say (`:empty` means no children)
        self.call_after_refresh(box.scroll_visible, animate=False)

    @on(Select.Changed, "#upload-run")
    def show_files(self) -> None:
        folder = self.chosen_folder()
        box = self.query_one("#upload-files", Static)
        if folder is None:
            box.update("Finish a run (r on the checklist) to have an ONNX model to upload.")
            return
        files = sorted(p for p in folder.rglob("*") if p.is_file())
        lines = [f"  {p.relative_to(folder)}  {p.stat().st_size / 2**20:.1f} MiB" for p in files[:8]]
        more = f"\n  … and {len(files) - 8} more" if len(files) > 8 else ""
        box.update(f"{folder}\n" + "\n".join(lines) + more)

    def chosen_folder(self) -> Path | None:
        value = self.query_one("#upload-run", Select).value
        return self.folders.get(str(value)) if value is not Select.NULL else None

    def form_config(self) -> Any:
        config = self.lab_app.config.model_copy(deep=True)
        for key, _title, section, _flag in FIELDS:
            setattr(getattr(config, section), key, self.query_one(f"#upload-{key}", Input).value.strip())
        return config

    # -- check, confirm, start ---------------------------------------------------------------------
    def action_send(self) -> None:
        folder = self.chosen_folder()
        if folder is None:
            self.notify("No finished run to upload", severity="warning")
            return
        try:
            config = self.form_config()
        except ValidationError as exc:  # the settings' own check of a name or version (Azure ML's asset rules)
            self.say(f"Not sent: {error_text(exc.errors()[0])}")
            return
        self.plan(config, folder)

    @work(thread=True, exclusive=True, group="upload-plan", exit_on_error=False, description="Checking the upload")
    def plan(self, config: Any, folder: Path) -> None:
        from engine.azure.register import RegisterRequest, plan
        from engine.azure.workspace import WorkspaceRef
        from engine.runs.preflight import register_problems

        r = config.registration
        r.enabled, r.folder, r.provenance_run = True, str(folder), str(folder.parent.parent)
        problems = register_problems(self.lab_app.lab, config)
        if problems:
            self.post_message(Refused("; ".join(problems)))
            return
        az = config.azure
        ws = WorkspaceRef(subscription_id=az.subscription_id, resource_group=az.resource_group,
                          workspace_name=az.workspace_name)  # fmt: skip
        try:
            shown = plan(RegisterRequest(folder=folder, name=r.name, version=r.version, workspace=ws))
        except OliveLabError as exc:
            self.post_message(Refused(exc.full()))
            return
        question = (
            f"Register {r.name} version {r.version}: {shown.files} files, {shown.total_bytes / 2**20:.1f} MiB,\n"
            f"into {ws.workspace_name} (resource group {ws.resource_group})?\n\nThe same as:\n{shown.az_command}"
        )
        self.post_message(Planned(config, question))

    @on(Refused)
    def _refused(self, message: Refused) -> None:
        self.say(f"Not sent: {in_form_words(message.text)}")

    @on(Planned)
    def _planned(self, message: Planned) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                self.start(message.config)

        self.app.push_screen(ConfirmScreen(message.question, yes="Send", no="Not now"), answered)

    @work(thread=True, exclusive=True, group="upload-start", exit_on_error=False, description="Starting the upload")
    def start(self, config: Any) -> None:
        from engine.runs.control import start_run

        before = self.lab_app.config
        saved = before.model_copy(deep=True)  # the form's values become the next defaults
        saved.registration.name, saved.registration.version = config.registration.name, config.registration.version
        saved.azure = config.azure
        try:
            saved = save_config(self.lab_app.lab, saved, based_on=before)
            self.app.call_from_thread(self.lab_app.set_config, saved)
            run_id = start_run(self.lab_app.lab, config, only=["register"], check=False, allow_concurrent=True)
        except Exception as exc:  # the engine's reason is what the user needs
            self.post_message(Refused(str(exc)))
            return
        self.post_message(Started(self.lab_app.lab.run_dir(run_id)))

    @on(Started)
    def _started(self, message: Started) -> None:
        self.follow(message.run_dir)

    # -- follow the register step ------------------------------------------------------------------
    _state: RunState | None = None
    _announced = False
    digest: RunDigest  # what the followed run's events say so far (its device-code prompt)

    def follow(self, run_dir: Path, *, announce: bool = True) -> None:
        """Follow an upload run through the one follower, in a worker; a run that already ended only shows its
        result (`announce`: say at once that it goes on)."""
        from engine.runs.watch import RunDigest

        self.run_dir, self._state, self._announced, self.digest = run_dir, None, announce, RunDigest()
        if announce:
            self.say(f"Uploading as run {run_dir.name}…")
        self._watch_upload(run_dir)

    @work(thread=True, exclusive=True, group="upload-watch", exit_on_error=False, name="upload watcher")
    def _watch_upload(self, run_dir: Path) -> None:
        from engine.runs.state import ENDED_RUN, effective_status
        from engine.runs.watch import RunWatcher

        worker = get_current_worker()
        watcher = RunWatcher(run_dir, backlog_bytes=64 * 1024, read_bytes=256 * 1024)  # the log is not shown here
        while not worker.is_cancelled:
            update = watcher.poll()
            status = effective_status(watcher.state) if watcher.state is not None else None
            ended = status if status in ENDED_RUN else None
            if update or ended:
                self.post_message(UploadUpdated(run_dir, update, ended))
            if ended:
                return
            worker.cancelled_event.wait(0.5)

    @on(UploadUpdated)
    def _updated(self, message: UploadUpdated) -> None:
        from tui.widgets.run_text import sign_in_line

        if message.run_dir != self.run_dir:
            return
        self.digest.apply(message.update.events)
        self._state = message.update.state or self._state
        if self._state is None:
            return
        step = self._state.step("register")
        p = step.progress
        if p is not None and p.total:
            rate = f", {p.rate:.1f} MiB/s" if p.rate else ""
            eta = f", {format_duration(p.eta_s)} left" if p.eta_s is not None else ""
            self.query_one("#upload-progress", Static).update(
                f"{step.current_pass or 'upload'}: {p.n}/{p.total} MiB ({100 * p.n // p.total}%){rate}{eta}"
            )
        code = self.digest.sign_in.get("register")  # the step's device-code prompt
        if code is not None and step.status == "running":
            self.query_one("#upload-signin", Static).update(sign_in_line(code))
        if message.ended:
            self.finish(message.ended, step.reason)
        elif not self._announced:  # the last upload goes on: say so
            self._announced = True
            self.say(f"Uploading as run {self.run_dir.name}…")

    def finish(self, status: str, reason: str | None) -> None:
        from engine.azure.register import read_result

        assert self.run_dir is not None
        when = f" (run {self.run_dir.name})"
        try:
            r = read_result(self.run_dir / "register" / "output") if status == "done" else None
        except OliveLabError as exc:
            r, reason = None, exc.full()
        if r is not None:
            self.say(f"Registered {r.name} version {r.version}{when}\nid: {r.model_id}\n"
                     f"studio: {r.studio_url}\n\n{r.az_command}")  # fmt: skip
            self.query_one("#upload-progress", Static).update("upload: done")
        else:
            self.say(f"Upload {status}{when}: {in_form_words(reason or 'see the run log')}")
        self.run_dir = None

    @work(thread=True, exclusive=True, group="upload-cancel", exit_on_error=False, description="Cancelling")
    def action_cancel_upload(self) -> None:
        from engine.runs.control import cancel_run

        if self.run_dir is not None:
            cancel_run(self.lab_app.lab, self.run_dir.name)

    def action_close(self) -> None:
        self.app.pop_screen()
