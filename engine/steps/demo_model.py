"""The demo profile's model: a tiny Phi-3-style model and tokenizer built locally, with no network.

The byte-level BPE tokenizer is trained on the lab's own texts, and the seeded random weights get a few
seconds of pre-training on the same texts, so the base model already writes travel-like words and the LoRA
step has something to specialise. The whole pipeline (AWQ, LoRA, ONNX export, chat) runs on a CPU in a
couple of minutes. The folder is cached by
a key of the builder's version and its input texts, and is built atomically (a half-built folder is never
used).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from engine.fs import atomic_replace_dir

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


def demo_model_key(texts: Sequence[str]) -> str:
    digest = hashlib.sha256(BUILDER_VERSION.encode())
    for text in texts:
        digest.update(text.encode("utf-8", "replace"))
        digest.update(b"\0")
    return digest.hexdigest()[:12]


def ensure_demo_model(models_dir: Path, texts: Sequence[str], *, log=print) -> Path:
    """Return the demo model folder for `texts`, building it first if it is not cached."""
    out = models_dir / f"demo-{demo_model_key(texts)}"
    if (out / "config.json").exists() and (out / "tokenizer.json").exists():
        log(f"Demo model found in cache: {out}")
        return out
    models_dir.mkdir(parents=True, exist_ok=True)
    tmp = models_dir / f".{out.name}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    log(f"Building the demo model (tiny Phi-3: tokenizer and a few seconds of pre-training on {len(texts)} texts)")
    _build(tmp, texts)
    if out.exists():  # built meanwhile by someone else
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        atomic_replace_dir(tmp, out)
    log(f"Demo model saved at {out}")
    return out


def _build(out: Path, texts: Sequence[str]) -> None:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import Phi3Config, Phi3ForCausalLM, PreTrainedTokenizerFast
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # the build says what it does in the step log; no stray bars

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
    fast.save_pretrained(out)
    # onnxruntime-genai's builder reads the chat template from tokenizer_config.json.
    cfg_path = out / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg.setdefault("chat_template", CHAT_TEMPLATE)
    cfg_path.write_text(json.dumps(cfg, indent=2))


def _pretrain(model, tokenizer, texts: Sequence[str]) -> None:
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
    for _ in range(PRETRAIN_STEPS):
        starts = torch.randint(0, len(data) - PRETRAIN_BLOCK - 1, (PRETRAIN_BATCH,), generator=generator)
        batch = torch.stack([data[s : s + PRETRAIN_BLOCK] for s in starts.tolist()])
        loss = model(input_ids=batch, labels=batch).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
