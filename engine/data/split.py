"""The held-back split: which records are kept for evaluation, and the train.jsonl / validation.jsonl files
the steps read. Seeded and keyed on record positions, so the same data and seed give the same split; exact
duplicates stay on one side of it, so evaluation never scores a record the model was trained on.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from engine.data.records import DatasetError, DatasetReport, check_dataset
from engine.fs import atomic_open


@dataclass(frozen=True)
class SplitInfo:
    source: Path
    source_sha256: str
    train_path: Path
    validation_path: Path
    train_records: int
    validation_records: int
    share: float
    seed: int
    skipped_lines: int
    duplicates: int = 0  # records repeating an earlier one exactly (each on its first copy's side)

    def to_dict(self) -> dict[str, Any]:
        return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items()}


def eval_indices(n: int, share: float, seed: int) -> set[int]:
    """Which of `n` records are held back: round(n * share) of them, at least one when share > 0 and n >= 2,
    never all. Ranked by a hash of (seed, index), so the choice does not depend on the Python version."""
    if n < 0 or not 0.0 <= share <= 1.0:
        raise ValueError(f"need n >= 0 and 0 <= share <= 1, got n={n}, share={share}")
    if share == 0 or n < 2:
        return set()
    count = min(max(1, round(n * share)), n - 1)
    salt = str(seed).encode()

    def rank(i: int) -> bytes:
        return hashlib.blake2b(i.to_bytes(8, "little"), digest_size=8, key=salt[:64]).digest()

    return set(sorted(range(n), key=rank)[:count])


def held_back(report: DatasetReport, share: float, seed: int) -> set[int]:
    """The record indices held back for evaluation: `eval_indices` over the distinct records, so exact
    duplicates count once and every copy goes to the side its first copy goes to (evaluation never scores a
    record the model was trained on). Without duplicates this is `eval_indices(report.records, ...)`."""
    if not report.repeats:
        return eval_indices(report.records, share, seed)
    group_of: list[int] = []  # record index -> index among the distinct records
    distinct = 0
    for index in range(report.records):
        first = report.repeats.get(index)
        if first is None:
            group_of.append(distinct)
            distinct += 1
        else:
            group_of.append(group_of[first])
    held = eval_indices(distinct, share, seed)
    return {index for index, group in enumerate(group_of) if group in held}


def write_split(
    path: str | os.PathLike[str],
    prompt_field: str,
    response_field: str,
    share: float,
    seed: int,
    out_dir: str | os.PathLike[str],
    *,
    allow_problems: bool = False,
) -> SplitInfo:
    """Write out_dir/train.jsonl and out_dir/validation.jsonl holding only the two configured fields.

    Refuses a file with blocking problems unless `allow_problems` (then bad lines are skipped)."""
    fields = (prompt_field, response_field)
    records: list[dict[str, str]] = []
    report = check_dataset(
        path, fields, max_problems=1, on_record=lambda _line, data: records.append({f: data[f] for f in fields})
    )
    if report.fatal or (report.blocking_count and not allow_problems) or not records:
        raise report.error()
    held = held_back(report, share, seed)
    if share > 0 and not held:
        different = " different" if report.repeats else ""
        raise DatasetError(f"needs at least 2{different} records to hold some back for evaluation", path=path)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    train_path, validation_path = out / "train.jsonl", out / "validation.jsonl"
    _write_jsonl(train_path, (r for i, r in enumerate(records) if i not in held))
    _write_jsonl(validation_path, (r for i, r in enumerate(records) if i in held))
    return SplitInfo(
        source=Path(path),
        source_sha256=report.sha256 or "",
        train_path=train_path,
        validation_path=validation_path,
        train_records=len(records) - len(held),
        validation_records=len(held),
        share=share,
        seed=seed,
        skipped_lines=report.lines - report.records,
        duplicates=report.duplicates,
    )


def duplicates_sentence(duplicates: int) -> str:
    """What the split did with exact duplicates, for the prepare step's log and `dataset split`."""
    return (
        f"{duplicates:,} record(s) repeat an earlier one exactly: each copy is on the same side of the split as "
        "its first (never one in training and one in evaluation)"
    )


def _write_jsonl(path: Path, rows: Iterator[dict[str, Any]]) -> None:
    with atomic_open(path) as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
