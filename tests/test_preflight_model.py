"""The base model is checked before a run starts: a name no step could load (a typo such as 'demor') is refused
with the file, the field and the nearest known name, instead of failing the first step after it retried the hub;
a well-formed hub id is let through when the hub can be used or the model is in its cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import hub
from engine.config import PHI35_MODEL, LabConfig, build_config, load_config
from engine.paths import LabPaths
from engine.runs.preflight import model_problems
from tests.conftest import olive_lab
from tests.fakes.hf_hub import fake_hub


def _lab(tmp_path: Path, model: str, extra: str = "") -> tuple[LabPaths, LabConfig]:
    lab = LabPaths.at(tmp_path / "lab")
    lab.root.mkdir(parents=True, exist_ok=True)
    lab.config.write_text(f'profile = "demo"\nmodel = "{model}"\n{extra}', encoding="utf-8")
    return lab, load_config(lab)


def test_a_typo_of_the_demo_model_is_refused_offline_with_the_file_field_and_nearest_name(tmp_path: Path) -> None:
    lab, config = _lab(tmp_path, "demor")
    env = {"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "hf")}
    [problem] = model_problems(lab, config, env)
    assert problem.startswith(f"{lab.config}, field model: 'demor' is not 'demo', a local folder")
    assert "HF_HUB_OFFLINE is set for the quantize step" in problem
    assert problem.endswith("did you mean 'demo'?") and "\n" not in problem


def test_without_the_hub_an_uncached_hub_id_is_refused_and_a_cached_one_is_not(tmp_path: Path) -> None:
    lab, config = _lab(tmp_path, "someorg/tiny-llm")
    cache = tmp_path / "hf"
    env = {"HF_HUB_CACHE": str(cache)}
    [problem] = model_problems(lab, config, env, online=False)
    assert "'someorg/tiny-llm'" in problem and "huggingface.co cannot be reached" in problem
    assert "fetch the model once while online" in problem  # no near name: the hint instead
    (cache / "models--someorg--tiny-llm").mkdir(parents=True)
    assert model_problems(lab, config, env, online=False) == []
    assert model_problems(lab, config, {**env, "HF_HUB_OFFLINE": "1"}) == []
    # A cached id is what a near typo is matched against.
    lab, typo = _lab(tmp_path, "someorg/tiny-lm")
    [problem] = model_problems(lab, typo, {**env, "HF_HUB_OFFLINE": "1"})
    assert problem.endswith("did you mean 'someorg/tiny-llm'?")


def test_online_a_hub_id_the_hub_holds_goes_to_olive_to_download_and_one_it_lacks_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # this process online, as a user's (tests run offline)
    with fake_hub({"someorg/tiny-llm", "gpt2"}) as endpoint:  # HF_ENDPOINT: a mirror, as users behind one set it
        env = {"HF_HUB_CACHE": str(tmp_path / "hf"), "HF_ENDPOINT": endpoint}
        for model in ("someorg/tiny-llm", "gpt2"):
            lab, config = _lab(tmp_path, model)
            assert model_problems(lab, config, env) == []  # the mirror answers: online, found there
        lab, config = _lab(tmp_path, "someorg/tiny-lm")
        [problem] = model_problems(lab, config, env)
    assert problem.startswith(f"{lab.config}, field model: 'someorg/tiny-lm' is not 'demo', a local folder")
    assert f"a model on {endpoint}" in problem and "fix the name" in problem
    # gone: the hub cannot be reached, so a well-formed id no step could fetch is refused for that
    [problem] = model_problems(lab, config, env)
    assert "127.0.0.1 cannot be reached" in problem


def test_a_step_table_that_sets_offline_counts_and_a_step_on_azure_ml_fetches_the_model_itself(
    tmp_path: Path,
) -> None:
    with fake_hub({"someorg/tiny-llm"}) as endpoint:
        _step_tables(tmp_path, {"HF_HUB_CACHE": str(tmp_path / "hf"), "HF_ENDPOINT": endpoint})


def _step_tables(tmp_path: Path, env: dict[str, str]) -> None:
    lab, config = _lab(tmp_path, "someorg/tiny-llm", '[quantize.env]\nHF_HUB_OFFLINE = "1"\n')
    [problem] = model_problems(lab, config, env, online=True)
    assert "HF_HUB_OFFLINE is set for the quantize step" in problem
    # quantize off: finetune loads the base model, and its table does not say offline
    lab, config = _lab(tmp_path, "someorg/tiny-llm", '[quantize]\nenabled = false\nenv = {HF_HUB_OFFLINE = "1"}\n')
    assert model_problems(lab, config, env, online=True) == []
    lab, config = _lab(tmp_path, "someorg/tiny-llm", '[quantize]\nrun_on = "azureml:gpu-cluster"\n')
    assert model_problems(lab, config, {**env, "HF_HUB_OFFLINE": "1"}) == []


def test_a_name_that_cannot_be_a_hub_id_is_refused_even_online(tmp_path: Path) -> None:
    lab, config = _lab(tmp_path, "de mo")
    [problem] = model_problems(lab, config, {}, online=True)
    assert "'de mo' is not 'demo', a local folder, an azureml: model or a Hugging Face repo id" in problem
    assert problem.endswith("did you mean 'demo'?")


def test_demo_local_folders_and_the_profiles_model_from_the_cache_pass(tmp_path: Path) -> None:
    offline = {"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "hf")}
    lab = LabPaths.at(tmp_path)
    assert model_problems(lab, build_config("demo"), offline) == []
    folder = tmp_path / "my-model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    assert model_problems(lab, build_config("demo", {"model": str(folder)}), offline) == []
    # The phi35 profile's own model (no lab.toml: the message names the field, not a file)
    [problem] = model_problems(lab, build_config("phi35"), offline)
    assert problem.startswith(f"field model: '{PHI35_MODEL}' is not 'demo'")
    (tmp_path / "hf" / ("models--" + PHI35_MODEL.replace("/", "--"))).mkdir(parents=True)
    assert hub.cached(PHI35_MODEL, offline)
    assert model_problems(lab, build_config("phi35"), offline) == []


def test_the_command_line_refuses_a_typo_before_the_run_starts(tmp_path: Path) -> None:
    lab = tmp_path / "lab"
    lab.mkdir()
    (lab / "lab.toml").write_text('profile = "demo"\nmodel = "demor"\n')
    proc = olive_lab("pipeline", "run", lab=lab, env={"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "hf")})
    assert proc.returncode == 2, proc.stderr
    assert f"{lab / 'lab.toml'}, field model: 'demor'" in proc.stderr
    assert "did you mean 'demo'?" in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not (lab / "runs").exists()


def test_hub_offline_reads_the_variables_as_huggingface_hub_does() -> None:
    assert hub.offline({"HF_HUB_OFFLINE": "1"}) and hub.offline({"HF_HUB_OFFLINE": "yes"})
    assert hub.offline({"TRANSFORMERS_OFFLINE": "ON"})
    assert not hub.offline({}) and not hub.offline({"HF_HUB_OFFLINE": "0"})
