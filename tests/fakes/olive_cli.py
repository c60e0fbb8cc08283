"""The command line of Olive 0.13 as the fake `olive` parses it: the real subcommands' flags, choices and
defaults (from `olive <cmd> --help` and olive/cli/*.py), and the rules the real CLI applies before any model
work. tests/test_fake_olive_cli.py compares these parsers with the installed Olive's, flag by flag.

What the real one does with a command line it refuses, and the fake too:
- an unknown subcommand: argparse's `invalid choice`, exit 2;
- an unknown flag: `Olive CLI tool: error: Unknown arguments: [...]`, exit 2, except for `finetune`, which hands
  the flags it does not know to TrainingArguments (`olive_training_args`): `unrecognized arguments`, exit 2;
- `quantize --algorithm awq` without `--implementation awq` (and a precision AutoAWQ takes, no QDQ): a ValueError
  (traceback, exit 1), as FACTS.md records for the lab's bare `--algorithm awq`;
- `auto-opt` without `--use_model_builder` exports through torch, which fails on the lab's Phi-3 models:
  no output model, exit 0 (FACTS.md).
Only the subcommands olive-lab could run are modelled; the others are refused as unknown.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.olive_training_args import training_parser

PRECISIONS = "int4 int8 int16 int32 uint4 uint8 uint16 uint32 fp4 fp8 fp16 fp32 nf4 bf16".split()
PROVIDERS = (
    "CPUExecutionProvider CUDAExecutionProvider DmlExecutionProvider JsExecutionProvider MIGraphXExecutionProvider "
    "NvTensorRTRTXExecutionProvider OpenVINOExecutionProvider QNNExecutionProvider ROCMExecutionProvider "
    "TensorrtExecutionProvider VitisAIExecutionProvider WebGpuExecutionProvider"
).split()
ALGORITHMS = "awq gptq hqq kquant rtn spinquant quarot lpbq seqmse adaround".split()
MODELLED = ("auto-opt", "finetune", "quantize")
# Olive's AutoAWQQuantizer (olive_config.json): the one pass for `--algorithm awq` on a Hugging Face model.
AWQ_PRECISIONS = ("int4", "int8", "int16", "uint4", "uint8", "uint16")


def _model(p: argparse.ArgumentParser, *, required: bool = False, adapter: bool = False) -> None:
    p.add_argument("-m", "--model_name_or_path", type=str, required=required)
    p.add_argument("-t", "--task", type=str)
    p.add_argument("--trust_remote_code", action="store_true")
    p.add_argument("--test", type=str, nargs="?", const=True)
    if adapter:
        p.add_argument("-a", "--adapter_path", type=str)
        p.add_argument("--model_script", type=str)
        p.add_argument("--script_dir", type=str)


def _text_data(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data_files", type=str)
    text = p.add_mutually_exclusive_group()
    text.add_argument("--text_field", type=str)
    text.add_argument("--text_template", type=str)
    text.add_argument("--use_chat_template", action="store_true")
    p.add_argument("--max_seq_len", type=int, default=1024)
    p.add_argument("--add_special_tokens", type=bool, default=False)
    p.add_argument("--max_samples", type=int, default=256)
    p.add_argument("--batch_size", type=int, default=1)
    p.add_argument("--input_cols", type=str, nargs="+")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--account_name", type=str)
    p.add_argument("--container_name", type=str)
    p.add_argument("--log_level", type=int, default=3)
    p.add_argument("--save_config_file", action="store_true")
    p.add_argument("--dry_run", action="store_true")
    p.add_argument("--disable_telemetry", action="store_true")


def _finetune(p: argparse.ArgumentParser) -> None:
    _model(p, required=True)
    p.add_argument("-o", "--output_path", type=str, default="finetuned-adapter")
    lora = p.add_argument_group("LoRA options")
    lora.add_argument("--method", type=str, default="lora", choices=["lora", "qlora"])
    lora.add_argument("--lora_r", type=int, default=64)
    lora.add_argument("--lora_alpha", type=int, default=16)
    lora.add_argument("--target_modules", type=str)
    p.add_argument("--torch_dtype", type=str, default="bfloat16", choices=["bfloat16", "float16", "float32"])
    p.add_argument("-d", "--data_name", type=str, required=True)
    p.add_argument("--train_subset", type=str)
    p.add_argument("--train_split", type=str, default="train")
    p.add_argument("--eval_subset", type=str)
    p.add_argument("--eval_split", default="")
    _text_data(p)
    _common(p)


def _auto_opt(p: argparse.ArgumentParser) -> None:
    _model(p, adapter=True)
    p.add_argument("-o", "--output_path", type=str, default="auto-opt-output")
    p.add_argument("--device", type=str, default="cpu", choices=["gpu", "cpu", "npu"])
    p.add_argument("--provider", type=str, default="CPUExecutionProvider", choices=PROVIDERS)
    p.add_argument("--memory", type=str)
    p.add_argument("-d", "--data_name", type=str)
    p.add_argument("--split", type=str)
    p.add_argument("--subset", type=str)
    p.add_argument("--input_cols", type=str, nargs="*")
    p.add_argument("--batch_size", type=int, default=1)
    p.add_argument("--precision", type=str, default="fp32", choices=PRECISIONS)
    for flag in ("--use_dynamo_exporter", "--use_model_builder", "--use_qdq_encoding"):
        p.add_argument(flag, action="store_true")
    p.add_argument("--dynamic-to-fixed-shape-dim-param", type=str, nargs="*")
    p.add_argument("--dynamic-to-fixed-shape-dim-value", type=int, nargs="*")
    split = p.add_mutually_exclusive_group()
    split.add_argument("--num-splits", type=int)
    split.add_argument("--cost-model", type=str)
    p.add_argument("--mixed-precision-overrides-config", type=str, nargs="*")
    p.add_argument("--use_ort_genai", action="store_true")
    _common(p)


def _quantize(p: argparse.ArgumentParser) -> None:
    _model(p, adapter=True)
    p.add_argument("-o", "--output_path", type=str, default="quantized-model")
    p.add_argument("--algorithm", type=str, default="rtn", choices=ALGORITHMS)
    p.add_argument("--precision", type=str, default="int8", choices=PRECISIONS)
    p.add_argument("--act_precision", type=str, default="int8", choices=PRECISIONS)
    p.add_argument("--implementation", type=str, default="olive")
    p.add_argument("--use_qdq_encoding", action="store_true")
    p.add_argument("-d", "--data_name", type=str)
    p.add_argument("--subset", type=str)
    p.add_argument("--split", type=str)
    _text_data(p)
    _common(p)


def olive_parser() -> argparse.ArgumentParser:
    """`olive` with the modelled subcommands, named and refusing as the real launcher does."""
    parser = argparse.ArgumentParser("Olive CLI tool", usage="olive")
    commands = parser.add_subparsers(dest="command")
    for name, build in zip(MODELLED, (_auto_opt, _finetune, _quantize), strict=True):
        build(commands.add_parser(name, prog=f"olive {name}"))
    return parser


@dataclass
class Parsed:
    command: str
    args: argparse.Namespace
    extra: list[str] = field(default_factory=list)  # finetune's flags for TrainingArguments

    def training(self) -> dict[str, Any]:
        """The TrainingArguments flags given, parsed as Olive parses them (argparse exits 2 on an unknown one)."""
        if not self.extra:
            return {}
        given = {a[2:].replace("-", "_") for a in self.extra if a.startswith("--")}
        parsed = vars(training_parser().parse_args(self.extra))
        return {k: v for k, v in parsed.items() if k in given or f"no_{k}" in given}


def parse(argv: list[str]) -> Parsed:
    """The command line as real Olive 0.13 parses it; argparse's error and exit 2 where it refuses it."""
    parser = olive_parser()
    args, unknown = parser.parse_known_args(argv)
    if args.command is None:
        parser.print_help()
        raise SystemExit(1)
    if unknown and args.command != "finetune":
        parser.error(f"Unknown arguments: {unknown}")
    return Parsed(args.command, args, unknown)


def refusal(parsed: Parsed) -> str | None:
    """The exception real Olive raises while building the workflow from these flags, before any model work."""
    a = parsed.args
    if parsed.command != "quantize" or a.algorithm != "awq":
        return None
    if a.implementation != "awq" or a.precision not in AWQ_PRECISIONS or a.use_qdq_encoding:
        return (
            f"ValueError: Quantization for precision {a.precision}, algorithm awq and implementation "
            f"{a.implementation} with QDQ {a.use_qdq_encoding} is not supported"
        )
    return None


def no_model(parsed: Parsed) -> str | None:
    """Why real Olive would run and still produce no model with these flags (it exits 0 then)."""
    if parsed.command == "auto-opt" and not parsed.args.use_model_builder:
        return "auto-opt without --use_model_builder exports through torch, which fails on Phi-3 (DynamicCache)"
    return None


def check_args(argv: list[str]) -> list[str]:
    """Every reason these flags would fail under real Olive (empty: they would run). Parse errors exit 2."""
    parsed = parse(argv)
    parsed.training()
    return [why for why in (refusal(parsed), no_model(parsed)) if why]
