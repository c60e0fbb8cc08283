"""Which branch of a sweep is best, and why: the one rule (`RANK_RULE`) and the one function that applies it
(`rank_branches`), shared by `olive-lab sweep --compare`, `olive-lab runs show` and the app's sweep view.

The rule puts held-out quality first: a branch ships its ONNX int4 model with its adapter, so the evaluate
step's held-out loss of that stage (the same records and tokens for every branch) decides; the golden-check
score comes next and the fine-tune's own eval loss last. Held-out losses are compared record by record with
the evaluate step's noise rule, so a branch whose difference from the best is within two standard errors is
said to be indistinguishable from it on this split, not worse.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from engine.steps.evaluation import STAGES, loss_difference

if TYPE_CHECKING:
    from engine.runs.sweep import BranchRow

RANKED_STAGE = "onnx_adapter"  # the model a branch ships: ONNX int4 with its adapter
RANK_SHORT = "lowest held-out loss, then highest golden score, lowest eval loss, lowest training loss"
CRITERIA = ("held-out loss", "golden score", "eval loss", "training loss")
RANK_RULE = (
    f"best first by the held-out loss of the {STAGES[RANKED_STAGE]} stage (lower is better; the evaluate step), "
    "then the golden-check score (higher), the eval loss (lower), the final training loss (lower); a branch "
    "without a figure comes after those with one, and a branch that did not finish is not ranked"
)


@dataclass
class BranchRank:
    """Where one branch stands: its rank (1 is the best; None when it did not finish), the measure that put it
    below the branch ranked just above it, and whether its held-out loss is within noise of the best's."""

    row: BranchRow
    rank: int | None
    decided_by: str | None = None  # one of CRITERIA; None for the first, a tie or an unranked branch
    within_noise: bool | None = None  # None where the best and this branch were not both measured
    difference: float | None = None  # held-out loss, this minus the best's (lower is better)
    standard_error: float | None = None
    note: str = ""


def _key(row: BranchRow) -> tuple[tuple[bool, float], ...]:
    """Per criterion: (missing, value to minimise); a missing figure sorts after any present one."""
    golden = None if row.golden is None else -row.golden
    values = (row.held_out_loss, golden, row.eval_loss, row.final_loss)
    return tuple((v is None, v if v is not None else 0.0) for v in values)


def _figures(row: BranchRow) -> str:
    parts = []
    if row.held_out_loss is not None:
        ppl = f"perplexity {math.exp(row.held_out_loss):.2f}, " if row.held_out_loss < 50 else ""
        parts.append(f"held-out loss {row.held_out_loss:.3f} ({ppl}{len(row.held_out_record_losses)} records)")
    if row.golden is not None:
        parts.append(f"golden {row.golden:.3f}")
    if row.eval_loss is not None:
        parts.append(f"eval loss {row.eval_loss:.4f}")
    if row.final_loss is not None and not parts:
        parts.append(f"training loss {row.final_loss:.4f}")
    return ", ".join(parts) or "no figures"


def rank_branches(rows: Sequence[BranchRow]) -> list[BranchRank]:
    """The branches best first by RANK_RULE (finished ones ranked, the others after them, unranked), each with
    a one-line note saying why it stands there."""
    done = sorted((r for r in rows if r.status == "done"), key=_key)
    ranked: list[BranchRank] = []
    best = done[0] if done else None
    for index, row in enumerate(done):
        entry = BranchRank(row, index + 1)
        if index:
            above = ranked[-1]
            ka, kb = _key(above.row), _key(row)
            entry.decided_by = next((c for c, a, b in zip(CRITERIA, ka, kb, strict=True) if a != b), None)
            entry.rank = above.rank if entry.decided_by is None else index + 1  # a tie on every measure
        note = _figures(row)
        if index == 0:
            note = f"best: {note}" if note != "no figures" else "no figures to rank on"
        elif entry.decided_by is None:
            note += f"; tied with {above.row.value}"
        if index and entry.decided_by not in (None, CRITERIA[0]):
            note += f"; below {above.row.value} by {entry.decided_by}"
        if index and best is not None and best.held_out_loss is not None and row.held_out_loss is not None:
            best_records, records = best.held_out_record_losses, row.held_out_record_losses
            n, diff, se, noise = loss_difference(best.held_out_loss, row.held_out_loss, best_records, records)
            if n and n == len(best_records) == len(records):
                entry.within_noise, entry.difference, entry.standard_error = noise, diff, se
                spread = f"±{2 * se:.3f}" if se is not None else "no spread with one record"
                verdict = "within noise: this split cannot tell it from the best" if noise else "beyond noise"
                note += f"; held-out loss {diff:+.3f} against the best (lower is better; {spread}, n={n}): {verdict}"
        entry.note = note
        ranked.append(entry)
    for row in rows:
        if row.status != "done":
            ranked.append(BranchRank(row, None, note=f"not ranked: {row.status}"))
    return ranked


def ranking_lines(ranked: Sequence[BranchRank]) -> list[str]:
    """The ranking as text: the rule, then one line per branch, best first."""
    if not ranked:
        return []
    width = max(len(r.row.value) for r in ranked)
    lines = [f"Ranking, {RANK_RULE}."]
    for r in ranked:
        lines.append(f"  {str(r.rank) + '.' if r.rank else '-':>3} {r.row.value:<{width}}  {r.note}")
    return lines


def rank_records(rows: Sequence[BranchRow]) -> list[dict[str, Any]]:
    """Each branch as plain data (the command line's --json), in the sweep's order, with its rank by the one
    rule (1 is the best; None: it did not finish), the note saying why and whether its held-out loss is within
    noise of the best's."""
    ranks = {id(r.row): r for r in rank_branches(rows)}
    return [{**asdict(row), "rank": ranks[id(row)].rank, "rank_note": ranks[id(row)].note,
             "within_noise_of_best": ranks[id(row)].within_noise, "rank_rule": RANK_RULE} for row in rows]  # fmt: skip
