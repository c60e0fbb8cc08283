"""The lab's settings: typed step configs, the two profiles, and `lab.toml`.

Defaults live in one place (`profile_defaults`). `lab.toml` records the profile and only the settings the
user changed, so a profile's defaults can improve without rewriting anyone's file.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError

from engine.config_sections import (
    _CLUSTER_RE as _CLUSTER_RE,
)
from engine.config_sections import (
    DEFAULT_TEMPLATE as DEFAULT_TEMPLATE,
)
from engine.config_sections import (
    LOCAL as LOCAL,
)
from engine.config_sections import (
    MAX_MODEL_CHARS as MAX_MODEL_CHARS,
)
from engine.config_sections import (
    REMOTE_PREFIX as REMOTE_PREFIX,
)
from engine.config_sections import (
    RUN_ON_HELP as RUN_ON_HELP,
)
from engine.config_sections import (
    AzureConfig as AzureConfig,
)
from engine.config_sections import (
    DatasetConfig as DatasetConfig,
)
from engine.config_sections import (
    EvaluateConfig as EvaluateConfig,
)
from engine.config_sections import (
    FinetuneConfig as FinetuneConfig,
)
from engine.config_sections import (
    OptimizeConfig as OptimizeConfig,
)
from engine.config_sections import (
    QuantizeConfig as QuantizeConfig,
)
from engine.config_sections import (
    RegisterConfig as RegisterConfig,
)
from engine.config_sections import (
    StepEnv as StepEnv,
)
from engine.config_sections import (
    _RunOn as _RunOn,
)
from engine.config_sections import (  # re-exported: the sections are part of the settings' API
    _Section as _Section,
)
from engine.config_sections import (
    check_env as check_env,
)
from engine.config_sections import (
    check_run_on as check_run_on,
)
from engine.errors import OliveLabError
from engine.fs import NotAFileError, atomic_write_text, read_text_limited
from engine.paths import LabPaths

ProfileName = Literal["demo", "phi35"]
PROFILES: tuple[str, ...] = ("demo", "phi35")
STEP_NAMES: tuple[str, ...] = ("quantize", "finetune", "optimize")
STEP_SECTIONS: dict[str, str] = {"register": "registration"}  # `register` would shadow a pydantic name

DEMO_MODEL = "demo"
PHI35_MODEL = "microsoft/Phi-3.5-mini-instruct"


class LabConfigError(OliveLabError, ValueError):
    """A settings problem, with the file, the line (where it can be found) and the field it is about."""

    def __init__(
        self,
        message: str,
        *,
        path: Path | None = None,
        field: str | None = None,
        line: int | None = None,
        hint: str | None = None,
    ) -> None:
        self.path = path
        self.field = field
        self.line = line
        parts = [str(path) if path else "", f"line {line}" if line else "", f"field {field}" if field else ""]
        where = ", ".join(p for p in parts if p)
        super().__init__(f"{where}: {message}" if where else message, hint)


class LabConfig(_Section):
    profile: ProfileName = "demo"
    model: str = Field(
        DEMO_MODEL,
        max_length=MAX_MODEL_CHARS,
        description="Base model: 'demo', a hub id, a local folder or azureml://",
    )
    dataset: DatasetConfig = Field(default_factory=DatasetConfig)
    quantize: QuantizeConfig = Field(default_factory=QuantizeConfig)
    finetune: FinetuneConfig = Field(default_factory=FinetuneConfig)
    optimize: OptimizeConfig = Field(default_factory=OptimizeConfig)
    registration: RegisterConfig = Field(default_factory=RegisterConfig)
    evaluate: EvaluateConfig = Field(default_factory=EvaluateConfig)
    azure: AzureConfig = Field(default_factory=AzureConfig)
    stall_minutes: float = Field(10.0, gt=0, description="Warn when a step prints nothing this long")
    keys: dict[str, str] = Field(default_factory=dict, description="Key remaps: binding id -> keys")
    theme: str = Field("olive-dark", description="App theme name")

    def step(self, name: str) -> _Section:
        """A step's settings section (the register step's is `[registration]`)."""
        section: _Section = getattr(self, STEP_SECTIONS.get(name, name))
        return section


# Settings of the app itself, not of a run: reports, comparisons and model cards leave them out.
APP_SETTINGS = frozenset({"keys", "theme"})

# The demo runs end to end on two CPU cores in about two minutes.
_DEMO_OVERRIDES: dict[str, Any] = {
    "model": DEMO_MODEL,
    "quantize": {"group_size": 32, "calib_samples": 32, "calib_seq_len": 64, "device": "cpu"},
    "finetune": {
        "lora_r": 8,
        "lora_alpha": 16,
        "max_steps": 20,
        "max_seq_len": 128,
        "eval_steps": 10,
        "save_steps": 10,
        "torch_dtype": "float32",
        "per_device_train_batch_size": 2,
        "learning_rate": 1e-3,
    },
    "evaluate": {"enabled": True, "threads": 1},  # a tiny model: one thread each is fastest and fair
}
_PHI35_OVERRIDES: dict[str, Any] = {"model": PHI35_MODEL}


def profile_defaults(profile: str) -> dict[str, Any]:
    """The full settings of a profile before the user changes anything, as plain data."""
    if profile not in PROFILES:
        raise LabConfigError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}", field="profile")
    base = LabConfig(profile=profile).model_dump()
    return _merge(base, _DEMO_OVERRIDES if profile == "demo" else _PHI35_OVERRIDES)


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _diff(defaults: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in current.items():
        if isinstance(value, dict) and isinstance(defaults.get(key), dict):
            sub = _diff(defaults[key], value)
            if sub:
                out[key] = sub
        elif defaults.get(key) != value and value is not None:
            out[key] = value
    return out


def build_config(
    profile: str = "demo",
    overrides: dict[str, Any] | None = None,
    *,
    source: Path | None = None,
    source_text: str | None = None,
    strict: bool = False,
) -> LabConfig:
    """Defaults of `profile` with `overrides` applied, validated. Errors name the file, the line (when
    `source_text` is given) and the field. `strict` refuses what would otherwise be converted: a boolean
    where a number belongs (`max_steps = true` is not 1 step), a string for a number, a number for a boolean."""
    data = _merge(profile_defaults(profile), overrides or {})
    data["profile"] = profile
    try:
        return LabConfig.model_validate(data, strict=strict)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = [str(p) for p in err["loc"]]
        line = _line_of(source_text, loc) if source_text is not None else None
        raise LabConfigError(_explain(err), path=source, field=".".join(loc), line=line) from None


_EXPECTED = {
    "int_type": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "bool_type": "true or false",
    "string_type": "text in quotes",
    "dict_type": "a table",
    "model_type": "a table",
}


def _toml_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "a whole number"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return type(value).__name__


def did_you_mean(word: str, known: Iterable[str]) -> str:
    """ "; did you mean 'max_steps'?" when one of `known` is near `word` (a likely typo), else ""."""
    near = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    return f"; did you mean {near[0]!r}?" if near else ""


def _unknown(loc: list[str]) -> str:
    """An unknown setting, said plainly, with the nearest real one where a typo is likely."""
    model: Any = LabConfig
    for part in loc[:-1]:
        field = getattr(model, "model_fields", {}).get(part)
        model = getattr(field, "annotation", None) if field is not None else None
    known = list(getattr(model, "model_fields", {}))
    table = f"[{'.'.join(loc[:-1])}]" if len(loc) > 1 else "the top level"
    return f"{loc[-1]!r} is not a setting of {table}" + did_you_mean(loc[-1], known)


def _explain(err: Any) -> str:
    """pydantic's message, or for a wrong type what was expected and what the file holds; an unknown setting
    with the nearest known one."""
    if err["type"] == "extra_forbidden":
        return _unknown([str(p) for p in err["loc"]])
    expected = _EXPECTED.get(err["type"])
    if expected is None:
        return str(err["msg"]).removeprefix("Value error, ")
    value = err.get("input")
    shown = str(value).lower() if isinstance(value, bool) else repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    got = _toml_kind(value) if isinstance(value, dict | list) else f"{shown} ({_toml_kind(value)})"
    return f"expected {expected}, got {got}"


_TOML_HEADER = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(?:#.*)?$")
_TOML_KEY = re.compile(r"^\s*(\"[^\"]*\"|'[^']*'|[A-Za-z0-9_.\- ]+?)\s*=")


def _line_of(text: str, loc: list[str]) -> int | None:
    """The line of lab.toml that sets the field at `loc` (`[finetune]` then `max_steps = ...`, or
    `finetune.max_steps = ...`), or that opens its table; None when it cannot be found."""
    table: list[str] = []
    table_line: int | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        header = _TOML_HEADER.match(raw)
        if header:
            table = [part.strip().strip("\"'") for part in header.group(1).split(".")]
            if table == loc:
                table_line = number
            continue
        key = _TOML_KEY.match(raw)
        if key:
            path = table + [part.strip().strip("\"'") for part in key.group(1).split(".")]
            if path == loc[: len(path)] and path:
                return number
    return table_line


def load_config(lab: LabPaths) -> LabConfig:
    """Read `lab.toml` if there is one; without it, the demo profile."""
    if not lab.config.exists():
        return build_config("demo")
    return load_config_file(lab.config)


def load_config_file(path: Path) -> LabConfig:
    """Read a settings file (`lab.toml`, a run's `settings.toml`): the profile and what differs from it.
    Its values are taken as typed: a boolean or a string where a number belongs is refused with the file,
    the line and the field."""
    try:
        text = read_text_limited(path)
        if text.startswith("\ufeff"):
            raise LabConfigError(
                "starts with a UTF-8 byte-order mark (BOM), which TOML does not allow",
                path=path,
                line=1,
                hint="save the file as UTF-8 without a BOM",
            )
        raw = tomllib.loads(text)
    except LabConfigError:
        raise
    except UnicodeDecodeError:
        raise LabConfigError("is not UTF-8 text", path=path) from None
    except tomllib.TOMLDecodeError as exc:
        raise LabConfigError(f"is not valid TOML ({exc})", path=path) from None
    except ValueError:  # Python refuses integers of more than 4300 digits
        raise LabConfigError("holds a number too long to read (over 4300 digits)", path=path) from None
    except NotAFileError as exc:
        raise LabConfigError(exc.what, path=path) from None
    except OSError as exc:
        raise LabConfigError(f"cannot be read ({exc.strerror})", path=path) from None
    profile = raw.pop("profile", "demo")
    if profile not in PROFILES:
        raise LabConfigError(
            f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}",
            path=path,
            field="profile",
            line=_line_of(text, ["profile"]),
        )
    return build_config(profile, raw, source=path, source_text=text, strict=True)


def changed_settings(config: LabConfig) -> dict[str, Any]:
    """Only what differs from the profile's defaults (what `lab.toml` records)."""
    return _diff(profile_defaults(config.profile), config.model_dump())


def save_config_to(path: Path, config: LabConfig, *, private: bool = False) -> Path:
    """Write settings as TOML atomically: the profile plus every setting that differs from its defaults."""
    import tomli_w

    data = {"profile": config.profile, **changed_settings(config)}
    header = "# olive-lab settings: the profile and what differs from its defaults.\n"
    return atomic_write_text(path, header + tomli_w.dumps(data), private=private)


_ABSENT: Any = object()


def _three_way(theirs: dict[str, Any], before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """`theirs` with every value that `after` changes from `before` (a key `after` drops is dropped)."""
    out = dict(theirs)
    for key in before.keys() | after.keys():
        old, new = before.get(key, _ABSENT), after.get(key, _ABSENT)
        if isinstance(old, dict) and isinstance(new, dict) and isinstance(out.get(key), dict):
            out[key] = _three_way(out[key], old, new)
        elif new is _ABSENT:
            out.pop(key, None)
        elif new != old:
            out[key] = new
    return out


def save_config(lab: LabPaths, config: LabConfig, *, based_on: LabConfig | None = None) -> LabConfig:
    """Write `lab.toml` as a merge: what `config` changes from `based_on` (the settings it was edited from;
    None: every setting of `config`) goes onto what the file holds now, so a setting edited outside the app
    or not shown where `config` was edited is kept. Refused (LabConfigError with the file, line and field)
    while the file cannot be read: it is never replaced by settings it did not give. The written file is
    read back and must hold the merged settings, else its old text is put back. Returns the settings saved."""
    path = lab.config
    try:
        old_text = path.read_text(encoding="utf-8") if path.exists() else None
    except (OSError, UnicodeDecodeError):
        old_text = None  # load_config below says what is wrong with it
    try:
        current = load_config(lab)
    except LabConfigError as exc:
        exc.hint = f"not saved: {path.name} is left as it is; fix it there, then save again"
        raise
    before = (based_on or current).model_dump()
    merged_data = _three_way(current.model_dump(), before, config.model_dump())
    merged = build_config(merged_data.pop("profile"), merged_data, source=path)
    save_config_to(path, merged)
    try:
        saved = load_config_file(path)
    except LabConfigError:
        saved = None
    if saved is None or saved.model_dump() != merged.model_dump():
        if old_text is None:
            path.unlink(missing_ok=True)
        else:
            atomic_write_text(path, old_text)
        raise LabConfigError("the settings did not read back as written; the file was put back as it was", path=path)
    return saved


def field_help(section: str) -> dict[str, str]:
    """One line of help per field of a section, from the models' descriptions."""
    model = type(getattr(LabConfig(), section)) if section != "lab" else LabConfig
    return {name: (info.description or "") for name, info in model.model_fields.items()}
