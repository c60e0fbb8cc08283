"""Finding chat-ready models and their adapters, and the all-zero "base" adapter.

Olive's auto-opt output is a folder with `genai_config.json`, `model.onnx` and one or more
`*.onnx_adapter` files. Its graph takes the LoRA weights as inputs, so answering as the base model needs an
adapter whose weights are all zero; we build one from the real adapter and cache it in the lab (never in a
run's outputs, which belong to the run).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from engine.errors import OliveLabError
from engine.fs import atomic_path
from engine.paths import LabPaths

GENAI_CONFIG = "genai_config.json"
ADAPTER_SUFFIX = ".onnx_adapter"
BASE_ADAPTER = "base"
RUN_MODEL_DIR = Path("optimize") / "output"
_SEARCH_DEPTH = 4


class ChatError(OliveLabError):
    """A chat problem the user can act on: printed or shown as one clear sentence."""


class AdapterError(ChatError):
    """An adapter file that cannot be used: unreadable, empty, or made for another model."""


@dataclass(frozen=True)
class AdapterInfo:
    name: str
    path: Path


@dataclass(frozen=True)
class ModelInfo:
    """One folder onnxruntime-genai can load, with the adapters found beside it."""

    path: Path
    adapters: tuple[AdapterInfo, ...] = ()
    context_length: int | None = None
    model_type: str = ""
    run_id: str | None = None
    run_dir: Path | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def label(self) -> str:
        return f"run {self.run_id}" if self.run_id else self.path.name


def adapter_name(path: Path) -> str:
    """`adapter_weights.onnx_adapter` -> `adapter`, `travel.onnx_adapter` -> `travel`."""
    stem = path.name[: -len(ADAPTER_SUFFIX)]
    if stem.endswith("_weights") and stem != "_weights":
        stem = stem[: -len("_weights")]
    return f"{stem}-adapter" if stem == BASE_ADAPTER else stem


def describe_model(path: Path) -> ModelInfo:
    """Read one model folder. Raises ChatError when the folder is not a loadable model."""
    config_path = path / GENAI_CONFIG
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ChatError(f"{path}: no {GENAI_CONFIG} here, so this is not an onnxruntime-genai model") from exc
    except (OSError, ValueError) as exc:
        raise ChatError(f"{config_path}: cannot be read as JSON ({exc})") from exc
    model = config.get("model", {}) if isinstance(config, dict) else {}
    context = model.get("context_length")
    adapters = tuple(AdapterInfo(adapter_name(p), p) for p in sorted(path.glob(f"*{ADAPTER_SUFFIX}")) if p.is_file())
    run_dir = _run_of(path)
    run_id = run_dir.name if run_dir else None
    if run_dir is not None and run_dir.parent.name == "branches":  # a sweep's branch: runs/<id>/branches/<label>
        run_id = f"{run_dir.parent.parent.name} · branch {run_dir.name}"
    return ModelInfo(
        path=path,
        adapters=adapters,
        context_length=int(context) if isinstance(context, int) else None,
        model_type=str(model.get("type", "")),
        run_id=run_id,
        run_dir=run_dir,
    )


def _run_of(model_dir: Path) -> Path | None:
    """The run folder when `model_dir` is `<run>/optimize/output`."""
    parent = model_dir.parent.parent
    if model_dir.parts[-2:] == RUN_MODEL_DIR.parts and (parent / "state.json").exists():
        return parent
    return None


def find_models(path: Path) -> list[ModelInfo]:
    """The model folder `path` is, or the model folders under it (a few levels down, hidden folders skipped).
    Which run's model to talk to is engine.runs.models' to say: chat knows model folders, not runs."""
    path = Path(path)
    if not path.exists():
        raise ChatError(f"{path}: no such folder")
    if (path / GENAI_CONFIG).is_file():
        return [describe_model(path)]
    return [describe_model(p.parent) for p in _walk_configs(path, _SEARCH_DEPTH)]


def _walk_configs(root: Path, depth: int) -> list[Path]:
    found: list[Path] = []
    try:
        entries = sorted(root.iterdir())
    except OSError:
        return found
    for entry in entries:
        if entry.name == GENAI_CONFIG and entry.is_file():
            found.append(entry)
        elif depth > 0 and entry.is_dir() and not entry.name.startswith("."):
            found.extend(_walk_configs(entry, depth - 1))
    return found


def is_model_dir(model_dir: Path) -> bool:
    """Whether a folder holds a model chat can load (its genai config and an ONNX graph)."""
    return (model_dir / GENAI_CONFIG).is_file() and any(model_dir.glob("*.onnx"))


# --- adapters -------------------------------------------------------------------------------------


def read_adapter_parameters(path: Path) -> dict[str, object]:
    """The parameters of an `.onnx_adapter` file (name -> OrtValue). Raises ChatError if unreadable."""
    import onnxruntime as ort

    try:
        return dict(ort.AdapterFormat.read_adapter(str(path)).get_parameters())
    except FileNotFoundError as exc:
        raise AdapterError(f"{path}: adapter file not found") from exc
    except Exception as exc:  # onnxruntime raises plain RuntimeError / Fail for a bad buffer
        raise AdapterError(f"{path}: not a valid ONNX adapter file ({error_line(exc)})") from exc


@dataclass(frozen=True)
class GraphInput:
    """One input of the decoder graph: its dimensions (a number, a symbolic name, or None) and its type as
    onnxruntime writes it (`tensor(float)`). `optional` inputs have a default in the graph (LoRA weights)."""

    dims: tuple[int | str | None, ...]
    dtype: str
    optional: bool = False


def graph_inputs(model_dir: Path) -> dict[str, GraphInput] | None:
    """The decoder graph's inputs, or None when the graph cannot be read here."""
    try:
        config = json.loads((model_dir / GENAI_CONFIG).read_text(encoding="utf-8"))
        filename = config["model"]["decoder"]["filename"]
        import onnx  # deferred: only needed to check adapters

        graph = onnx.load(str(model_dir / filename), load_external_data=False).graph
        defaults = {init.name for init in graph.initializer}
        found: dict[str, GraphInput] = {}
        for value in graph.input:
            tensor = value.type.tensor_type
            dims = tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in tensor.shape.dim)
            dtype = f"tensor({onnx.TensorProto.DataType.Name(tensor.elem_type).lower()})"
            found[value.name] = GraphInput(dims, dtype, value.name in defaults)
    except Exception:
        return None
    return found


def _shape(dims: tuple[int | str | None, ...]) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in dims) + "]"


def check_adapter_fits(path: Path, inputs: dict[str, GraphInput] | None, model_dir: Path) -> None:
    """Refuse an adapter that does not fit the model graph: a parameter that is not an input (another
    model's adapter), or whose shape or type differs from the input's (another rank, another model size).
    Such an adapter would load, then fail at the first answer with onnxruntime's bare "Please fix either
    the inputs/outputs or the model"; here it is named with both shapes."""
    params = read_adapter_parameters(path)
    if not params:
        raise AdapterError(f"{path}: the adapter holds no parameters")
    if inputs is None:
        return
    fix = "Use the adapter exported by the same run as the model."
    stray = sorted(set(params) - set(inputs))
    if stray:
        raise AdapterError(
            f"{path}: this adapter does not fit the model in {model_dir}: {len(stray)} of its "
            f"{len(params)} parameters are not inputs of the model (first: {stray[0]}). {fix}"
        )
    for name in sorted(params):
        value, want = params[name], inputs[name]
        shape = tuple(int(d) for d in value.shape())  # type: ignore[attr-defined]
        fits = len(shape) == len(want.dims) and all(
            not isinstance(d, int) or d == s for d, s in zip(want.dims, shape, strict=True)
        )
        if not fits:
            raise AdapterError(
                f"{path}: this adapter does not fit the model in {model_dir}: its parameter {name} has "
                f"shape {_shape(shape)}, the model takes {_shape(want.dims)}. {fix}"
            )
        dtype = value.data_type()  # type: ignore[attr-defined]
        if want.dtype != "tensor(undefined)" and dtype != want.dtype:
            raise AdapterError(
                f"{path}: this adapter does not fit the model in {model_dir}: its parameter {name} is "
                f"{dtype}, the model takes {want.dtype}. {fix}"
            )


def zero_adapter(source: Path, cache_dir: Path) -> Path:
    """An adapter with the parameter names and shapes of `source` and all-zero weights (the base model).

    Cached by the contents of `source`, written atomically.
    """
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
    target = cache_dir / f"zero-{digest}{ADAPTER_SUFFIX}"
    if target.is_file():
        return target
    import numpy as np
    import onnxruntime as ort

    params = read_adapter_parameters(source)
    zeros = {
        name: ort.OrtValue.ortvalue_from_numpy(np.zeros_like(value.numpy()))  # type: ignore[attr-defined]
        for name, value in params.items()
    }
    adapter = ort.AdapterFormat()
    adapter.set_adapter_version(1)
    adapter.set_model_version(1)
    adapter.set_parameters(zeros)
    with atomic_path(target, private=True) as tmp:
        adapter.export_adapter(str(tmp))
    return target


def base_adapter_cache(lab: LabPaths) -> Path:
    """Where the all-zero adapters live: beside the saved chats, inside the lab's private area."""
    return lab.private / "chat-base-adapters"


# "/onnxruntime_src/onnxruntime/core/framework/execution_frame.cc:123 onnxruntime::Foo(int, char) " and the like
_SOURCE_PLACE = re.compile(r"\S*onnxruntime_src/\S+:\d+ (?:[\w:~<>]+\([^()]*\)(?: const)? )?")
_ERROR_CHARS = 600


def error_line(exc: BaseException) -> str:
    """An onnxruntime error as one line that keeps its cause: every line of the message (onnxruntime puts
    the cause first and "Please fix either the inputs/outputs or the model." last), without the C++ source
    places, cut at a readable length."""
    text = " ".join(part.strip() for part in str(exc).splitlines() if part.strip())
    text = _SOURCE_PLACE.sub("", text).strip()
    if not text:
        return type(exc).__name__
    return text if len(text) <= _ERROR_CHARS else text[: _ERROR_CHARS - 1] + "…"
