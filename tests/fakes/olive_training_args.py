"""The flags `olive finetune` (Olive 0.13) passes on to Hugging Face's TrainingArguments, as the fake checks them.

Olive parses the flags it does not know itself with `HfArgumentParser(TrainingArguments).parse_args`, so a flag
TrainingArguments lacks ends the command with argparse's `unrecognized arguments` (exit 2). This table was read
from transformers 5.25's parser; tests/test_fake_olive_cli.py compares it with the installed transformers'.
Every name with `_` also takes `-` (HfArgumentParser adds both); NO are the `--no_<name>` flags of fields
that default to true.
"""

from __future__ import annotations

import argparse

STR = """
    output_dir lr_scheduler_kwargs optim_args optim_target_modules activation_checkpointing_kwargs
    gradient_checkpointing_kwargs torch_compile_backend torch_compile_mode liger_kernel_config report_to
    run_name project trackio_space_id trackio_bucket_id trackio_static_space_id hub_token hub_model_id
    hub_revision metric_for_best_model accelerator_config parallelism_config length_column_name fsdp_config
    deepspeed resume_from_checkpoint
""".split()

INT = """
    per_device_train_batch_size max_steps gradient_accumulation_steps torch_empty_cache_steps
    per_device_eval_batch_size eval_accumulation_steps save_total_limit seed data_seed dataloader_num_workers
    dataloader_prefetch_factor ddp_bucket_cap_mb ddp_timeout local_rank
""".split()

FLOAT = """
    num_train_epochs learning_rate warmup_steps weight_decay adam_beta1 adam_beta2 adam_epsilon max_grad_norm
    label_smoothing_factor neftune_noise_alpha logging_steps eval_steps eval_delay save_steps
""".split()

FLAG = """
    average_tokens_across_devices bf16 fp16 bf16_full_eval fp16_full_eval activation_checkpointing
    gradient_checkpointing torch_compile use_liger_kernel use_cache auto_find_batch_size logging_first_step
    log_on_each_node logging_nan_inf_filter include_num_input_tokens_seen prediction_loss_only eval_on_start
    eval_do_concat_batches eval_use_gather_object batch_eval_metrics save_only_model save_on_each_node
    enable_jit_checkpoint push_to_hub hub_always_push load_best_model_at_end ignore_data_skip
    restore_callback_states_from_checkpoint full_determinism use_cpu dataloader_drop_last
    dataloader_pin_memory dataloader_persistent_workers dataloader_in_order remove_unused_columns
    skip_memory_metrics do_train do_eval do_predict
""".split()

BOOL = """
    tf32 disable_tqdm hub_private_repo greater_is_better ddp_find_unused_parameters ddp_broadcast_buffers
    ddp_static_graph
""".split()

NO = """
    average_tokens_across_devices log_on_each_node logging_nan_inf_filter eval_do_concat_batches
    dataloader_pin_memory dataloader_in_order remove_unused_columns skip_memory_metrics
""".split()

MANY = """
    include_for_metrics label_names debug
""".split()

CHOICES = {
    "lr_scheduler_type": (
        "linear",
        "cosine",
        "cosine_with_restarts",
        "polynomial",
        "constant",
        "constant_with_warmup",
        "inverse_sqrt",
        "reduce_lr_on_plateau",
        "cosine_with_min_lr",
        "cosine_warmup_with_min_lr",
        "warmup_stable_decay",
        "greedy",
    ),
    "optim": (
        "adamw_torch",
        "adamw_torch_fused",
        "adamw_torch_xla",
        "adamw_torch_npu_fused",
        "adafactor",
        "adamw_anyprecision",
        "adamw_torch_4bit",
        "adamw_torch_8bit",
        "ademamix",
        "sgd",
        "adagrad",
        "adamw_bnb_8bit",
        "adamw_8bit",
        "ademamix_8bit",
        "lion_8bit",
        "lion_32bit",
        "paged_adamw_32bit",
        "paged_adamw_8bit",
        "paged_ademamix_32bit",
        "paged_ademamix_8bit",
        "paged_lion_32bit",
        "paged_lion_8bit",
        "rmsprop",
        "rmsprop_bnb",
        "rmsprop_bnb_8bit",
        "rmsprop_bnb_32bit",
        "galore_adamw",
        "galore_adamw_8bit",
        "galore_adafactor",
        "galore_adamw_layerwise",
        "galore_adamw_8bit_layerwise",
        "galore_adafactor_layerwise",
        "lomo",
        "adalomo",
        "grokadamw",
        "schedule_free_radam",
        "schedule_free_adamw",
        "schedule_free_sgd",
        "apollo_adamw",
        "apollo_adamw_layerwise",
        "stable_adamw",
    ),
    "logging_strategy": ("no", "steps", "epoch"),
    "log_level": ("detail", "debug", "info", "warning", "error", "critical", "passive"),
    "log_level_replica": ("detail", "debug", "info", "warning", "error", "critical", "passive"),
    "eval_strategy": ("no", "steps", "epoch"),
    "save_strategy": ("no", "steps", "epoch", "best"),
    "hub_strategy": ("end", "every_save", "checkpoint", "all_checkpoints"),
    "dataloader_multiprocessing_context": ("fork", "spawn", "forkserver"),
    "train_sampling_strategy": ("random", "sequential", "group_by_length", "batch_rebalance"),
    "ddp_backend": ("nccl", "gloo", "mpi", "xccl", "hccl", "cncl", "mccl"),
}


def _bool(value: str | bool) -> bool:
    """transformers' `string_to_bool`: a flag's value must read as a boolean."""
    if isinstance(value, bool):
        return value
    if value.lower() in ("yes", "true", "t", "y", "1"):
        return True
    if value.lower() in ("no", "false", "f", "n", "0"):
        return False
    raise argparse.ArgumentTypeError(
        f"Truthy value expected: got {value} but expected one of yes/no, true/false, t/f, y/n, 1/0 (case insensitive)."
    )


def _names(name: str) -> list[str]:
    return [f"--{name}", f"--{name.replace('_', '-')}"] if "_" in name else [f"--{name}"]


def training_parser() -> argparse.ArgumentParser:
    """The parser Olive hands finetune's unknown flags to (`usage: olive ...`, like the real one)."""
    p = argparse.ArgumentParser(prog="olive")
    for name in STR:
        p.add_argument(*_names(name), type=str)
    for name in INT:
        p.add_argument(*_names(name), type=int)
    for name in FLOAT:
        p.add_argument(*_names(name), type=float)
    for name in FLAG:
        p.add_argument(*_names(name), type=_bool, nargs="?", const=True)
    p.add_argument("--fsdp", type=str, nargs="?", const=True)  # a string flag: `--fsdp` or `--fsdp full_shard`
    for name in BOOL:
        p.add_argument(*_names(name), type=_bool)
    for name in NO:
        p.add_argument(*_names(f"no_{name}"), dest=name, action="store_false")
    for name in MANY:
        p.add_argument(*_names(name), type=str, nargs="+")
    for name, choices in CHOICES.items():
        p.add_argument(*_names(name), type=str, choices=choices)
    return p
