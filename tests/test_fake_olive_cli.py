"""The fake `olive` is as strict as Olive 0.13: its parsers are the installed Olive's, flag by flag; it refuses
and fails where the real one does (FACTS.md); and every command line the lab's profiles build passes it."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from engine.config import build_config
from engine.steps import commands
from engine.steps.plan import run_plan
from tests.fakes.olive_cli import MODELLED, check_args, olive_parser
from tests.fakes.olive_training_args import training_parser

FAKE = Path(__file__).resolve().parent / "fakes" / "fake_olive.py"


def describe(parser: argparse.ArgumentParser) -> dict[str, Any]:
    """What a parser accepts: each flag's names, kind, arity, choices and whether it is required."""
    found: dict[str, Any] = {}
    for a in parser._actions:
        if not a.option_strings or a.option_strings[0] == "-h":
            continue
        kind = {int: "int", float: "float"}.get(a.type, "flag" if a.nargs == 0 else "value")  # type: ignore[call-overload]
        choices = sorted(str(c) for c in a.choices) if a.choices else None
        found[a.option_strings[0]] = (sorted(a.option_strings), kind, a.nargs, choices, a.required)
    return found


def subcommand(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[name]  # type: ignore[no-any-return]


def test_the_fakes_parsers_are_the_installed_olives() -> None:
    launcher = pytest.importorskip("olive.cli.launcher")
    transformers = pytest.importorskip("transformers")
    real, fake = launcher.get_cli_parser(), olive_parser()
    for name in MODELLED:
        assert describe(subcommand(fake, name)) == describe(subcommand(real, name)), name
    real_training = transformers.HfArgumentParser(transformers.TrainingArguments)
    assert set(describe(training_parser())) == set(describe(real_training))


def olive_argvs(profile: str) -> dict[str, list[str]]:
    """The Olive command lines of a profile's plan (after the program that starts Olive)."""
    config = build_config(profile, {"quantize": {"enabled": True}})
    found = {}
    for step in run_plan(config, None).steps:
        words = step.argv
        at = next((i for i, w in enumerate(words) if w in MODELLED), None)
        if at is not None:
            found[step.step] = words[at:]
    return found


@pytest.mark.parametrize("profile", ["demo", "phi35"])
def test_every_olive_command_of_a_profile_passes_the_strict_parser(profile: str) -> None:
    argvs = olive_argvs(profile)
    assert set(argvs) == {"finetune", "optimize"}
    config = build_config(profile, {"finetune": {"keep_checkpoints": 2}})
    resumed = commands.StepPaths("m", "data", "out", checkpoints="ck", resume_from="ck/checkpoint-5")
    argvs["resumed"] = commands.finetune_argv(config, resumed)[len(commands.olive_executable(None)) :]
    argvs["no_eval"] = commands.finetune_argv(config, resumed, has_eval=False)[len(commands.olive_executable(None)) :]
    for name, argv in argvs.items():
        assert check_args(argv) == [], (name, argv)


def fake(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(FAKE), *argv], cwd=cwd, capture_output=True, text=True, timeout=60)


@pytest.fixture
def model(tmp_path: Path) -> Path:
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.jsonl").write_text('{"prompt": "a", "response": "b"}\n')
    return tmp_path / "model"


def test_unknown_subcommands_and_flags_exit_2_with_argparses_message(tmp_path: Path, model: Path) -> None:
    proc = fake("optimise", "-m", str(model), cwd=tmp_path)
    assert proc.returncode == 2 and "invalid choice: 'optimise'" in proc.stderr
    proc = fake("auto-opt", "-m", str(model), "--use_model_builder", "--bogus_flag", "3", cwd=tmp_path)
    assert proc.returncode == 2 and "error: Unknown arguments: ['--bogus_flag', '3']" in proc.stderr
    proc = fake("auto-opt", "-m", str(model), "--precision", "int3", cwd=tmp_path)
    assert proc.returncode == 2 and "invalid choice: 'int3'" in proc.stderr
    # finetune hands what it does not know to TrainingArguments: a real field passes, anything else does not
    assert check_args(["finetune", "-m", "m", "-d", "d", "--warmup_steps", "3", "--no-log-on-each-node"]) == []
    proc = fake("finetune", "-m", str(model), "-d", "data", "--bogus_flag", "3", cwd=tmp_path)
    assert proc.returncode == 2 and "unrecognized arguments: --bogus_flag 3" in proc.stderr
    proc = fake("finetune", "-m", str(model), "-d", "data", "--max_steps", "many", cwd=tmp_path)
    assert proc.returncode == 2 and "invalid int value: 'many'" in proc.stderr


def test_the_labs_bare_awq_quantize_raises_as_facts_record(tmp_path: Path, model: Path) -> None:
    proc = fake("quantize", "-m", str(model), "--algorithm", "awq", "-o", "q", cwd=tmp_path)
    assert proc.returncode == 1
    assert "ValueError: Quantization for precision int8, algorithm awq and implementation olive" in proc.stderr
    assert (
        check_args(["quantize", "-m", "m", "--algorithm", "awq", "--implementation", "awq", "--precision", "int4"])
        == []
    )


def test_auto_opt_without_the_model_builder_produces_nothing_and_exits_0(tmp_path: Path, model: Path) -> None:
    proc = fake("auto-opt", "-m", str(model), "-o", "out", cwd=tmp_path)
    assert proc.returncode == 0 and "No output model produced" in proc.stdout
    assert not any((tmp_path / "out").iterdir())
    assert check_args(["auto-opt", "-m", "m"]) != []


def test_inputs_that_are_not_there_fail_as_real_olive_fails(tmp_path: Path, model: Path) -> None:
    proc = fake("finetune", "-m", str(tmp_path / "nomodel"), "-d", "data", "-o", "out", cwd=tmp_path)
    assert proc.returncode == 1 and "HFValidationError" in proc.stderr and "Traceback" in proc.stderr
    assert (tmp_path / "out").is_dir() and not (tmp_path / ".olive-cache").exists()  # before the workflow
    proc = fake("auto-opt", "-m", str(model), "-a", str(tmp_path / "noadapter"), "--use_model_builder", cwd=tmp_path)
    assert proc.returncode == 1 and "Can't find 'adapter_config.json'" in proc.stderr
    proc = fake("finetune", "-m", str(model), "-d", str(tmp_path / "nodata"), "-o", "ft", cwd=tmp_path)
    assert proc.returncode == 0 and "Couldn't find any data file" in proc.stdout  # Olive exits 0 here
    assert "No output model produced" in proc.stdout and not any((tmp_path / "ft").iterdir())


def test_a_run_leaves_olives_cache_in_the_working_folder(tmp_path: Path, model: Path) -> None:
    proc = fake("finetune", "-m", str(model), "-d", str(tmp_path / "data"), "-o", "ft", cwd=tmp_path)
    assert proc.returncode == 0 and (tmp_path / "ft" / "adapter" / "adapter_config.json").is_file()
    assert (tmp_path / ".olive-cache" / "default_workflow").is_dir()
