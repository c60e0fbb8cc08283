"""The quantize step's program: AWQ scale search with the lab's own texts, no hub needed.

Olive 0.13 cannot feed local calibration data to AWQ and refuses to run AWQ without CUDA, so olive-lab runs
autoawq itself (the chain seen working end to end): the scale search runs on the lab's training texts, the
scales are applied to fp16/fp32 weights (`export_compatible=True`), and the model is saved as a plain
Hugging Face folder that `olive finetune` and the ONNX model builder (which rounds to int4) accept.

It logs in Olive's format so the one log parser reads both:
    [YYYY-MM-DD HH:MM:SS,mmm] [LEVEL] [awq_quantize.py:0:main] message
Run as `python -m engine.steps.awq_quantize --model DIR --data train.jsonl --output DIR ...`.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import time
from pathlib import Path

from engine.data.records import load_records, render
from engine.fs import clear_folder

log = logging.getLogger("olive-lab.awq")

TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "tokenizer.model",
    "added_tokens.json",
    "chat_template.jinja",
    "generation_config.json",
)


def _setup_logging() -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        logging.Formatter("[%(asctime)s] [%(levelname)s] [%(filename)s:%(lineno)d:%(funcName)s] %(message)s")
    )
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False


def calibration_texts(data: Path, template: str, fields: list[str], limit: int) -> list[str]:
    """The training records rendered exactly as finetune renders them (the same --text_template value)."""
    return [
        render(template, {name: r.data.get(name, "") for name in fields}) for r in load_records(data, fields)[:limit]
    ]


def _patch_transformers_names() -> None:
    """autoawq 0.2.9 imports a name that transformers 4.57 renamed; alias it before `import awq`."""
    import transformers.activations as act

    if not hasattr(act, "PytorchGELUTanh") and hasattr(act, "GELUTanh"):
        act.PytorchGELUTanh = act.GELUTanh


def run(args: argparse.Namespace) -> int:
    _setup_logging()
    started = time.time()
    log.info("Running pass awq:AutoAWQ")
    model_path = args.model
    if not (Path(model_path) / "config.json").exists() and os.path.sep in model_path:
        log.error("No model at %s (config.json missing)", model_path)
        return 2
    texts = calibration_texts(Path(args.data), args.template, args.fields.split(","), args.samples)
    if not texts:
        log.error("No calibration texts in %s", args.data)
        return 2
    log.info("Calibration: %d texts from %s, %d tokens each at most", len(texts), args.data, args.seq_len)

    import torch

    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        log.error("CUDA was asked for, but torch sees no CUDA device (torch %s)", torch.__version__)
        return 2
    log.info("Running AWQ scale search on %s (torch %s)", device, torch.__version__)

    _patch_transformers_names()
    import warnings

    warnings.filterwarnings("ignore", category=DeprecationWarning)
    from awq import AutoAWQForCausalLM
    from transformers import AutoTokenizer

    from engine.steps import awq_speed

    awq_speed.apply()
    dtype = torch.float16 if device == "cuda" else torch.float32
    loading = time.time()
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    model = AutoAWQForCausalLM.from_pretrained(
        model_path,
        torch_dtype=dtype,
        device_map="auto" if device == "cuda" else "cpu",
        trust_remote_code=False,
    )
    log.info("Model loaded in %.1f seconds", time.time() - loading)
    searching = time.time()
    quant_config = {
        "zero_point": args.zero_point,
        "q_group_size": args.group_size,
        "w_bit": args.w_bit,
        "version": "GEMM",
    }
    model.quantize(
        tokenizer,
        quant_config=quant_config,
        calib_data=texts,
        max_calib_samples=len(texts),
        max_calib_seq_len=args.seq_len,
        export_compatible=True,
    )
    layers = getattr(model.config, "num_hidden_layers", 0) or 1
    searched = time.time() - searching
    log.info("Scale search finished in %.1f seconds (%.2f s a layer)", searched, searched / layers)
    saving = time.time()
    # Written inside --output, which is never removed or renamed: on an Azure ML node it is a mount point
    # (removing it fails with EBUSY, renaming a folder onto it with EXDEV). A failed step's output is marked
    # partial by the supervisor, so nothing half-written is taken for a result.
    out = Path(args.output)
    clear_folder(out)
    model.save_quantized(str(out))
    tokenizer.save_pretrained(str(out))
    for name in TOKENIZER_FILES:
        src = Path(model_path) / name
        if src.exists() and not (out / name).exists():
            shutil.copy2(src, out / name)
    # The weights hold the AWQ scales but are not packed: drop the marker, or transformers tries to load
    # them as packed int4.
    cfg_path = out / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg.pop("quantization_config", None)
    cfg_path.write_text(json.dumps(cfg, indent=2))
    (out / "awq_scales.json").write_text(
        json.dumps({"method": "awq", "export_compatible": True, **quant_config}, indent=2)
    )
    log.info("Model saved in %.1f seconds", time.time() - saving)
    log.info("Pass awq:AutoAWQ finished in %.6f seconds", time.time() - started)
    log.info("Saved output model to %s", out)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="awq_quantize", description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--template", required=True)
    parser.add_argument("--fields", default="prompt,response")
    parser.add_argument("--w-bit", type=int, default=4)
    parser.add_argument("--group-size", type=int, default=128)
    parser.add_argument("--zero-point", dest="zero_point", action="store_true", default=True)
    parser.add_argument("--no-zero-point", dest="zero_point", action="store_false")
    parser.add_argument("--samples", type=int, default=128)
    parser.add_argument("--seq-len", type=int, default=512)
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--output", required=True)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    status = main()
    # Everything is written and closed: skip the interpreter's teardown of torch and friends (seconds).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
