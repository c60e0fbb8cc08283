"""The steps screen: every setting of the lab as a form, checked as you type, with the exact command.

The form keeps what the user typed even when it is invalid; the settings model decides what is valid and
its messages are shown under the field. Nothing is written until Save (ctrl+s). While lab.toml cannot be
read, a line above the form says so, and what the form shows instead; a save is then refused.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from textual import on
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Input, Select, Static

from engine.config import (
    LabConfig,
    LabConfigError,
    build_config,
    changed_settings,
    field_help,
    profile_defaults,
    save_config,
)
from engine.errors import OliveLabError
from engine.runs.state import read_state
from tui import keymap
from tui.screens.run_on import COMPUTE_STEPS, ComputeLoader, pick_run_on, run_on_help
from tui.screens.steps_fields import (
    LAB_SKIP,
    SECTIONS,
    STEP_SKIP,
    env_tables,
    error_text,
    field_warnings,
    form_values,
)
from tui.widgets.command_panel import CommandPanel
from tui.widgets.form import FieldRow, FieldSpec, field_specs, to_text
from tui.widgets.mode_bar import ModeBar
from tui.widgets.run_picker import RunPicker
from tui.widgets.settings_problem import SettingsProblem

if TYPE_CHECKING:
    from tui.app import OliveLabApp

log = logging.getLogger("olive_lab.steps")


async def propose_fields(app: OliveLabApp, suggested: dict[str, str], path: str | None = None) -> None:
    """Open Steps with the field names the records use (and the template's placeholders renamed to match)
    filled in, unsaved: the user sees them and saves with ctrl+s. `path` is the file whose records they are
    (as the user wrote it); when it is not the dataset in the settings, it is filled in too."""
    config = app.config
    ds = config.dataset
    roles = {ds.prompt_field: "prompt_field", ds.response_field: "response_field"}
    values: dict[str, str] = {}
    if path is not None and app.lab.resolve(path) != app.lab.resolve(ds.path):
        values["dataset.path"] = path
    values.update({f"dataset.{roles[k]}": v for k, v in suggested.items() if k in roles})
    template = config.finetune.text_template
    for old, new in suggested.items():
        template = template.replace("{" + old + "}", "{" + new + "}")
    if template != config.finetune.text_template:
        values["finetune.text_template"] = template
    await app.switch_mode("steps")
    screen = app.screen
    if isinstance(screen, StepsScreen):
        screen.propose(values)


class StepsScreen(Screen[None]):
    """Forms for the model, the dataset and each step; the command line under them updates live."""

    SCOPE = "steps"
    BINDINGS = keymap.bindings("steps")
    compute_loader: ComputeLoader | None = None
    """Lists the workspace's clusters for the "run on" picker (None: the engine's); a test gives its own."""

    def __init__(self) -> None:
        super().__init__()
        self.errors: dict[str, str] = {}
        """Current validation messages by `section.field`."""
        self.valid_config: LabConfig | None = None
        """The form's settings when they last validated."""
        self._in_force: LabConfig | None = None
        """The settings in force when the form last heard of them."""
        self._base: LabConfig | None = None
        """The settings in force the form was last filled with: a save writes what the form changes from them."""
        self._quiet = False
        self._check_due = False
        self._tables: dict[str, dict[str, str]] | None = None
        """The [<step>.env] tables of the settings shown: not form fields, but saved with them."""

    @property
    def lab_app(self) -> OliveLabApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        values = form_values(self.lab_app.config)
        yield ModeBar("steps")
        yield SettingsProblem(id="steps-problem")
        with VerticalScroll(id="steps-form"):
            for section, title, model in SECTIONS:
                yield Static(title, classes="section-title")
                help_text = run_on_help(self.app, field_help(section))
                for spec in field_specs(section, model, help_text, skip=LAB_SKIP if section == "lab" else STEP_SKIP):
                    yield FieldRow(spec, values[spec.key])
        yield CommandPanel(id="command")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#command").border_title = "Command"
        self._in_force = self._base = self.lab_app.config
        self.lab_app.config_changed_signal.subscribe(self, self._config_changed)
        self.lab_app.config_error_signal.subscribe(self, lambda error: self._show_problem())
        self.lab_app.edit_holders.append(self)
        self.validate()  # marks every row, valid or not
        self._show_problem()

    def on_screen_resume(self) -> None:
        self._show_problem()

    def _show_problem(self) -> None:
        """Whether lab.toml reads: if not, the line above the form says why and what the form shows instead."""
        app, problem = self.lab_app, self.query_one(SettingsProblem)
        defaults = bool(app.config_error) and app.config.model_dump() == build_config("demo").model_dump()
        save_key = keymap.key_label(self.app, "steps.save")
        problem.show(app.config_error, file_name=app.lab.config.name, defaults=defaults, save_key=save_key)

    def on_unmount(self) -> None:
        if self in self.lab_app.edit_holders:
            self.lab_app.edit_holders.remove(self)

    def unsaved_fields(self) -> list[str]:
        """The fields whose text differs from the saved settings (`section.field`)."""
        saved = form_values(self.lab_app.config)
        changed = []
        for key, row in self.rows().items():
            if to_text(row.raw_value()) != to_text(saved[key]):
                changed.append(key)
        return changed

    def unsaved_text(self) -> str | None:
        changed = self.unsaved_fields()
        if not changed:
            return None
        save_key = keymap.key_label(self.app, "steps.save")
        return f"Unsaved edits on Steps: {', '.join(changed)} ({save_key} on Steps saves them)."

    # -- reading and checking the form -------------------------------------------------------------

    def rows(self) -> dict[str, FieldRow]:
        return {row.spec.key: row for row in self.query(FieldRow)}

    def kept(self) -> dict[str, Any]:
        """Settings this screen has no form for (keys, the upload screen's Azure ones): carried over as they are."""
        config = self.lab_app.config
        return {
            "keys": dict(config.keys),
            "registration": config.registration.model_dump(),
            "azure": config.azure.model_dump(),
            "evaluate": config.evaluate.model_dump(),
        }

    def draft(self) -> dict[str, Any]:
        """The form as nested settings data, exactly as typed (pydantic coerces and checks it)."""
        data: dict[str, Any] = self.kept()
        shown = self._tables if self._tables is not None else env_tables(self.lab_app.config)
        for section, env in shown.items():
            data.setdefault(section, {})["env"] = dict(env)
        for key, row in self.rows().items():
            section, name = key.split(".", 1)
            if section == "lab":
                data[name] = row.raw_value()
            else:
                data.setdefault(section, {})[name] = row.raw_value()
        return data

    def validate(self) -> LabConfig | None:
        """Check the whole form; mark invalid fields red with the model's message."""
        errors: dict[str, str] = {}
        config: LabConfig | None = None
        try:
            config = LabConfig.model_validate(self.draft())
        except ValidationError as exc:
            for err in exc.errors():
                loc = [str(p) for p in err["loc"]]
                key = f"{loc[0]}.{loc[1]}" if len(loc) > 1 else f"lab.{loc[0]}"
                errors.setdefault(key, error_text(err))
        warnings = field_warnings(self.lab_app.lab, config) if config is not None else {}
        for key, row in self.rows().items():
            row.show_error(errors.get(key), warning=warnings.get(key))
        self.errors = errors
        if config is not None:
            self.valid_config = config
        self._show_command()
        return config

    def _show_command(self) -> None:
        self.query_one(CommandPanel).show(self.valid_config or self.lab_app.config, self.lab_app.lab, self.errors)

    @on(Input.Changed)
    @on(Select.Changed)
    def _changed(self, event: Input.Changed | Select.Changed) -> None:
        if self._quiet:
            return
        if isinstance(event, Select.Changed) and event.select.id == "field--lab--profile":
            self._profile_changed(event.value)
            return
        self._check_soon()

    def _check_soon(self) -> None:
        """One check for a burst of changes (the form filled, a paste, fast typing), once they are all in."""
        if not self._check_due:
            self._check_due = True
            self.call_after_refresh(self._check)

    def _check(self) -> None:
        self._check_due = False
        self.validate()

    def on_descendant_focus(self, event: Any) -> None:
        row = self._focused_row()
        command = self.query_one(CommandPanel)
        if row is not None and row.spec.section != command.section:
            command.section = row.spec.section
            self._show_command()

    def _focused_row(self) -> FieldRow | None:
        node = self.focused
        while node is not None and not isinstance(node, FieldRow):
            node = node.parent  # type: ignore[assignment]
        return node

    # -- changing values -----------------------------------------------------------------------------

    def fill(self, config: LabConfig) -> None:
        """Put `config` into the form (replacing what is there) and check it."""
        self._quiet = True
        self._tables = env_tables(config)
        try:
            values = form_values(config)
            for key, row in self.rows().items():
                row.set_value(values[key])
        finally:
            self._quiet = False
        self.call_after_refresh(self.validate)

    def _profile_changed(self, profile: Any) -> None:
        """A new profile brings its defaults; settings the user changed stay changed."""
        previous = self.valid_config
        if previous is None or previous.profile == profile:
            self._check_soon()
            return
        try:
            config = build_config(str(profile), changed_settings(previous))
        except LabConfigError:
            config = build_config(str(profile))
        config = LabConfig.model_validate({**config.model_dump(), **self.kept()})
        self.fill(config)
        self.notify(f"Profile {profile}: its defaults are filled in; your changes are kept")

    def _config_changed(self, config: LabConfig) -> None:
        """New settings in force (saved, restored, or lab.toml reloaded): the form takes them unless it holds
        edits of its own (it showed the settings that were in force until now)."""
        previous, self._in_force = self._in_force, config
        self._show_problem()
        if self.valid_config is None or self.valid_config.model_dump() != config.model_dump():
            if not self.errors and self.valid_config == previous:
                self._show_in_force(config)

    def _show_in_force(self, config: LabConfig) -> None:
        """Fill the form with settings in force; its later edits are measured against them."""
        self._base = config
        self.fill(config)

    def drop_edits(self) -> None:
        """The user chose to drop the form's unsaved edits (lab.toml was reloaded): show the settings in force."""
        self._show_in_force(self.lab_app.config)

    # -- actions -------------------------------------------------------------------------------------

    def _compute_step(self) -> str | None:
        row = self._focused_row()
        return row.spec.section if row is not None and row.spec.section in COMPUTE_STEPS else None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return self._compute_step() is not None if action == "run_on" else True  # on a compute step's field

    def action_run_on(self) -> None:
        if (step := self._compute_step()) is not None:
            pick_run_on(self, (step,), self.rows(), self.compute_loader, self.validate)

    def action_run_all_on(self) -> None:
        pick_run_on(self, COMPUTE_STEPS, self.rows(), self.compute_loader, self.validate)

    def action_save(self) -> None:
        self.save_edits()

    def save_edits(self) -> bool:
        """Save the form (merged onto lab.toml); whether it was saved (if not, a toast says why)."""
        config = self.validate()
        if config is None:
            first = sorted(self.errors)[0]
            self.notify(
                f"Not saved: {len(self.errors)} field(s) need fixing, first {first}: {self.errors[first]}",
                severity="error",
            )
            return False
        path = self.lab_app.lab.config
        try:
            saved = save_config(self.lab_app.lab, config, based_on=self._base)
        except LabConfigError as exc:
            self.notify(f"Not saved: {exc.full()}", severity="error", timeout=30)
            return False
        except OSError as exc:
            self.notify(f"Could not write {path}: {exc.strerror}", severity="error")
            return False
        log.info("settings saved to %s", path)
        typed = form_values(config)
        kept = [k for k, v in form_values(saved).items() if to_text(v) != to_text(typed[k])]
        self.lab_app.set_config(saved)
        self._show_in_force(saved)
        outside = f"; kept what was changed outside the app: {', '.join(kept)}" if kept else ""
        self.notify(f"Saved to {path}{outside}", timeout=10 if kept else None)
        return True

    def propose(self, values: dict[str, str]) -> None:
        """Put values into the form (unsaved), focus the first of them and say how to keep them."""
        rows = self.rows()
        for key, value in values.items():
            rows[key].set_value(value)
        self.validate()
        if values:
            rows[next(iter(values))].control.focus()
            save_key = keymap.key_label(self.app, "steps.save")
            self.notify(f"{', '.join(values)} filled in from the records: {save_key} saves them", timeout=10)

    def action_copy_command(self) -> None:
        self.query_one(CommandPanel).copy(self.valid_config or self.lab_app.config, self.lab_app.lab)

    def action_expand_command(self) -> None:
        self.query_one(CommandPanel).toggle_class("-expanded")
        self._show_command()

    def action_sweep(self) -> None:
        """A sweep over the focused setting (or the LoRA rank): its values, then Enter starts it."""
        from tui.screens.sweep_start import SweepStartScreen

        row = self._focused_row()
        swept = row is not None and row.spec.section in ("finetune", "optimize")
        key = row.spec.key if row is not None and swept else "finetune.lora_r"
        section, name = key.split(".", 1)
        self.app.push_screen(SweepStartScreen(key, getattr(self.lab_app.config.step(section), name, None)))

    def action_reset_field(self) -> None:
        row = self._focused_row()
        if row is None:
            self.notify("Move to a field first (Tab), then reset it", severity="warning")
            return
        profile = (self.valid_config or self.lab_app.config).profile
        defaults = profile_defaults(profile)
        spec: FieldSpec = row.spec
        value = defaults[spec.name] if spec.section == "lab" else defaults[spec.section][spec.name]
        row.set_value(value)
        self.notify(f"{spec.key} reset to the {profile} default")

    def action_revert(self) -> None:
        self._show_in_force(self.lab_app.config)
        self.notify("Form reverted to the saved settings")

    def action_leave_field(self) -> None:
        self.query_one("#steps-form").focus()

    def action_restore_run(self) -> None:
        picker = RunPicker(self.lab_app.lab.runs, title="Restore the settings of which run? (Esc: none)")
        self.app.push_screen(picker, self._restore)

    def _restore(self, run_id: str | None) -> None:
        if not run_id:
            return
        from engine.runs.control import restore_config

        try:
            saved = read_state(self.lab_app.lab.run_dir(run_id)).config
        except OliveLabError as exc:
            self.notify(f"Cannot read run {run_id}: {exc.full()}", severity="error")
            return
        current = self.lab_app.config
        config = LabConfig.model_validate({**restore_config(saved, current).model_dump(), **self.kept()})
        self.fill(config)
        self.notify("Settings of that run are in the form; ctrl+s saves them to lab.toml")
