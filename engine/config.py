"""The lab's settings: typed step configs, the two profiles, and `lab.toml`.

Defaults live in one place (`profile_defaults`). `lab.toml` records the profile and only the settings the
user changed, so a profile's defaults can improve without rewriting anyone's file.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

from engine.errors import OliveLabError
from engine.fs import NotAFileError, atomic_write_text, read_text_limited
from engine.paths import BUNDLED_DATASET, LabPaths

ProfileName = Literal["demo", "phi35"]
PROFILES: tuple[str, ...] = ("demo", "phi35")
STEP_NAMES: tuple[str, ...] = ("quantize", "finetune", "optimize")
STEP_SECTIONS: dict[str, str] = {"register": "registration"}  # `register` would shadow a pydantic name

DEMO_MODEL = "demo"
PHI35_MODEL = "microsoft/Phi-3.5-mini-instruct"
DEFAULT_TEMPLATE = "<|user|>\n{prompt}<|end|>\n<|assistant|>\n{response}<|end|>"

_FIELD_RE = re.compile(r"{([A-Za-z_][A-Za-z0-9_]*)}")


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


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def check_env(env: dict[str, str]) -> dict[str, str]:
    """A step's environment: names without `=` or NUL (a process cannot be given them), values without NUL."""
    for name, value in env.items():
        if not name or "=" in name or "\0" in name:
            raise ValueError(f"variable name {name[:60]!r} is empty or holds '=' or a NUL character")
        if "\0" in value:
            raise ValueError(f"the value of {name[:60]} holds a NUL character")
    return env


StepEnv = Annotated[dict[str, str], AfterValidator(check_env)]
MAX_MODEL_CHARS = 1024  # a hub id, a path or an azureml:// address is far shorter


LOCAL = "local"
REMOTE_PREFIX = "azureml:"
_CLUSTER_RE = re.compile(r"^[A-Za-z][A-Za-z0-9-]{1,31}$")
RUN_ON_HELP = "Where the step runs: 'local' (this machine) or 'azureml:<compute cluster>'"


def check_run_on(value: str) -> str:
    """`local` or `azureml:<cluster>` (a compute cluster of the lab's Azure ML workspace)."""
    value = value.strip()
    if value == LOCAL:
        return value
    cluster = value.removeprefix(REMOTE_PREFIX)
    if not value.startswith(REMOTE_PREFIX) or not _CLUSTER_RE.match(cluster):
        raise ValueError(
            f"{value!r} is not a place to run: use 'local' or 'azureml:<cluster>' (a compute cluster name, "
            "2-32 letters, digits or '-', starting with a letter)"
        )
    return value


class _RunOn(_Section):
    run_on: str = Field(LOCAL, description=RUN_ON_HELP)

    @field_validator("run_on")
    @classmethod
    def _check_run_on(cls, value: str) -> str:
        return check_run_on(value)


class DatasetConfig(_Section):
    path: str = Field(str(BUNDLED_DATASET), description="JSONL file of training records")
    prompt_field: str = Field("prompt", description="Record field holding the user's question")
    response_field: str = Field("response", description="Record field holding the answer to learn")
    eval_share: float = Field(0.1, ge=0.0, le=0.5, description="Share of records held back for evaluation")
    split_seed: int = Field(1234, description="Seed of the evaluation split (same seed, same split)")


class QuantizeConfig(_RunOn):
    enabled: bool = Field(True, description="Run AWQ before fine-tuning")
    w_bit: Literal[4] = Field(4, description="Weight bits (AWQ kernels are 4-bit only)")
    group_size: int = Field(128, ge=16, le=1024, description="Weights sharing one scale")
    zero_point: bool = Field(True, description="Asymmetric quantization with a zero point")
    calib_samples: int = Field(128, ge=1, le=4096, description="Training records used as calibration texts")
    calib_seq_len: int = Field(512, ge=8, le=8192, description="Tokens per calibration text")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="Where the scale search runs")
    python: str | None = Field(None, description="Python interpreter for this step (default: olive-lab's)")
    env: StepEnv = Field(default_factory=dict, description="Environment variables for this step")


class FinetuneConfig(_RunOn):
    method: Literal["lora", "qlora"] = Field("lora", description="Adapter method")
    lora_r: int = Field(64, ge=1, le=1024, description="LoRA rank")
    lora_alpha: int = Field(16, ge=1, le=4096, description="LoRA scaling numerator")
    max_steps: int = Field(100, ge=1, le=1_000_000, description="Optimiser steps")
    learning_rate: float = Field(2e-4, gt=0, lt=1, description="Peak learning rate")
    per_device_train_batch_size: int = Field(1, ge=1, le=1024, description="Records per step and device")
    logging_steps: int = Field(1, ge=1, description="Steps between loss lines (live loss chart)")
    eval_steps: int = Field(20, ge=1, description="Steps between evaluation-loss measurements")
    max_seq_len: int = Field(1024, ge=16, le=131072, description="Tokens per training record")
    torch_dtype: Literal["bfloat16", "float16", "float32"] = Field("bfloat16", description="Training dtype")
    text_template: str = Field(DEFAULT_TEMPLATE, description="How a record becomes training text")
    seed: int = Field(42, description="Training seed")
    save_steps: int = Field(50, ge=1, description="Steps between checkpoints (a resumed fine-tune starts there)")
    keep_checkpoints: int = Field(
        2, ge=0, le=100, description="Checkpoints kept for resuming, each ~3x the adapter on disk (0: none)"
    )
    olive: str | None = Field(None, description="olive executable for this step (default: on PATH)")
    env: StepEnv = Field(default_factory=dict, description="Environment variables for this step")

    @field_validator("text_template")
    @classmethod
    def _template_has_fields(cls, value: str) -> str:
        if not _FIELD_RE.search(value):
            raise ValueError("the template names no {field}: training would see the same text every time")
        return value

    def template_fields(self) -> list[str]:
        return _FIELD_RE.findall(self.text_template)


class OptimizeConfig(_RunOn):
    # `olive optimize` was tried: at int4 it picks a GPTQ pass that refuses a model with an adapter
    # (Olive 0.13.0: "Model already has an adapter"), so the step uses the deprecated but working auto-opt.
    command: Literal["auto-opt"] = Field("auto-opt", description="Olive command that exports ONNX")
    precision: Literal["int4", "fp16", "fp32"] = Field("int4", description="ONNX weight precision")
    device: Literal["cpu", "gpu"] = Field("cpu", description="Target device of the ONNX model")
    provider: str = Field("CPUExecutionProvider", description="onnxruntime execution provider")
    olive: str | None = Field(None, description="olive executable for this step (default: on PATH)")
    env: StepEnv = Field(default_factory=dict, description="Environment variables for this step")


class EvaluateConfig(_Section):
    """The optional evaluate step: quality, size and speed of every stage of the run on the held-out split."""

    enabled: bool = Field(False, description="Measure every stage (original, AWQ, fine-tuned, ONNX) after optimize")
    max_records: int = Field(8, ge=1, le=100_000, description="Held-out records scored and answered (the first N)")
    max_new_tokens: int = Field(16, ge=1, le=4096, description="Most tokens of each greedy answer")
    threads: int = Field(0, ge=0, le=1024, description="CPU threads of each framework (0: its own default)")


class AzureConfig(_Section):
    """The Azure ML workspace (or hub-based Azure AI Foundry project) models are registered in and read from."""

    subscription_id: str = Field("", description="Azure subscription id (default: az account's)")
    resource_group: str = Field("", description="Resource group of the workspace (default: az config's)")
    workspace_name: str = Field("", description="Azure ML workspace or hub-based AI Foundry project")
    sign_in: Literal["auto", "cli", "env", "device", "workload", "managed"] = Field(
        "auto", description="auto: a service principal from env, workload identity, managed identity (where an "
        "identity endpoint is set), az login, then a device code (kept once made)"
    )
    tenant_id: str = Field("", description="Microsoft Entra tenant (default: the sign-in's own)")
    image: str = Field(
        "pytorch/pytorch:2.6.0-cuda12.4-cudnn9-runtime",
        description="Docker image of remote steps: a pinned PyTorch+CUDA 12 image with Python 3.11 (a version tag "
        "or a digest, never :latest); the job keeps its torch",
    )
    experiment: str = Field("olive-lab", description="Azure ML experiment that remote steps' jobs are filed under")


class RegisterConfig(_Section):
    """The optional register step (`[registration]`): the optimized ONNX folder into the workspace's registry."""

    enabled: bool = Field(False, description="Register the optimized model in Azure ML after optimize")
    name: str = Field("ft-for-travel", description="Model name in the registry")
    version: str = Field("1", description="Model version (checked to be free before any byte moves)")
    description: str = Field("", description="Model description")
    tags: dict[str, str] = Field(default_factory=dict, description="Extra tags (provenance tags are added)")
    folder: str = Field("", description="Folder to register instead of the run's optimize output")
    provenance_run: str = Field("", description="Run folder whose provenance tags a folder given above")
    env: StepEnv = Field(default_factory=dict, description="Environment variables for this step")


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
        return getattr(self, STEP_SECTIONS.get(name, name))


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
        raise LabConfigError(
            f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}", field="profile"
        )
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


def _explain(err: Any) -> str:
    """pydantic's message, or for a wrong type what was expected and what the file holds."""
    expected = _EXPECTED.get(err["type"])
    if expected is None:
        return str(err["msg"])
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
