"""The evaluate step's result (`<run>/evaluate/output/evaluation.json`), typed and versioned, and its text.

Every stage of a run is measured on the same held-out tokens and with the same greedy decoding: the original
model, the AWQ-scaled model and the fine-tuned model (torch, PEFT adapter) and the ONNX int4 model without and
with the adapter (onnxruntime-genai). The step program writes it; `runs show`, the monitor and the model card
read it through `load_evaluation` and render it with `evaluation_table` / `what_each_step_did`.
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

EVALUATION_FILE = "evaluation.json"
SCHEMA_VERSION: Literal[1] = 1
NOISE_RULE = (
    "a held-out loss difference (this minus the reference: lower is better, so negative means this is better) is "
    "called noise when it is within two standard errors of zero (standard error of the per-record loss "
    "differences = their standard deviation / sqrt(records))"
)
MEMORY_NOTE = (
    "peak resident memory of the stage's process while the stage ran (sampled every 5 ms; one process per "
    "framework, so it includes the framework itself, and a later torch stage may include memory an earlier "
    "one left to the allocator)"
)
STAGES: dict[str, str] = {
    "original": "original (torch)",
    "awq": "AWQ-scaled (torch)",
    "finetuned": "fine-tuned (torch+LoRA)",
    "onnx": "ONNX int4",
    "onnx_adapter": "ONNX int4 + adapter",
}


class StageResult(BaseModel):
    stage: str
    framework: Literal["torch", "onnxruntime-genai"]
    path: str
    size_bytes: int = 0  # the files this stage needs on disk (model, plus the adapter where it has one)
    loss: float | None = None  # mean token loss over every scored token of every record
    scored_tokens: int = 0
    record_losses: list[float] = Field(default_factory=list)  # each record's mean token loss, in record order
    rouge_l: float | None = None  # mean ROUGE-L F1 of the greedy answers against the references
    answers: list[str] = Field(default_factory=list)
    peak_rss_mib: float | None = None
    tokens_per_s: float | None = None  # answer tokens after the first, per second of decoding
    ttft_s: float | None = None  # mean time to the first answer token (prompt processing included)
    error: str | None = None  # why this stage was not measured

    @property
    def title(self) -> str:
        return STAGES.get(self.stage, self.stage)

    @property
    def perplexity(self) -> float | None:
        return math.exp(self.loss) if self.loss is not None and self.loss < 50 else None


class Comparison(BaseModel):
    name: str  # "int4", "adapter"
    sentence: str  # the "what this step did" line
    before: str
    after: str
    records: int
    mean_difference: float  # after - before held-out loss (lower is better; engine.steps.evaluation.loss_difference)
    standard_error: float | None
    noise: bool  # within two standard errors of zero (or too few records to tell)
    warning: str | None = None


class Evaluation(BaseModel):
    schema_version: Literal[1] = SCHEMA_VERSION
    run_id: str
    data: str
    held_out_records: int  # records in the held-out split
    records: int  # records measured (the first N, `[evaluate] max_records`)
    max_new_tokens: int
    scored_tokens: int
    decoding: str = "greedy"
    memory: str = MEMORY_NOTE
    cpus: int = 0  # CPUs this process could use
    load_average: float | None = None  # the machine's 1-minute load average when the step began
    noise_rule: str = NOISE_RULE
    duration_s: float = 0.0
    stages: list[StageResult] = Field(default_factory=list)
    comparisons: list[Comparison] = Field(default_factory=list)

    def stage(self, name: str) -> StageResult | None:
        return next((s for s in self.stages if s.stage == name), None)


def _pct(after: float, before: float) -> float:
    return (after - before) / before * 100 if before else 0.0


def paired_difference(before: list[float], after: list[float]) -> tuple[int, float, float | None, bool]:
    """(records, mean of after - before per record, its standard error, whether that is noise by NOISE_RULE)
    for two stages' (or two branches') per-record losses on the same held-out records."""
    diffs = [a - b for a, b in zip(after, before, strict=False)]
    n = len(diffs)
    mean = statistics.fmean(diffs) if diffs else 0.0
    se = statistics.stdev(diffs) / math.sqrt(n) if n >= 2 else None
    return n, mean, se, se is None or abs(mean) <= 2 * se


def loss_difference(
    before: float, after: float, before_records: list[float], after_records: list[float]
) -> tuple[int, float, float | None, bool]:
    """(records, after - before of the two held-out losses as shown, the standard error of the per-record
    differences, whether the difference is noise by NOISE_RULE): one sign everywhere, lower is better."""
    n, _, se, _ = paired_difference(before_records, after_records)
    difference = after - before
    return n, difference, se, se is None or abs(difference) <= 2 * se


def compare(name: str, before: StageResult | None, after: StageResult | None) -> Comparison | None:
    """What the step between two stages did: the change in held-out loss (and size), and whether the split is
    large enough for that change to mean anything (NOISE_RULE)."""
    if before is None or after is None or before.loss is None or after.loss is None:
        return None
    n, mean, se, noise = loss_difference(before.loss, after.loss, before.record_losses, after.record_losses)
    if name == "int4":
        sentence = (
            f"int4: perplexity {_pct(after.perplexity or 0, before.perplexity or 0):+.1f} % for "
            f"{_pct(after.size_bytes, before.size_bytes):+.1f} % size ({after.title} against {before.title})"
        )
    else:
        sentence = (
            f"adapter: held-out loss {_pct(after.loss, before.loss):+.1f} % against the int4 base, lower is better "
            f"({after.title} against {before.title})"
        )
    warning = None
    if noise:
        spread = f"±{2 * se:.4f}" if se is not None else "no spread with one record"
        warning = (
            f"{name}: over {n} held-out records the held-out loss difference {mean:+.4f} ({after.title} minus "
            f"{before.title}; lower is better) is within two standard errors ({spread}): too few records to tell it "
            "from noise"
        )
    return Comparison(name=name, sentence=sentence, before=before.stage, after=after.stage, records=n,
                      mean_difference=mean, standard_error=se, noise=noise, warning=warning)  # fmt: skip


def comparisons(stages: list[StageResult]) -> list[Comparison]:
    by = {s.stage: s for s in stages}
    found = [
        compare("int4", by.get("original"), by.get("onnx")),
        compare("adapter", by.get("onnx"), by.get("onnx_adapter")),
    ]
    return [c for c in found if c is not None]


def load_evaluation(output: Path) -> Evaluation | None:
    """The evaluate step's result in its output folder, or None when there is none (or it cannot be read)."""
    path = Path(output) / EVALUATION_FILE
    if not path.is_file():
        return None
    try:
        return Evaluation.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def run_evaluation(run_dir: Path) -> Evaluation | None:
    """A run's evaluation (`<run>/evaluate/output/evaluation.json`), or None when the step has not written one."""
    return load_evaluation(Path(run_dir) / "evaluate" / "output")


def _f(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _mib(size: int) -> str:
    return f"{size / 2**20:.1f}" if size else "-"


COLUMNS = ("stage", "loss", "ppl", "ROUGE-L", "MiB", "peak MiB", "tok/s", "TTFT s")


def table_rows(evaluation: Evaluation) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for s in evaluation.stages:
        if s.error:
            rows.append((s.title, f"not measured: {s.error}", "", "", "", "", "", ""))
            continue
        rows.append((s.title, _f(s.loss, 3), _f(s.perplexity, 2), _f(s.rouge_l, 3), _mib(s.size_bytes),
                     _f(s.peak_rss_mib, 0), _f(s.tokens_per_s, 1), _f(s.ttft_s, 3)))  # fmt: skip
    return rows


def header(evaluation: Evaluation) -> str:
    return (
        f"Evaluation: {evaluation.records} of {evaluation.held_out_records} held-out records, "
        f"{evaluation.scored_tokens} scored tokens, {evaluation.decoding} answers of at most "
        f"{evaluation.max_new_tokens} tokens"
    )


COMPACT = (0, 1, 3, 4, 6)  # stage, loss, ROUGE-L, MiB, tok/s: what the monitor has room for


def evaluation_table(evaluation: Evaluation, *, markdown: bool = False, compact: bool = False) -> str:
    """The table of every stage, then what each step did and the warnings. `compact`: fewer columns, and one
    line per step with a short noise note (the monitor)."""
    rows = table_rows(evaluation)
    if compact:
        columns = tuple(COLUMNS[i] for i in COMPACT)
        rows = [row if row[1].startswith("not ") else tuple(row[i] for i in COMPACT) for row in rows]
        lines = [f"{evaluation.records} held-out records, {evaluation.scored_tokens} tokens, greedy"]
        lines += _aligned(columns, rows)
        for c in evaluation.comparisons:
            lines.append(c.sentence.split(" (")[0] + (f" (n={c.records}: within noise)" if c.noise else ""))
        return "\n".join(lines)
    lines = [header(evaluation), ""]
    if markdown:
        lines += ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
    else:
        lines += [*_aligned(COLUMNS, rows), f"peak MiB: {evaluation.memory}"]
    speed = speed_note(evaluation)
    lines += [f"tok/s, TTFT s: {speed}"] if speed else []
    lines += ["", *what_each_step_did(evaluation)]
    return "\n".join(lines)


def _aligned(columns: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    """Text columns: the stage left-aligned, figures right-aligned; a stage not measured says why."""
    measured = [r for r in rows if not r[1].startswith("not ")]
    widths = [max(len(r[i]) for r in [columns, *measured]) for i in range(len(columns))]
    widths[0] = max(len(r[0]) for r in [columns, *rows])

    def line(row: tuple[str, ...]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))

    return [line(columns)] + [line(r) if r in measured else f"{r[0].ljust(widths[0])}  {r[1]}" for r in rows]


def speed_note(evaluation: Evaluation) -> str | None:
    """How busy the machine was while the speeds were measured: on a busy machine they say little."""
    load, cpus = evaluation.load_average, evaluation.cpus
    if load is None or not cpus:
        return None
    note = f"measured with the machine's load at {load:.1f} on {cpus} CPUs"
    if load >= cpus:
        note += " (busy: other processes took CPU time, so the speeds are low and differ from run to run)"
    return note


def what_each_step_did(evaluation: Evaluation) -> list[str]:
    """The "what each step did" lines, each followed by its warning when the split is too small to tell."""
    out: list[str] = []
    for c in evaluation.comparisons:
        out.append(c.sentence)
        if c.warning:
            out.append(f"  warning: {c.warning}")
    return out
