"""The demo profile's model: a tiny Phi-3-style model and tokenizer built locally, with no network.

The byte-level BPE tokenizer is trained on the bundled travel set's training split, and the seeded random
weights get a few seconds of pre-training on the same texts, so the base model already writes travel-like
words and the LoRA step has something to specialise. It is a fixed artifact: built once per user into the
per-user cache (`engine.paths.user_models`) and shared by every demo lab whatever its dataset (only
finetune sees a lab's own data). The build prints its progress as a tqdm-style bar, so the monitor shows it
like any step's, and is atomic (a half-built folder is never used); two builds at once wait on one lock.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from engine.config import DEFAULT_TEMPLATE, DatasetConfig
from engine.data.records import load_records, render
from engine.data.split import eval_indices
from engine.durations import format_duration
from engine.fs import atomic_dir, file_digest, private_dir
from engine.paths import BUNDLED_DATASET, user_models

BUILDER_VERSION = "2"
PRETRAIN_STEPS = 300
PRETRAIN_BLOCK = 64
PRETRAIN_BATCH = 16
SPECIAL_TOKENS = [
    "<unk>",
    "<s>",
    "</s>",
    "<|endoftext|>",
    "<|system|>",
    "<|user|>",
    "<|assistant|>",
    "<|end|>",
]
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\n' + message['content'] + '<|end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
)
VOCAB_SIZE = 1024


def demo_model_dir(models_dir: Path | None = None) -> Path:
    """Where the demo model lives: keyed by the builder's version and the bundled set's contents."""

    digest = hashlib.sha256(f"{BUILDER_VERSION}:{file_digest(BUNDLED_DATASET)}".encode()).hexdigest()[:12]
    return (models_dir or user_models()) / f"demo-{digest}"


def demo_texts() -> list[str]:
    """The bundled set's training split (the default held-back share and seed), rendered by the default template."""

    ds = DatasetConfig()
    records = load_records(BUNDLED_DATASET, [ds.prompt_field, ds.response_field])
    held = eval_indices(len(records), ds.eval_share, ds.split_seed)
    return [render(DEFAULT_TEMPLATE, r.data) for i, r in enumerate(records) if i not in held]


def is_built(out: Path) -> bool:
    return (out / "config.json").exists() and (out / "tokenizer.json").exists()


def ensure_demo_model(out: Path | None = None, *, log: Callable[[str], None] = print) -> Path:
    """Return the demo model folder, building it first if this user has none yet."""
    out = out or demo_model_dir()
    if is_built(out):
        log(f"Demo model found in the user cache: {out}")
        return out
    private_dir(out.parent)
    with open(out.parent / ".demo-build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another lab may be building it right now: wait for that build
        if is_built(out):
            log(f"Demo model found in the user cache: {out}")
            return out
        texts = demo_texts()
        log(
            f"Building the demo model once for this user (tiny Phi-3: tokenizer, then {PRETRAIN_STEPS} pre-training "
            f"steps on the bundled set's {len(texts)} training texts)"
        )
        with atomic_dir(out) as tmp:
            _build(tmp, texts)
    log(f"Demo model saved at {out}")
    return out


def build_tokenizer(texts: Sequence[str]) -> Any:
    """The demo's byte-level BPE tokenizer trained on `texts`, with the Phi-3 special tokens and chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(list(texts), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=["<|system|>", "<|user|>", "<|assistant|>", "<|end|>"],
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def _build(out: Path, texts: Sequence[str]) -> None:
    import torch
    from transformers import Phi3Config, Phi3ForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # the build says what it does in the step log; no stray bars

    fast = build_tokenizer(texts)

    torch.manual_seed(0)
    config = Phi3Config(
        vocab_size=len(fast),
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=512,
        original_max_position_embeddings=512,
        tie_word_embeddings=False,
        bos_token_id=fast.bos_token_id,
        eos_token_id=[fast.eos_token_id, fast.convert_tokens_to_ids("<|end|>")],
        pad_token_id=fast.pad_token_id,
    )
    model = Phi3ForCausalLM(config)
    _pretrain(model, fast, texts)
    out.mkdir(parents=True)
    model.save_pretrained(out)
    save_tokenizer(fast, out)


def save_tokenizer(fast: Any, out: Path) -> None:
    """Save a tokenizer so onnxruntime-genai's builder finds the chat template (it reads tokenizer_config.json)."""
    fast.save_pretrained(out)
    cfg_path = out / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg.setdefault("chat_template", CHAT_TEMPLATE)
    cfg_path.write_text(json.dumps(cfg, indent=2))


def _pretrain(model: Any, tokenizer: Any, texts: Sequence[str]) -> None:
    """A few hundred steps of next-token training on the texts (the training split, as the template renders it)."""
    import torch

    ids: list[int] = []
    for text in texts:
        ids += tokenizer.encode(text + "\n", add_special_tokens=False)
    if len(ids) < PRETRAIN_BLOCK + 1:
        return
    data = torch.tensor(ids)
    generator = torch.Generator().manual_seed(0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    started = time.time()
    for done in range(1, PRETRAIN_STEPS + 1):
        starts = torch.randint(0, len(data) - PRETRAIN_BLOCK - 1, (PRETRAIN_BATCH,), generator=generator)
        batch = torch.stack([data[s : s + PRETRAIN_BLOCK] for s in starts.tolist()])
        loss = model(input_ids=batch, labels=batch).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if done % 10 == 0 or done == PRETRAIN_STEPS:
            print(_bar("pretrain", done, PRETRAIN_STEPS, time.time() - started), flush=True)
    model.eval()


def _bar(desc: str, n: int, total: int, elapsed: float) -> str:
    """One progress line in tqdm's format, which the step log parser reads as the step's progress."""
    rate = n / elapsed if elapsed > 0 else 0.0
    eta = (total - n) / rate if rate else 0.0
    filled = "#" * (10 * n // total)
    return (
        f"{desc}: {100 * n // total:3d}%|{filled:<10}| {n}/{total} "
        f"[{format_duration(elapsed)}<{format_duration(eta)}, {rate:.2f}it/s]"
    )
