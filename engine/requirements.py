"""What each profile needs and the package versions known to break the lab, as data.

`doctor` and the pre-flight check read the same table through `resource_verdict`, so they always agree:
below what the profile needs is a refusal in both (the checklist shows it red, "will refuse"), within
`CLOSE` of it a warning in both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

GB = 1_000_000_000
CLOSE = 1.25  # free space within 25 % above the need: a warning

Verdict = Literal["ok", "warn", "fail"]


@dataclass(frozen=True)
class Needs:
    ram: float
    disk: float


# What a run needs, roughly. demo: a 2-layer model, a few MB per step plus Python and torch in memory.
# phi35 (3.8B parameters): the fp16 weights are 7.6 GB; the AWQ output, the fine-tune output and the int4
# ONNX model (about 2.5 GB) come to about 25 GB on disk, and loading the fp16 model while the model builder
# converts it needs about 16 GB of RAM.
NEEDS: dict[str, Needs] = {"demo": Needs(ram=2 * GB, disk=1 * GB), "phi35": Needs(ram=16 * GB, disk=25 * GB)}

# distribution -> why the lab needs it
REQUIRED = {
    "olive-ai": "runs the quantize, finetune and optimize steps",
    "torch": "fine-tuning and AWQ",
    "transformers": "loads the models",
    "peft": "LoRA adapters",
    "datasets": "feeds the training data to Olive",
    "pydantic": "settings",
    "psutil": "memory and process readings",
}
PIN_GENAI = "onnxruntime-genai>=0.14.1,<0.15"


def needs(profile: str) -> Needs:
    return NEEDS.get(profile, NEEDS["phi35"])


@dataclass(frozen=True)
class ResourceVerdict:
    verdict: Verdict
    detail: str


def resource_verdict(what: Literal["memory", "disk"], profile: str, free: float, where: str = "") -> ResourceVerdict:
    """The one judgement of free RAM or disk against the profile's need."""
    need = needs(profile).ram if what == "memory" else needs(profile).disk
    place = f" in {where}" if where else ""
    noun = "of RAM free" if what == "memory" else "free" + place
    detail = f"{free / GB:.1f} GB {noun}; the {profile} profile needs about {need / GB:.0f} GB"
    if free < need:
        return ResourceVerdict("fail", detail)
    if free < need * CLOSE:
        return ResourceVerdict("warn", detail + " (little to spare)")
    return ResourceVerdict("ok", detail)
