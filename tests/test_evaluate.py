"""The evaluate step: what each stage of a run costs and buys, as the user reads it (runs show, the monitor,
the model card), its reuse, and its figures checked against plain transformers + peft on the real demo run."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import pytest
from fixtures.monitor_app import MonitorApp
from fixtures.runfolders import evaluated_run, stage_result

from cli import main as cli_main
from engine.config import build_config
from engine.runs.export import model_card
from engine.runs.provenance import run_provenance
from engine.runs.state import read_state
from engine.steps.evaluation import comparisons, run_evaluation
from engine.steps.spec import spec
from tests.conftest import olive_lab
from tests.helpers import only_run


def test_the_noise_rule_warns_on_a_difference_within_two_standard_errors_only() -> None:
    original = stage_result("original", "torch", [2.0, 2.2, 1.8, 2.1, 1.9, 2.0], 100, 0.2)
    noisy = stage_result("onnx", "onnxruntime-genai", [2.05, 2.15, 1.85, 2.05, 1.95, 2.01], 40, 0.2)
    better = stage_result("onnx_adapter", "onnxruntime-genai", [1.65, 1.75, 1.45, 1.65, 1.55, 1.61], 41, 0.3)
    int4, adapter = comparisons([original, noisy, better])
    assert int4.noise and int4.records == 6 and "too few records" in (int4.warning or "")
    assert int4.sentence.startswith("int4: perplexity +") and "-60.0 % size" in int4.sentence
    assert not adapter.noise and adapter.warning is None
    assert adapter.sentence.startswith("adapter: held-out loss -19.9 % against the int4 base")
    one = comparisons(
        [original.model_copy(update={"record_losses": [2.0]}), noisy.model_copy(update={"record_losses": [1.0]})]
    )
    assert one[0].noise and "no spread with one record" in (one[0].warning or "")  # one record tells nothing


def test_runs_show_prints_the_table_what_each_step_did_and_the_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    lab = tmp_path / "lab"
    run = evaluated_run(lab / "runs")
    assert cli_main(["runs", "show", run.name, "--lab", str(lab)]) == 0
    text = capsys.readouterr().out
    assert "Evaluation: 6 of 37 held-out records, 360 scored tokens, greedy answers of at most 16 tokens" in text
    row = next(line for line in text.splitlines() if line.startswith("ONNX int4 + adapter"))
    assert row.split()[4:] == ["1.610", "5.00", "0.330", "2750.0", "400", "25.0", "0.050"]
    assert "AWQ-scaled (torch)" in text and "not measured: OSError: no config.json" in text
    assert "adapter: held-out loss -19.9 % against the int4 base" in text
    assert "warning: int4: over 6 held-out records" in text
    assert cli_main(["runs", "show", run.name, "--json", "--lab", str(lab)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["evaluation"]["schema_version"] == 1 and data["evaluation"]["records"] == 6
    assert [s["stage"] for s in data["evaluation"]["stages"]][:2] == ["original", "finetuned"]
    assert [c["noise"] for c in data["evaluation"]["comparisons"]] == [True, False]


def test_the_model_card_carries_the_evaluation(tmp_path: Path) -> None:
    run = evaluated_run(tmp_path / "lab" / "runs")
    card = model_card(run_provenance(run), ["model.onnx"], ["travel"], run_evaluation(run))
    assert "## Evaluation (held-out split)" in card
    assert "| ONNX int4 + adapter | 1.610 | 5.00 | 0.330 | 2750.0 | 400 | 25.0 | 0.050 |" in card
    assert "adapter: held-out loss -19.9 %" in card and "two standard errors" in card


async def test_the_monitor_shows_the_compact_table_once_the_step_is_done(tmp_path: Path) -> None:
    evaluated_run(tmp_path / "runs")
    app = MonitorApp(tmp_path)
    async with app.run_test(size=(100, 40)) as pilot:
        panel = app.screen.query_one("#mon-eval")
        deadline = time.monotonic() + 5
        while not panel.display and time.monotonic() < deadline:
            await pilot.pause(0.05)
        text = str(panel.render())
        assert "6 held-out records" in text and "ONNX int4 + adapter" in text
        assert "int4: perplexity" in text and "(n=6: within noise)" in text


def test_the_evaluate_key_follows_its_own_settings() -> None:
    demo = build_config("demo")
    assert demo.evaluate.enabled and not build_config("phi35").evaluate.enabled
    settings = spec("evaluate").reuse_settings
    assert settings(demo) != settings(build_config("demo", {"evaluate": {"max_records": 4}}))
    assert settings(demo) == settings(build_config("demo", {"evaluate": {"enabled": True}}))


def test_an_unchanged_rerun_reuses_the_evaluation_and_unmeasurable_stages_say_why(
    tmp_path: Path, demo_lab: Path, fake_olive_env
) -> None:
    """On the recorded-output stand-in for Olive the ONNX and fine-tuned folders are not models: the step
    still measures the original model and says why the others were not measured; a rerun reuses it."""
    lab = tmp_path / "lab"
    lab.mkdir()
    (lab / "lab.toml").write_text(
        'profile = "demo"\n[quantize]\nenabled = false\n[evaluate]\nmax_records = 2\nmax_new_tokens = 2\n'
    )
    olive_lab("pipeline", "run", lab=lab, env=fake_olive_env, check=True)
    first = only_run(lab)
    evaluation = run_evaluation(first)
    assert evaluation is not None and evaluation.records == 2
    assert evaluation.cpus >= 1 and evaluation.load_average is not None  # how busy the machine was, for the speeds
    by = {s.stage: s for s in evaluation.stages}
    assert by["original"].loss is not None and math.isfinite(by["original"].loss)
    assert by["onnx"].error and by["finetuned"].error
    olive_lab("pipeline", "run", lab=lab, env=fake_olive_env, check=True)
    second = read_state(only_run(lab))
    assert second.step("evaluate").status == "reused" and second.step("evaluate").reused_from == first.name


@pytest.mark.pipeline
def test_the_fine_tuned_stage_loss_is_what_plain_transformers_and_peft_compute(demo_run: Path) -> None:
    """The table's figure for the fine-tuned stage, recomputed here without the step's own code: the first N
    held-out records rendered with the template, the response and its closing text scored given the prompt."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    assert read_state(demo_run).step("evaluate").status == "done"
    evaluation = run_evaluation(demo_run)
    assert evaluation is not None
    tuned = evaluation.stage("finetuned")
    assert tuned is not None and tuned.loss is not None, tuned
    folder = demo_run / "finetune" / "output"
    tokenizer = AutoTokenizer.from_pretrained(folder / "model")
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(folder / "model"), folder / "adapter").eval()
    template = read_state(demo_run).config.finetune.text_template
    before, _, after = template.partition("{response}")
    lines = (demo_run / "data" / "validation.jsonl").read_text(encoding="utf-8").splitlines()
    total, count = 0.0, 0
    for line in lines[: evaluation.records]:
        record = json.loads(line)
        prompt = tokenizer(before.format(prompt=record["prompt"])).input_ids
        target = tokenizer(record["response"] + after, add_special_tokens=False).input_ids
        ids = torch.tensor([prompt + target])
        labels = ids.clone()
        labels[0, : len(prompt)] = -100  # only the reference answer counts
        with torch.no_grad():
            loss = model(input_ids=ids, labels=labels).loss.item()
        total, count = total + loss * len(target), count + len(target)
    assert evaluation.records == min(8, len(lines)) and tuned.scored_tokens == count == evaluation.scored_tokens
    assert total / count == pytest.approx(tuned.loss, rel=1e-4)
    assert tuned.perplexity == pytest.approx(math.exp(total / count), rel=1e-3)
    # Every stage was measured on the real chain, and the table says what int4 and the adapter did.
    assert [s.stage for s in evaluation.stages] == ["original", "awq", "finetuned", "onnx", "onnx_adapter"]
    assert all(s.loss is not None and s.rouge_l is not None and s.tokens_per_s for s in evaluation.stages)
    assert [c.name for c in evaluation.comparisons] == ["int4", "adapter"]


def test_speeds_measured_on_a_busy_machine_say_so(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """tok/s and TTFT depend on what else runs: the table says how busy the machine was, and warns when it was
    busier than its CPUs (on the demo's 2 cores the same model measured 141 and 824 tok/s in two runs)."""
    lab = tmp_path / "lab"
    run = evaluated_run(lab / "runs")
    path = run / "evaluate" / "output" / "evaluation.json"
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "cpus": 2, "load_average": 4.3}))
    assert cli_main(["runs", "show", run.name, "--lab", str(lab)]) == 0
    assert ("tok/s, TTFT s: measured with the machine's load at 4.3 on 2 CPUs (busy: other processes took CPU "
            "time, so the speeds are low and differ from run to run)") in capsys.readouterr().out  # fmt: skip
    path.write_text(json.dumps({**data, "cpus": 16, "load_average": 0.5}))
    assert cli_main(["runs", "show", run.name, "--lab", str(lab)]) == 0
    out = capsys.readouterr().out
    assert "tok/s, TTFT s: measured with the machine's load at 0.5 on 16 CPUs\n" in out and "(busy:" not in out
