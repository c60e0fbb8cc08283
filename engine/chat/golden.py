"""The golden check: does the adapter answer the held-back questions better than the base model?

Each record of `<run>/data/validation.jsonl` (fields `prompt`, `response`) is answered greedily by the base
model (the all-zero adapter) and by the run's adapter, and each answer is scored against the reference with
ROUGE-L F1 (torchmetrics, imported only here). The report is saved with the run as `<run>/golden.json`.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, Field

from engine.chat.models import BASE_ADAPTER, ChatError
from engine.chat.runtime import ChatModel
from engine.chat.types import SamplingOptions
from engine.data.records import check_dataset, load_records
from engine.fs import atomic_write_text, read_limited

GOLDEN_FILE = "golden.json"
VALIDATION_FILE = Path("data") / "validation.jsonl"
GOLDEN_OPTIONS = SamplingOptions(greedy=True, max_length=96)


class GoldenRecord(BaseModel):
    prompt: str
    reference: str


class GoldenRow(BaseModel):
    prompt: str
    reference: str
    base: str
    adapter: str
    base_rouge_l: float
    adapter_rouge_l: float

    @property
    def gain(self) -> float:
        return self.adapter_rouge_l - self.base_rouge_l


class GoldenReport(BaseModel):
    model: str
    adapter: str
    run_id: str | None = None
    data: str
    created_at: float = Field(default_factory=time.time)
    duration_s: float = 0.0
    options: SamplingOptions = GOLDEN_OPTIONS
    rows: list[GoldenRow] = Field(default_factory=list)

    @property
    def base_mean(self) -> float:
        return sum(r.base_rouge_l for r in self.rows) / len(self.rows) if self.rows else 0.0

    @property
    def adapter_mean(self) -> float:
        return sum(r.adapter_rouge_l for r in self.rows) / len(self.rows) if self.rows else 0.0

    def worst(self, n: int = 5) -> list[GoldenRow]:
        """The examples where the adapter scored lowest (ties: where it lost most to the base)."""
        return sorted(self.rows, key=lambda r: (r.adapter_rouge_l, r.gain))[:n]

    def summary(self) -> dict[str, object]:
        return {
            "examples": len(self.rows),
            "base_rouge_l": round(self.base_mean, 4),
            "adapter_rouge_l": round(self.adapter_mean, 4),
            "adapter_better": sum(r.gain > 0 for r in self.rows),
            "base_better": sum(r.gain < 0 for r in self.rows),
        }


def read_records(
    path: Path, fields: tuple[str, str] = ("prompt", "response"), limit: int | None = None
) -> list[GoldenRecord]:
    """Prompt/reference pairs from a JSONL file, read by the project's one JSONL reader with the lab's field
    names (`dataset.prompt_field`, `dataset.response_field`); a bad line is reported with its number."""

    if not path.is_file():
        raise ChatError(f"{path}: no held-back evaluation data here (the run saves it as {VALIDATION_FILE})")
    report = check_dataset(path, list(fields))
    if not report.ok:
        raise ChatError(
            str(report.error()),
            f"the lab's field names are {fields[0]!r} and {fields[1]!r} (dataset.prompt_field / response_field)",
        )
    prompt, response = fields
    records = [
        GoldenRecord(prompt=r.data[prompt], reference=r.data[response]) for r in load_records(path, list(fields))
    ]
    if not records:
        raise ChatError(f"{path}: no records to evaluate")
    return records[:limit] if limit is not None else records


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F1 of one answer against its reference (torchmetrics' tokenizer: lower case, words only)."""
    from torchmetrics.functional.text.rouge import rouge_score

    return float(rouge_score(prediction, reference, rouge_keys="rougeL")["rougeL_fmeasure"])


def run_golden(
    model: ChatModel,
    records: list[GoldenRecord],
    *,
    data: Path,
    adapter: str | None = None,
    options: SamplingOptions = GOLDEN_OPTIONS,
    progress: Callable[[int, int], object] | None = None,
    cancel: threading.Event | None = None,
) -> GoldenReport:
    """Answer every record with the base model and the adapter (greedy) and score both."""
    names = [n for n in model.adapter_names if n != BASE_ADAPTER]
    adapter = adapter or (names[0] if names else None)
    if adapter is None:
        problem = next(iter(model.problems.values()), None)
        raise ChatError(problem or f"{model.info.path}: this model has no adapter to compare with the base model")
    started = time.perf_counter()
    report = GoldenReport(
        model=str(model.info.path), adapter=adapter, run_id=model.info.run_id, data=str(data), options=options
    )
    for index, record in enumerate(records):
        if cancel is not None and cancel.is_set():
            break
        base = model.answer(record.prompt, adapter=BASE_ADAPTER, options=options).text.strip()
        tuned = model.answer(record.prompt, adapter=adapter, options=options).text.strip()
        report.rows.append(
            GoldenRow(
                prompt=record.prompt,
                reference=record.reference,
                base=base,
                adapter=tuned,
                base_rouge_l=rouge_l(base, record.reference),
                adapter_rouge_l=rouge_l(tuned, record.reference),
            )
        )
        if progress is not None:
            progress(index + 1, len(records))
    report.duration_s = time.perf_counter() - started
    return report


def save_golden(report: GoldenReport, run_dir: Path) -> Path:
    path = run_dir / GOLDEN_FILE
    payload = {"summary": report.summary(), **report.model_dump()}
    return atomic_write_text(path, json.dumps(payload, indent=1), private=True)


def load_golden(run_dir: Path) -> GoldenReport | None:
    path = run_dir / GOLDEN_FILE
    if not path.is_file():
        return None
    try:
        return GoldenReport.model_validate_json(read_limited(path))
    except (OSError, ValueError):
        return None


def _clip(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def golden_table(report: GoldenReport, worst: int = 5, width: int = 100) -> str:
    """The report as text: the means, then the worst examples with both answers."""
    s = report.summary()
    lines = [
        f"Golden check: {s['examples']} held-back examples, greedy, ROUGE-L F1 against the references",
        f"  {'':<12}{'ROUGE-L':>9}{'wins':>7}",
        f"  {'base':<12}{report.base_mean:>9.3f}{s['base_better']:>7}",
        f"  {report.adapter:<12}{report.adapter_mean:>9.3f}{s['adapter_better']:>7}",
    ]
    rows = report.worst(worst)
    if rows:
        lines += ["", f"Worst {len(rows)} for {report.adapter}:"]
        col = max(20, width - 24)
        for number, row in enumerate(rows, start=1):
            lines += [
                f" {number}. prompt     {_clip(row.prompt, col)}",
                f"    reference  {_clip(row.reference, col)}",
                f"    base       {_clip(row.base, col - 8)}  [{row.base_rouge_l:.2f}]",
                f"    {_clip(report.adapter, 10):<10} {_clip(row.adapter, col - 8)}  [{row.adapter_rouge_l:.2f}]",
            ]
    return "\n".join(lines)
