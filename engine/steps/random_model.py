"""Random-weight models with a real model's architecture, built locally for checks (no hub, no network).

The phi35 profile runs `microsoft/Phi-3.5-mini-instruct`. Its weights cannot be downloaded where the lab is
checked, but its architecture can be rebuilt exactly: the same `Phi3Config` (3.8 B parameters, LongRoPE with
48 short and 48 long factors, `original_max_position_embeddings` 4096 below `max_position_embeddings` 131072)
with random weights, plus the demo's tokenizer. Every step then does the real amount of work
(`scripts/real_size_check.py` on a GPU), and a shrunken copy with the same rope scaling runs the phi35 profile's
steps in CI (`tests/test_longrope.py`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from engine.fs import atomic_dir

# Phi-3.5-mini-instruct's config.json, all but the token ids (which follow the tokenizer).
PHI35_ARCH: dict[str, Any] = {
    "hidden_size": 3072,
    "intermediate_size": 8192,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 32,
    "vocab_size": 32064,
    "max_position_embeddings": 131072,
    "original_max_position_embeddings": 4096,
    "rope_theta": 10000.0,
    "rms_norm_eps": 1e-05,
    "hidden_act": "silu",
    "sliding_window": 262144,
    "tie_word_embeddings": False,
    "attention_bias": False,
}
PHI35_LONG_FACTOR = [
    1.0800000429153442, 1.1100000143051147, 1.1399999856948853, 1.340000033378601, 1.5899999141693115,
    1.600000023841858, 1.6200000047683716, 2.620000123977661, 3.2300000190734863, 3.2300000190734863,
    4.789999961853027, 7.400000095367432, 7.700000286102295, 9.09000015258789, 12.199999809265137,
    17.670000076293945, 24.46000099182129, 28.57000160217285, 30.420001983642578, 30.840002059936523,
    32.590003967285156, 32.93000411987305, 42.320003509521484, 44.96000289916992, 50.340003967285156,
    50.45000457763672, 57.55000305175781, 57.93000411987305, 58.21000289916992, 60.1400032043457,
    62.61000442504883, 62.62000274658203, 62.71000289916992, 63.1400032043457, 63.1400032043457,
    63.77000427246094, 63.93000411987305, 63.96000289916992, 63.970001220703125, 64.02999877929688,
    64.06999969482422, 64.08000183105469, 64.12000274658203, 64.41000366210938, 64.4800033569336,
    64.51000213623047, 64.52999877929688, 64.83999633789062,
]  # fmt: skip
PHI35_SHORT_FACTOR = [
    1.0, 1.0199999809265137, 1.0299999713897705, 1.0299999713897705, 1.0499999523162842, 1.0499999523162842,
    1.0499999523162842, 1.0499999523162842, 1.0499999523162842, 1.0699999332427979, 1.0999999046325684,
    1.1099998950958252, 1.1599998474121094, 1.1599998474121094, 1.1699998378753662, 1.2899998426437378,
    1.339999794960022, 1.679999828338623, 1.7899998426437378, 1.8199998140335083, 1.8499997854232788,
    1.8799997568130493, 1.9099997282028198, 1.9399996995925903, 1.9899996519088745, 2.0199997425079346,
    2.0199997425079346, 2.0199997425079346, 2.0199997425079346, 2.0199997425079346, 2.0199997425079346,
    2.0299997329711914, 2.0299997329711914, 2.0299997329711914, 2.0299997329711914, 2.0299997329711914,
    2.0299997329711914, 2.0299997329711914, 2.0299997329711914, 2.0299997329711914, 2.0799996852874756,
    2.0899996757507324, 2.189999580383301, 2.2199995517730713, 2.5899994373321533, 2.729999542236328,
    2.749999523162842, 2.8399994373321533,
]  # fmt: skip

# The CI-sized sibling: 2 layers, hidden 128, and LongRoPE like the real one (factors per rotary half).
TINY_LONGROPE_ARCH: dict[str, Any] = {
    "hidden_size": 128,
    "intermediate_size": 256,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 4,
    "max_position_embeddings": 1024,
    "original_max_position_embeddings": 256,
    "rope_theta": 10000.0,
    "tie_word_embeddings": False,
}


def longrope_scaling(head_dim: int) -> dict[str, Any]:
    """LongRoPE factors for a head size: Phi-3.5's own for its 96, otherwise as many, resampled from them."""
    n = head_dim // 2
    if n == len(PHI35_SHORT_FACTOR):
        short, long = PHI35_SHORT_FACTOR, PHI35_LONG_FACTOR
    else:
        pick = [round(i * (len(PHI35_SHORT_FACTOR) - 1) / max(n - 1, 1)) for i in range(n)]
        short, long = [PHI35_SHORT_FACTOR[i] for i in pick], [PHI35_LONG_FACTOR[i] for i in pick]
    return {"type": "longrope", "short_factor": list(short), "long_factor": list(long)}


def phi3_config(arch: dict[str, Any], tokenizer: Any) -> Any:
    """A `Phi3Config` of `arch` with LongRoPE scaling and the tokenizer's special-token ids."""
    from transformers import Phi3Config

    arch = dict(arch)
    head_dim = arch["hidden_size"] // arch["num_attention_heads"]
    arch.setdefault("vocab_size", len(tokenizer))
    if arch["vocab_size"] < len(tokenizer):
        raise ValueError(f"vocab_size {arch['vocab_size']} is smaller than the tokenizer ({len(tokenizer)})")
    return Phi3Config(
        **arch,
        rope_scaling=longrope_scaling(head_dim),  # type: ignore[call-arg]  # a Phi3Config field transformers' stubs omit
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=[tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<|end|>")],
        pad_token_id=tokenizer.pad_token_id,
    )


def build_random_phi3(
    out: Path,
    texts: Sequence[str],
    arch: dict[str, Any],
    *,
    dtype: str = "bfloat16",
    device: str = "cpu",
    seed: int = 0,
    log: Callable[[str], object] = print,
) -> Path:
    """Write a Hugging Face folder with random weights of `arch` and the demo tokenizer trained on `texts`.

    Built in a temporary folder and moved into place, so a half-built model is never used; an existing
    complete folder is kept as it is."""
    if (out / "config.json").exists() and any(out.glob("*.safetensors")):
        log(f"Model found: {out}")
        return out
    import torch
    from transformers import Phi3ForCausalLM

    from engine.steps.demo_model import build_tokenizer, save_tokenizer

    tokenizer = build_tokenizer(texts)
    config = phi3_config(arch, tokenizer)
    torch_dtype = getattr(torch, dtype)
    torch.manual_seed(seed)
    default_dtype = torch.get_default_dtype()
    torch.set_default_dtype(torch_dtype)  # built in its dtype: no float32 copy of 3.8 B parameters
    try:
        with torch.device(device):
            model = Phi3ForCausalLM(config)
    finally:
        torch.set_default_dtype(default_dtype)
    model.generation_config.eos_token_id = config.eos_token_id
    with atomic_dir(out) as tmp:
        model.save_pretrained(tmp)
        save_tokenizer(tokenizer, tmp)
        (tmp / "random_weights.json").write_text(
            json.dumps({"architecture": "Phi3ForCausalLM", "seed": seed, "dtype": dtype, **arch}, indent=2)
        )
    params = sum(p.numel() for p in model.parameters())
    log(f"Random {params / 1e9:.3f} B-parameter Phi-3 (LongRoPE) saved at {out}")
    return out
