"""Local export for teams without Azure: a run's ONNX model and adapters copied into a folder of their own,
with a model card (README.md) holding the run's provenance and how to load it with onnxruntime-genai.

The folder is written beside its target and renamed into place at the end, so a half export is never
mistaken for a whole one; an existing non-empty target is refused rather than mixed into.
"""

from __future__ import annotations

import errno
from pathlib import Path

from pydantic import BaseModel

from engine.chat.models import ChatError, describe_model
from engine.errors import OliveLabError
from engine.fs import atomic_dir, copy_tree, free_mib
from engine.runs.models import NoModel, run_model
from engine.runs.provenance import Provenance, run_provenance
from engine.runs.state import SUCCEEDED_STEP, read_state
from engine.steps.evaluation import Evaluation, evaluation_table, run_evaluation

CARD = "README.md"


class ExportError(OliveLabError):
    """The run cannot be exported (not finished, no model, a target in the way)."""


class ExportNotWritten(ExportError):
    """The copy itself failed (a full disk, a folder that cannot be written); nothing is left half made."""


class ExportResult(BaseModel):
    folder: Path
    files: list[str]
    total_bytes: int
    adapters: list[str]
    provenance: Provenance


def model_folder(run_dir: Path) -> Path:
    """The run's optimized ONNX folder (where chat finds it: engine.runs.models), refused unless the optimize
    step finished."""
    try:
        step = read_state(run_dir).step("optimize")
    except (OSError, ValueError, KeyError) as exc:
        raise ExportError(f"{run_dir}: no readable optimize step ({exc})") from None
    if step.status not in SUCCEEDED_STEP:
        raise ExportError(
            f"run {run_dir.name}: the optimize step is {step.status}, so there is no ONNX model to export",
            "run the pipeline to the end first (olive-lab pipeline run)",
        )
    try:
        return run_model(run_dir).model_dir
    except NoModel as exc:
        raise ExportError(str(exc), exc.hint) from None


def model_card(prov: Provenance, files: list[str], adapters: list[str], evaluation: Evaluation | None = None) -> str:
    adapter = adapters[0] if adapters else "travel"
    lines = [
        f"# {prov.run_id}: ONNX model and LoRA adapters from olive-lab",
        "",
        f"Base model `{prov.base_model}`, fine-tuned with a LoRA adapter and optimized to ONNX (int4) by olive-lab",
        f"over [Microsoft Olive](https://github.com/microsoft/Olive). Profile: `{prov.profile}`.",
        "",
        "## Provenance",
        "",
        "| fact | value |",
        "|---|---|",
        f"| run | `{prov.run_id}` |",
        f"| base model | `{prov.base_model}` |",
        f"| dataset | `{prov.dataset or 'bundled travel set'}` |",
        f"| dataset sha256 (train + validation splits) | `{prov.dataset_sha256 or 'unknown'}` |",
    ]
    if prov.golden:
        lines.append(
            f"| golden check (ROUGE-L, {prov.golden.get('examples')} examples) | adapter "
            f"{prov.golden.get('adapter_rouge_l')}, base {prov.golden.get('base_rouge_l')} |"
        )
    if evaluation is not None:
        lines += ["", "## Evaluation (held-out split)", "", evaluation_table(evaluation, markdown=True), "",
                  f"Memory: {evaluation.memory}. Noise: {evaluation.noise_rule}."]  # fmt: skip
    lines += ["", "### Settings", "", "| setting | value |", "|---|---|"]
    lines += [f"| `{k}` | `{v}` |" for k, v in sorted(prov.settings.items())]
    lines += ["", "## Files", ""] + [f"- `{f}`" for f in files]
    lines += [
        "",
        "## Load it with onnxruntime-genai",
        "",
        "```python",
        "import onnxruntime_genai as og",
        "",
        'model = og.Model(".")',
        "tokenizer = og.Tokenizer(model)",
        "adapters = og.Adapters(model)",
        f'adapters.load("{adapter}.onnx_adapter", "{adapter}")',
        "params = og.GeneratorParams(model)",
        "params.set_search_options(max_length=256)  # sizes the KV cache: always set it",
        "generator = og.Generator(model, params)",
        f'generator.set_active_adapter(adapters, "{adapter}")',
        'generator.append_tokens(tokenizer.encode("<|user|>\\nWhere should I go in May?<|end|>\\n<|assistant|>\\n"))',
        "while not generator.is_done():",
        "    generator.generate_next_token()",
        "print(tokenizer.decode(generator.get_sequence(0)))",
        "```",
        "",
        "The graph takes the LoRA weights as inputs, so one adapter must be active; for base-model answers load an",
        "adapter of the same names and shapes whose weights are all zero (olive-lab's chat builds one).",
        "",
    ]
    return "\n".join(lines)


def export_run(run_dir: Path, to: Path) -> ExportResult:
    """Copy the run's ONNX folder and adapters to `to` with a model card."""
    run_dir = Path(run_dir)
    to = Path(to).expanduser().resolve()
    if to.exists() and (not to.is_dir() or any(to.iterdir())):
        raise ExportError(f"{to} already exists and is not empty", "choose a new folder")
    source = model_folder(run_dir)
    try:
        info = describe_model(source)
    except ChatError as exc:
        raise ExportError(str(exc)) from None
    prov = run_provenance(run_dir)
    try:
        with atomic_dir(to) as tmp:
            copy_tree(source, tmp, skip=(".olive-cache", "*.partial", CARD))  # made with the user's umask
            files = sorted(p.relative_to(tmp).as_posix() for p in tmp.rglob("*") if p.is_file())
            adapters = [a.name for a in info.adapters]
            (tmp / CARD).write_text(model_card(prov, files, adapters, run_evaluation(run_dir)), encoding="utf-8")
            if to.exists():
                to.rmdir()  # an empty folder (checked above): never a user's files
    except OSError as exc:
        raise ExportNotWritten(_not_written(to, exc)) from None
    return ExportResult(
        folder=to,
        files=[*files, CARD],
        total_bytes=sum(p.stat().st_size for p in to.rglob("*") if p.is_file()),
        adapters=adapters,
        provenance=prov,
    )


def _not_written(to: Path, exc: OSError) -> str:
    """Why the copy to `to` failed, in one line naming the folder (a full disk with the room left)."""
    if exc.errno == errno.ENOSPC:
        return f"{to}: no space left on device{free_mib(to.parent)}"
    return f"{to} cannot be written: {exc.strerror or exc}"
