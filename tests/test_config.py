"""lab.toml is read as typed: a value of the wrong type is refused with the file, the line and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.config import LabConfigError, load_config
from engine.errors import OliveLabError
from engine.paths import LabPaths
from tests.conftest import olive_lab


def load(tmp_path: Path, text: str):
    (tmp_path / "lab.toml").write_text(text, encoding="utf-8")
    return load_config(LabPaths(tmp_path))


def refusal(tmp_path: Path, text: str) -> LabConfigError:
    with pytest.raises(LabConfigError) as info:
        load(tmp_path, text)
    assert isinstance(info.value, OliveLabError)
    return info.value


@pytest.mark.parametrize(
    ("text", "line", "field", "message"),
    [
        (
            'profile = "demo"\n\n[finetune]\nmax_steps = true\n',
            4,
            "finetune.max_steps",
            "expected a whole number, got true (a boolean)",
        ),
        (
            '[finetune]\nlora_r = 8\nmax_steps = "20"\n',
            3,
            "finetune.max_steps",
            "expected a whole number, got '20' (a string)",
        ),
        ("[finetune]\nmax_steps = 20.0\n", 2, "finetune.max_steps", "expected a whole number, got 20.0 (a number)"),
        (
            "[finetune]\nlearning_rate = false\n",
            2,
            "finetune.learning_rate",
            "expected a number, got false (a boolean)",
        ),
        ("[quantize]\nenabled = 1\n", 2, "quantize.enabled", "expected true or false, got 1 (a whole number)"),
        ('[dataset]\nsplit_seed = "7"\n', 2, "dataset.split_seed", "expected a whole number, got '7' (a string)"),
        ("stall_minutes = true\n", 1, "stall_minutes", "expected a number, got true (a boolean)"),
        ("theme = 3\n", 1, "theme", "expected text in quotes, got 3 (a whole number)"),
        ("# a comment\nfinetune.max_steps = true\n", 2, "finetune.max_steps", "expected a whole number"),
        ("finetune = { lora_r = 8, max_steps = true }\n", 1, "finetune.max_steps", "expected a whole number"),
        (
            "[optimize.env]\nCUDA_VISIBLE_DEVICES = 0\n",
            2,
            "optimize.env.CUDA_VISIBLE_DEVICES",
            "expected text in quotes",
        ),
        (
            "[finetune]\nmax_step = 5\n",
            2,
            "finetune.max_step",
            "'max_step' is not a setting of [finetune]; did you mean 'max_steps'?",
        ),
        ("finetune = 5\n", 1, "finetune", "expected a table, got 5 (a whole number)"),
        (  # Azure ML refuses it only after the upload, leaving the blobs behind
            '[registration]\nname = "ft for travel"\n',
            2,
            "registration.name",
            "model name 'ft for travel' is not allowed in Azure ML: letters, digits, '-', '_' and '.', starting",
        ),
        (
            '[registration]\nenabled = true\nversion = "1 2"\n',
            3,
            "registration.version",
            "model version '1 2' is not allowed in Azure ML: a number such as 1",
        ),
    ],
)
def test_a_wrong_type_is_refused_with_file_line_field_and_what_was_expected(
    tmp_path: Path, text: str, line: int, field: str, message: str
) -> None:
    err = refusal(tmp_path, text)
    assert (err.line, err.field) == (line, field)
    assert str(err).startswith(f"{tmp_path / 'lab.toml'}, line {line}, field {field}: {message}")


def test_well_typed_values_are_taken_as_they_are(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        "stall_minutes = 3\n[finetune]\nmax_steps = 7\nlearning_rate = 0.01\n[dataset]\neval_share = 0\n"
        '[quantize]\nenabled = false\n[finetune.env]\nHF_HOME = "/tmp/hf"\n',
    )
    assert (config.finetune.max_steps, config.finetune.learning_rate, config.stall_minutes) == (7, 0.01, 3.0)
    assert config.dataset.eval_share == 0.0 and config.quantize.enabled is False
    assert config.finetune.env == {"HF_HOME": "/tmp/hf"}


def test_an_unknown_profile_names_its_line(tmp_path: Path) -> None:
    err = refusal(tmp_path, "# settings\nprofile = true\n")
    assert (err.line, err.field) == (2, "profile")


def test_pipeline_run_refuses_a_boolean_step_count_before_making_a_run(tmp_path: Path) -> None:
    (tmp_path / "lab.toml").write_text("[finetune]\nmax_steps = true\n", encoding="utf-8")
    out = olive_lab("pipeline", "run", lab=tmp_path, timeout=120)
    assert out.returncode != 0 and "Traceback" not in out.stderr, out.stderr
    assert "line 2, field finetune.max_steps: expected a whole number, got true (a boolean)" in out.stdout + out.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_upload_refuses_a_model_name_azure_ml_would_refuse_before_sending_anything(tmp_path: Path) -> None:
    out = olive_lab("upload", "--path", str(tmp_path), "--name", "ft for travel", "--version", "1", lab=tmp_path)
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert "model name 'ft for travel' is not allowed" in out.stderr and not (tmp_path / "runs").exists()
