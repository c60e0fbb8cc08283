"""A sweep's best branch is chosen on held-out quality (the evaluate step's loss of the shipped model), not on
the fine-tune's own eval loss; the ranking says its rule, and where the split cannot tell two branches apart."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fixtures.runfolders import evaluated_sweep

from cli import main as cli_main
from engine.runs.sweep import BranchRow
from engine.runs.sweep_rank import RANK_RULE, rank_branches


def test_the_comparison_ranks_branches_by_held_out_loss_and_says_the_rule(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    lab = tmp_path / "lab"
    sweep = evaluated_sweep(lab / "runs")
    assert cli_main(["sweep", "--compare", sweep.name, "--lab", str(lab)]) == 0
    text = capsys.readouterr().out
    rows = {line.split()[0]: line for line in text.splitlines()[3:7]}
    assert "2.2320*" in rows["4"] and "2.000*" in rows["16"]  # the best eval loss and the best held-out loss differ
    ranking = text[text.index("Ranking, ") :].splitlines()
    assert ranking[0] == f"Ranking, {RANK_RULE}."
    assert (
        ranking[1].split()[:3] == ["1.", "16", "best:"]
        and "held-out loss 2.000 (perplexity 7.39, 8 records)" in ranking[1]
    )
    assert (
        ranking[2].split()[:2] == ["2.", "64"] and "within noise: this split cannot tell it from the best" in ranking[2]
    )
    assert (
        ranking[3].split()[:2] == ["3.", "4"]
        and "held-out loss +0.300 against the best (lower is better;" in ranking[3]
    )
    assert "beyond noise" in ranking[3] and ranking[4].split()[:3] == ["-", "128", "not"]
    # the same ranking in --json (each branch in the sweep's order) and in runs show
    assert cli_main(["sweep", "--compare", sweep.name, "--json", "--lab", str(lab)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [(b["value"], b["rank"], b["within_noise_of_best"]) for b in data] == [
        ("4", 3, False), ("16", 1, None), ("64", 2, True), ("128", None, None)]  # fmt: skip
    assert data[1]["held_out_loss"] == pytest.approx(2.0) and data[1]["rank_rule"] == RANK_RULE
    assert cli_main(["runs", "show", sweep.name, "--lab", str(lab)]) == 0
    assert "  1. 16 " in capsys.readouterr().out
    assert cli_main(["runs", "show", sweep.name, "--json", "--lab", str(lab)]) == 0
    assert [b["rank"] for b in json.loads(capsys.readouterr().out)["branches"]] == [3, 1, 2, None]


def test_without_held_out_figures_the_golden_score_then_the_eval_loss_decide() -> None:
    rows = [
        BranchRow("lora_r-4", "4", "done", eval_loss=2.1, golden=0.30),
        BranchRow("lora_r-8", "8", "done", eval_loss=2.0, golden=0.30),
        BranchRow("lora_r-16", "16", "done", eval_loss=1.9, golden=0.35),
        BranchRow("lora_r-32", "32", "done", eval_loss=1.5, held_out_loss=2.4, held_out_record_losses=[2.4]),
    ]
    ranked = rank_branches(rows)
    assert [(r.row.value, r.rank, r.decided_by) for r in ranked] == [
        ("32", 1, None), ("16", 2, "held-out loss"), ("8", 3, "golden score"), ("4", 4, "eval loss")]  # fmt: skip
    assert "below 16 by golden score" in ranked[2].note and ranked[0].note.startswith("best: held-out loss 2.400")
    tie = rank_branches([BranchRow("a", "1", "done", eval_loss=2.0), BranchRow("b", "2", "done", eval_loss=2.0)])
    assert [r.rank for r in tie] == [1, 1] and "tied with 1" in tie[1].note
