"""The golden check as a program: a sweep's branch answers its held-back examples with the base model and
with its adapter (greedy), and the scores are saved in the branch's folder (`golden.json`).

    python -m engine.steps.golden_check --lab LAB --model DIR --data FILE --fields prompt,response \\
        --limit 8 --out BRANCH_DIR
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.paths import LabPaths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="engine.steps.golden_check")
    parser.add_argument("--lab", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--fields", required=True, help="prompt_field,response_field")
    parser.add_argument("--limit", type=int, default=8)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    from engine.chat import ChatModel
    from engine.chat.golden import GOLDEN_OPTIONS, read_records, run_golden, save_golden
    from engine.chat.models import ChatError, describe_model

    prompt, _, response = args.fields.partition(",")
    try:
        records = read_records(Path(args.data), (prompt, response), args.limit)
        model = ChatModel(describe_model(Path(args.model)), lab=LabPaths.at(args.lab), device="cpu")
        report = run_golden(
            model,
            records,
            data=Path(args.data),
            options=GOLDEN_OPTIONS.model_copy(update={"greedy": True}),
            progress=lambda done, total: print(f"golden check: {done}/{total}", flush=True),
        )
    except ChatError as exc:
        print(f"golden check: {exc}", flush=True)
        return 1
    print(
        f"saved {save_golden(report, Path(args.out))}: adapter {report.adapter_mean:.3f}, base {report.base_mean:.3f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
