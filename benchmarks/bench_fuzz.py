"""Many more generated inputs than the property tests run (tests/fuzz_cases.py): lab.toml files, JSONL files,
arguments and chat prompts through the command line's entry function. Prints how many it tried and how many
broke the property (no traceback, exit status in {0, 1, 2}, within the bound, nothing outside the lab changed).

Target: 0 broken. `python -m benchmarks.bench_fuzz [EXAMPLES]` (default 200 per kind of input).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

EXAMPLES = 200


def run(examples: int = EXAMPLES) -> dict[str, Any]:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from tests import fuzz_cases as fz

    tried: dict[str, int] = {}
    broken: list[str] = []
    slowest = [0.0]

    def case(kind: str, sandbox: Path, make: Any) -> None:
        tried[kind] = tried.get(kind, 0) + 1
        started = time.monotonic()
        try:
            fz.in_lab(sandbox, make)
        except Exception as exc:  # the property broken, or a traceback that escaped the entry function
            broken.append(f"{kind}: {type(exc).__name__}: {str(exc)[:300]}")
        slowest[0] = max(slowest[0], time.monotonic() - started)

    many = settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    with tempfile.TemporaryDirectory(prefix="olive-lab-fuzz-") as tmp:
        sandbox = Path(tmp)

        def toml_case(toml: bytes) -> None:
            def make(lab: Path) -> list[str]:
                (lab / "lab.toml").write_bytes(toml)
                return ["pipeline", "commands"]

            case("lab.toml", sandbox, make)

        def jsonl_case(data: bytes, command: str) -> None:
            def make(lab: Path) -> list[str]:
                (lab / "data.jsonl").write_bytes(data)
                return ["dataset", command, str(lab / "data.jsonl")]

            case("jsonl", sandbox, make)

        given(fz.lab_tomls())(many(toml_case))()
        given(fz.jsonl_files(), st.sampled_from(["check", "stats"]))(many(jsonl_case))()
        given(fz.arguments())(many(lambda argv: case("arguments", sandbox, lambda lab: argv)))()
        given(fz.PROMPTS)(many(lambda p: case("chat prompt", sandbox, lambda lab: ["chat", "--prompt", p])))()
    for line in broken[:10]:
        print(f"  broken: {line}")
    return {
        **{f"tried {kind}": n for kind, n in tried.items()},
        "tried in all": sum(tried.values()),
        "broken (target 0)": len(broken),
        "slowest command s": slowest[0],
    }


if __name__ == "__main__":
    figures = run(int(sys.argv[1]) if len(sys.argv) > 1 else EXAMPLES)
    for key, value in figures.items():
        print(f"{key:24} {value}")
