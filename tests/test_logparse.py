"""The log parser on output captured from real Olive and AWQ runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.steps.logparse import LogParser, classify_line, parse_progress

LOGS = Path(__file__).parent / "data" / "logs"


def parse(name: str, chunk: int = 257) -> tuple[LogParser, list]:
    parser = LogParser()
    text = (LOGS / name).read_text(encoding="utf-8")
    events = []
    for i in range(0, len(text), chunk):  # odd chunk sizes split lines and tqdm redraws mid-way
        events += parser.feed(text[i : i + chunk])
    events += parser.finish()
    return parser, events


@pytest.mark.parametrize("chunk", [1, 257, 65536])
def test_finetune_log_gives_losses_eval_losses_and_the_saved_model(chunk: int) -> None:
    parser, events = parse("finetune_ok.log", chunk)
    kinds = [e.kind for e in events]
    losses = [e.data["loss"] for e in events if e.kind == "loss"]
    assert len(losses) == 20  # --max_steps 20 --logging_steps 1
    assert all(isinstance(x, float) for x in losses)
    assert kinds.count("eval_loss") == 2  # --eval_steps 10
    assert kinds.index("pass_started") < kinds.index("loss") < kinds.index("pass_finished")
    assert parser.saved_to and parser.saved_to.endswith("finetune/output")
    assert parser.reason is None
    assert parser.progress is not None and parser.progress.n == parser.progress.total


def test_a_failed_export_that_exits_zero_is_a_failure_with_its_exception_as_reason() -> None:
    parser, events = parse("optimize_fail_torch_export.log")
    assert parser.no_output
    assert parser.reason is not None
    assert parser.reason.startswith("RuntimeError: Only tuples, lists and Variables are supported")
    assert "no_output" in [e.kind for e in events]
    assert not any(e.kind == "saved" for e in events)


def test_optimize_log_names_both_passes() -> None:
    _, events = parse("optimize_ok.log")
    started = [e.data["pass_type"] for e in events if e.kind == "pass_started"]
    finished = [e.data["pass_name"] for e in events if e.kind == "pass_finished"]
    assert started == ["modelbuilder", "extractadapters"]
    assert finished == ["model_builder:modelbuilder", "extract_adapters:extractadapters"]


def test_quantize_program_log_reads_like_olive() -> None:
    parser, events = parse("quantize_ok.log")
    assert [e.kind for e in events if e.kind.startswith("pass")] == ["pass_started", "pass_finished"]
    assert parser.saved_to and parser.saved_to.endswith("quantize/output")


def test_tqdm_redraw_gives_step_total_rate_and_eta() -> None:
    info = parse_progress("\r 50%|█████     | 5/10 [00:06<00:06,  1.33s/it]")
    assert info is not None
    assert (info.n, info.total, info.eta_s) == (5, 10, 6.0)
    assert info.rate == pytest.approx(1 / 1.33)
    fast = parse_progress("AWQ:  50%|█████     | 1/2 [00:01<00:01,  7.50it/s]")
    assert fast is not None and fast.desc == "AWQ" and fast.rate == 7.5


def test_only_the_newest_redraw_counts_and_lines_are_counted() -> None:
    parser = LogParser()
    parser.feed("".join(f"\r {i}%|#| {i}/100 [00:01<00:02, 9.00it/s]" for i in range(100)) + "\nend\n")
    assert parser.progress is not None and parser.progress.n == 99
    assert parser.lines == 2


def test_line_colours() -> None:
    assert classify_line("[2026-11-24 21:16:31,837] [ERROR] [engine.py:1:x] boom") == "error"
    assert classify_line("RuntimeError: Only tuples") == "error"
    assert classify_line("[2026-11-24 21:16:31,837] [WARNING] [engine.py:237:run] No output model produced.") == "error"
    assert classify_line("[2026-11-24 21:16:31,837] [WARNING] [auto_opt.py:184:run] deprecated") == "warning"
    assert classify_line(" 50%|█████     | 5/10 [00:06<00:06,  1.33s/it]") == "progress"
    assert classify_line("[2026-11-24 21:16:31,837] [INFO] [engine.py:1:x] Running pass f:lora") == "info"
