"""The log parser on output captured from real Olive and AWQ runs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.steps.logparse import LogParser, classify_line, parse_progress, stamped
from tests.helpers import LOGS


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


def test_lines_olive_lab_writes_into_a_step_log_read_like_olives_own() -> None:
    before = time.strftime("%Y-%m-%d %H:%M:%S")
    line = stamped("Azure refused the job: quota exceeded", level="ERROR", origin="register.py:0:main")
    assert re.fullmatch(
        r"\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}\] \[ERROR\] \[register.py:0:main\] Azure refused.*", line
    )
    assert before <= line[1:20] <= time.strftime("%Y-%m-%d %H:%M:%S")  # local time, as Olive's lines
    assert classify_line(line) == "error"
    assert classify_line(stamped("Reused the output of run r1")) == "info"


# ---------------------------------------------------------------- the failure reason, whatever the exception


def python_stderr(code: str) -> str:
    """What a real Python program prints when it fails this way (colours off, as in a step log)."""
    env = {**os.environ, "PYTHON_COLORS": "0", "NO_COLOR": "1"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode != 0
    return proc.stdout + proc.stderr


def reason_of(text: str, chunk: int = 257) -> str | None:
    parser = LogParser()
    for i in range(0, len(text), chunk):
        parser.feed(text[i : i + chunk])
    parser.finish()
    return parser.reason


HF_DETAILS = (
    "Exception: Hugging Face details not found in extra_options. "
    "Please call `parse_extra_options` before `create_model`."
)


@pytest.mark.parametrize("chunk", [1, 257, 65536])
def test_a_chained_olive_failure_gives_its_last_exception_even_a_bare_exception(chunk: int) -> None:
    # `olive auto-opt --use_model_builder` (Olive 0.13.0) with onnxruntime-genai 0.15.0, captured as printed:
    # a KeyError, then "During handling of the above exception", then a bare `Exception: ...`.
    parser, events = parse("optimize_fail_hf_details.log", chunk)
    assert parser.reason == HF_DETAILS
    assert parser.no_output and "pass_failed" in [e.kind for e in events]


def test_a_bare_exception_alone_is_the_reason() -> None:
    text = python_stderr("print('Loading the model'); raise Exception('calibration produced no scales')")
    assert reason_of(text) == "Exception: calibration produced no scales"


def test_an_exception_named_without_error_in_its_name_is_the_reason() -> None:
    # onnxruntime's own exception types are named for their status, not "...Error".
    text = python_stderr("import onnxruntime as ort; ort.InferenceSession(b'not a model')")
    reason = reason_of(text)
    assert reason is not None
    assert reason.startswith("onnxruntime.capi.onnxruntime_pybind11_state.InvalidProtobuf: [ONNXRuntimeError]")


def test_system_exit_and_keyboard_interrupt_logged_with_their_traceback() -> None:
    code = (
        "import logging, sys\n"
        "logging.basicConfig("
        "format='[%(asctime)s] [%(levelname)s] [%(filename)s:%(lineno)d:%(funcName)s] %(message)s')\n"
        "try:\n"
        "    sys.exit('the step needs a GPU')\n"
        "except SystemExit:\n"
        "    logging.exception('Pass run failed.')\n"
        "sys.exit(3)\n"
    )
    assert reason_of(python_stderr(code)) == "SystemExit: the step needs a GPU"
    code = "import time, _thread; _thread.interrupt_main(); time.sleep(5)"
    assert reason_of(python_stderr(code)) == "KeyboardInterrupt"


def test_explicitly_chained_exceptions_give_the_outermost() -> None:
    code = (
        "try:\n"
        "    {}['hf_details']\n"
        "except KeyError as exc:\n"
        "    raise RuntimeError('the model builder needs hf_details') from exc\n"
    )
    text = python_stderr(code)
    assert "The above exception was the direct cause" in text
    assert reason_of(text, chunk=7) == "RuntimeError: the model builder needs hf_details"


def test_a_multi_line_message_gives_its_first_line_and_code_lines_are_not_exceptions() -> None:
    code = "raise ValueError('two lines:\\nsecond line')"
    text = python_stderr(code)
    assert reason_of(text) == "ValueError: two lines:"
    # A traceback whose code line reads like an exception is still read to its end.
    code = "def f():\n    raise Exception('deep')\nf()"
    assert reason_of(python_stderr(code)) == "Exception: deep"


def test_an_exception_line_without_a_traceback_is_a_weaker_reason() -> None:
    parser = LogParser()
    parser.feed("step 1\nException: the adapter file is empty\nbye\n")
    assert parser.reason == "Exception: the adapter file is empty"
    parser.feed('Traceback (most recent call last):\n  File "x.py", line 1, in <module>\nOSError: disk full\n')
    assert parser.reason == "OSError: disk full"
    parser.feed("ValueError: printed later, outside a traceback\n")
    assert parser.reason == "OSError: disk full"  # a traceback's exception outranks a stray line


def test_a_refused_command_line_gives_its_error() -> None:
    code = "import argparse; argparse.ArgumentParser(prog='olive finetune').parse_args(['--bogus', '1'])"
    assert reason_of(python_stderr(code)) == "olive finetune: error: unrecognized arguments: --bogus 1"


def test_a_line_that_only_starts_with_the_word_exception_is_not_an_error() -> None:
    assert classify_line("Exception handling is enabled for this pass") == "other"
    assert classify_line("Exception: the adapter file is empty") == "error"
    assert reason_of("Exception handling is enabled\nstep 2\n") is None


# ---------------------------------------------------------------- the verdict, through the real supervisor


def test_a_run_whose_optimize_log_ends_in_a_bare_exception_is_failed_with_that_line(
    tmp_path: Path, fake_olive_env: dict[str, str]
) -> None:
    from engine.runs.state import read_state
    from tests.conftest import olive_lab

    lab = tmp_path / "lab"
    lab.mkdir()
    (lab / "lab.toml").write_text('profile = "demo"\n[quantize]\nenabled = false\n[evaluate]\nenabled = false\n')
    env = {**fake_olive_env, "FAKE_OLIVE_LOG_AUTO_OPT": str(LOGS / "optimize_fail_hf_details.log")}
    proc = olive_lab("pipeline", "run", lab=lab, env=env, timeout=900)
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    [run] = list((lab / "runs").iterdir())
    optimize = read_state(run).step("optimize")
    assert optimize.status == "failed"
    assert optimize.reason == f"{HF_DETAILS} (Olive exited 0 anyway)"
