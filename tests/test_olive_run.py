"""Olive as the lab starts it (engine/steps/olive_run.py): the same results, fewer copies of the model."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from engine.steps.commands import olive_executable
from engine.steps.olive_run import link_saves, run_folder

ROOT = Path(__file__).resolve().parent.parent
BUILD = """
import sys
import torch
sys.path.insert(0, {root!r})
import traceback
inits = []
reset = torch.nn.Linear.reset_parameters
def counted(layer):  # a Linear layer the builder itself makes (not transformers' or peft's)
    caller = traceback.extract_stack()[-3].filename  # counted < Linear.__init__ < its maker
    if "onnxruntime_genai" in caller:
        inits.append(layer)
    reset(layer)
torch.nn.Linear.reset_parameters = counted
if sys.argv[1] == "lab":
    from engine.steps.olive_run import fast_int4, skip_unpack_init
    assert fast_int4() and skip_unpack_init()
from onnxruntime_genai.models.builder import create_model
create_model(model_name=sys.argv[2], input_path=sys.argv[2], output_dir=sys.argv[4], precision="int4",
             execution_provider="cpu", cache_dir=sys.argv[5], filename="model.onnx", adapter_path=sys.argv[3])
print(f"Linear layers the builder filled with random weights: {{len(inits)}}", file=sys.stderr)
"""


def _digests(folder: Path) -> dict[str, str]:
    return {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in sorted(folder.iterdir()) if f.is_file()}


def _random_layers(said: str) -> int:
    return int(re.findall(r"Linear layers the builder filled with random weights: (\d+)", said)[-1])


@pytest.fixture(scope="module")
def model_and_adapter(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    pytest.importorskip("onnxruntime_genai.models.builder")
    peft = pytest.importorskip("peft")
    import torch
    from transformers import AutoModelForCausalLM

    from engine.steps.demo_model import demo_texts
    from engine.steps.random_model import TINY_LONGROPE_ARCH, build_random_phi3

    where = tmp_path_factory.mktemp("int4")
    model = build_random_phi3(where / "model", demo_texts(), TINY_LONGROPE_ARCH, dtype="float16", log=lambda _m: None)
    lora = peft.LoraConfig(r=16, lora_alpha=16, task_type="CAUSAL_LM", init_lora_weights=False,
                           target_modules=["qkv_proj", "o_proj", "gate_up_proj", "down_proj"])  # fmt: skip
    torch.manual_seed(0)
    peft.get_peft_model(AutoModelForCausalLM.from_pretrained(model, dtype=torch.float16), lora).save_pretrained(
        where / "adapter"
    )
    return model, where / "adapter"


def test_the_onnx_builder_writes_the_same_int4_model_without_its_float_copy_or_throwaway_random_weights(
    model_and_adapter: tuple[Path, Path], tmp_path: Path
) -> None:
    model, adapter = model_and_adapter
    outputs = {}
    for how in ("builder", "lab"):
        out = tmp_path / how
        proc = subprocess.run(
            [sys.executable, "-c", BUILD.format(root=str(ROOT)), how, str(model), str(adapter), str(out),
             str(tmp_path / "hf")],
            capture_output=True, text=True, timeout=300,
            env={**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONHASHSEED": "0"},  # the graph follows hash order
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-2000:]
        outputs[how] = (_digests(out), proc.stderr)
    (builder, builder_said), (lab, said) = outputs["builder"], outputs["lab"]
    assert {"model.onnx", "model.onnx.data", "genai_config.json"} <= set(lab)
    assert lab == builder  # byte for byte: the graph, the int4 weights (base and LoRA) and the config
    # the builder fills each layer it makes to unpack qkv / gate_up with random numbers it then throws away
    assert _random_layers(builder_said) > 0 and _random_layers(said) == 0
    # every weight the quantizer made int4 (base projections, LoRA A and B, the LM head) came from the builder
    import onnx

    nodes = onnx.load(tmp_path / "lab" / "model.onnx", load_external_data=False).graph.node
    int4 = sum(n.op_type == "MatMulNBits" for n in nodes)
    assert int4 > 20 and f"olive-lab: {int4} MatMul weights went to the int4 quantizer without a float" in said


def test_olive_saves_models_inside_the_run_folder_as_hard_links(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    resource_path = pytest.importorskip("olive.resource_path")
    monkeypatch.setattr(resource_path, "copy_dir", resource_path.copy_dir)  # restored after the test
    run = tmp_path / "runs" / "20261206-000000-abcd"
    (run / "quantize" / "output").mkdir(parents=True)
    (run / "state.json").write_text("{}")
    weights = run / "quantize" / "output" / "model.safetensors"
    weights.write_bytes(b"w" * 4096)
    user = tmp_path / "my-model"
    user.mkdir()
    (user / "model.safetensors").write_bytes(b"u" * 4096)
    assert run_folder(["finetune", "-m", str(weights.parent), "-o", str(run / "finetune" / "output")]) == str(run)
    assert run_folder(["finetune", "-o", str(tmp_path / "elsewhere" / "output")]) is None
    assert link_saves(str(run))
    folder = resource_path.LocalFolder({"path": weights.parent})
    saved = Path(folder.save_to_dir(run / "finetune" / "output", "model"))
    assert (saved / "model.safetensors").stat().st_ino == weights.stat().st_ino  # no second copy on disk
    theirs = Path(resource_path.LocalFolder({"path": user}).save_to_dir(run / "finetune" / "output", "theirs"))
    assert (theirs / "model.safetensors").read_bytes() == b"u" * 4096
    assert (theirs / "model.safetensors").stat().st_ino != (user / "model.safetensors").stat().st_ino  # a copy


def test_the_lab_s_own_olive_runs_through_olive_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    venv = tmp_path / "venv" / "bin"
    venv.mkdir(parents=True)
    for name in ("python", "olive"):
        (venv / name).write_text("#!/bin/sh\n")
    monkeypatch.setattr(sys, "executable", str(venv / "python"))
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "venv"))
    monkeypatch.delenv("OLIVE_LAB_OLIVE", raising=False)
    assert olive_executable() == [str(venv / "python"), "-m", "engine.steps.olive_run"]
    assert olive_executable("/opt/olive") == ["/opt/olive"]  # a setting runs as it is
    monkeypatch.setenv("OLIVE_LAB_OLIVE", "/opt/fake olive")
    assert olive_executable() == ["/opt/fake", "olive"]
