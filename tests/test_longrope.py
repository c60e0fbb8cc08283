"""The phi35 profile's architecture in CI: a 2-layer random Phi-3 with LongRoPE through the real chain on a CPU.

Phi-3.5-mini scales its rotary embeddings with LongRoPE (48 short and 48 long factors, an original context of
4096 below the 131072 it serves). The demo model has none of that, so this runs the phi35 profile's three
steps (AWQ, LoRA, ONNX export) on a shrunken copy with the same rope scaling (calibration 16 texts x 64 tokens,
5 LoRA steps, float32), checks that LongRoPE survives each step, that the finetune output holds no second
copy of its input, and chats with the result.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import olive_lab

pytestmark = pytest.mark.pipeline

SETTINGS = """
[quantize]
calib_samples = 16
calib_seq_len = 64
device = "cpu"
[finetune]
max_steps = 5
eval_steps = 5
logging_steps = 1
max_seq_len = 128
torch_dtype = "float32"
lora_r = 8
"""


@pytest.fixture(scope="module")
def longrope_run(tmp_path_factory) -> Path:
    pytest.importorskip("awq")
    pytest.importorskip("onnxruntime_genai")
    from engine.steps.demo_model import demo_texts
    from engine.steps.random_model import TINY_LONGROPE_ARCH, build_random_phi3

    root = tmp_path_factory.mktemp("longrope")
    model = build_random_phi3(
        root / "model", demo_texts()[:200], TINY_LONGROPE_ARCH, dtype="float32", log=lambda _m: None
    )
    lab = root / "lab"
    lab.mkdir()
    (lab / "lab.toml").write_text(f'profile = "phi35"\nmodel = "{model}"\n{SETTINGS}', encoding="utf-8")
    proc = olive_lab("pipeline", "run", lab=lab, timeout=900)
    run = sorted((lab / "runs").iterdir())[-1]
    if proc.returncode != 0:
        logs = "\n".join(f"== {p}\n{p.read_text(errors='replace')[-3000:]}" for p in sorted(run.glob("*/step.log")))
        pytest.fail(
            f"the phi35 chain failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}\n{logs}"
        )
    return run


def _rope(folder: Path) -> dict:
    config = json.loads((folder / "config.json").read_text())
    return config.get("rope_scaling") or config.get("rope_parameters") or {}


def test_the_model_has_phi35_longrope(tmp_path):
    pytest.importorskip("transformers")
    from engine.steps.demo_model import demo_texts
    from engine.steps.random_model import (
        PHI35_ARCH,
        PHI35_LONG_FACTOR,
        TINY_LONGROPE_ARCH,
        longrope_scaling,
        phi3_config,
    )

    head = PHI35_ARCH["hidden_size"] // PHI35_ARCH["num_attention_heads"]
    assert longrope_scaling(head)["long_factor"] == PHI35_LONG_FACTOR and len(PHI35_LONG_FACTOR) == 48
    from engine.steps.demo_model import build_tokenizer

    config = phi3_config(TINY_LONGROPE_ARCH, build_tokenizer(demo_texts()[:50]))
    rope = config.rope_parameters if hasattr(config, "rope_parameters") else config.rope_scaling
    assert rope["rope_type" if "rope_type" in rope else "type"] == "longrope"
    assert len(rope["short_factor"]) == len(rope["long_factor"]) == TINY_LONGROPE_ARCH["hidden_size"] // 4 // 2
    assert config.original_max_position_embeddings < config.max_position_embeddings


def test_phi35_chain_runs_on_longrope(longrope_run: Path):
    state = json.loads((longrope_run / "state.json").read_text())
    assert state["status"] == "done", state.get("reason")
    statuses = {s["name"]: s["status"] for s in state["steps"]}
    assert all(statuses[name] == "done" for name in ("quantize", "finetune", "optimize")), statuses
    for step in ("quantize", "finetune/output/model"):
        folder = longrope_run / (step if "/" in step else f"{step}/output")
        rope = _rope(folder)
        assert rope.get("rope_type", rope.get("type")) == "longrope", f"{folder}: {rope}"
        assert len(rope["short_factor"]) == len(rope["long_factor"]) == 16


def test_longrope_reaches_the_onnx_model(longrope_run: Path):
    onnx = pytest.importorskip("onnx")
    model = onnx.load(str(longrope_run / "optimize" / "output" / "model.onnx"), load_external_data=False)
    names: set[str] = set()

    def walk(graph) -> None:
        names.update(i.name for i in graph.initializer)
        names.update(n.output[0] for n in graph.node if n.op_type == "Constant" and n.output)
        for node in graph.node:
            for attr in node.attribute:
                if attr.g is not None and attr.g.node:
                    walk(attr.g)

    walk(model.graph)
    assert any("cos_cache_large" in n for n in names) and any("cos_cache_small" in n for n in names), sorted(names)[:20]


def test_finetune_output_links_its_input(longrope_run: Path):
    source = longrope_run / "quantize" / "output"
    copy = longrope_run / "finetune" / "output" / "model"
    weights = sorted(copy.glob("*.safetensors"))
    assert weights
    for file in weights:
        original = source / file.name
        assert file.stat().st_ino == original.stat().st_ino and file.stat().st_nlink >= 2
        assert not file.is_symlink()


def test_chat_with_the_longrope_model(longrope_run: Path):
    lab = longrope_run.parent.parent
    proc = olive_lab(
        "chat", "--prompt", "Where to in Rome?", "--device", "cpu", "--json", "--max-length", "16", lab=lab
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    answer = json.loads(proc.stdout)
    assert answer["device"] == "cpu"
    assert answer["stats"]["prompt_tokens"] > 0
