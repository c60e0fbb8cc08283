"""A sweep's grid, defined once: each `--set SECTION.SETTING=V1,V2,...` is one axis, several make a grid (one
branch per combination). Each value is read from its text once, here, and checked with its setting's strict
type (as lab.toml's: `true` is no number); from then on a branch carries typed values, which the plan, the
dry run and the supervisor apply as they are.
"""

from __future__ import annotations

import itertools
import re
import tomllib
from collections.abc import Sequence

from pydantic import BaseModel

from engine.config import LabConfig, LabConfigError, did_you_mean
from engine.errors import OliveLabError
from engine.steps.spec import ALL_STEPS, run_steps

SWEPT = ("finetune", "optimize")  # the steps of a sweep's branches
BRANCHES = "branches"  # a sweep's run folder holds each branch's run folder in branches/<label>/
BRANCH_STEPS = ("quantize", "finetune", "optimize", "evaluate")  # evaluate where the settings turn it on
Value = bool | int | float | str  # a swept setting's value, of that setting's own type
CLI_OPTION = "--set"  # the command line's option for one SETTING=V1,V2 item, as its refusals name it


class SweepError(OliveLabError):
    """A sweep that cannot be planned, and why. A refusal of what the user wrote keeps it apart (`given`: the
    SETTING=V1,V2 item at fault, "" when the reason names it; None: not about what was written), so each face
    names it in its own words (`worded`); the message is the command line's, which names the `--set` option."""

    def __init__(self, reason: str, hint: str | None = None, *, given: str | None = None, sep: str = ": ") -> None:
        self.reason, self.given, self.sep = reason, given, sep
        super().__init__(self._said(CLI_OPTION), hint)

    def _said(self, option: str) -> str:
        if self.given is None:
            return self.reason
        lead = " ".join(part for part in (option, self.given) if part)
        return f"{lead}{self.sep}{self.reason}" if lead else self.reason

    def worded(self, option: str = "") -> str:
        """The refusal with its hint, the input at fault named as `option` (the app's box of SETTING=V1,V2
        items has no option name: the item alone names it)."""
        said = self._said(option)
        return f"{said} ({self.hint})" if self.hint else said


class GridBranch(BaseModel):
    """One branch: its label and the value each swept setting takes in it."""

    label: str  # "lora_r-8_lora_alpha-16"; the branch's run folder is branches/<label>/
    values: dict[str, Value]  # "finetune.lora_r" -> 8
    text: str  # the values as written ("8,16"), as the comparison shows them


def shared_steps(setting: str) -> tuple[str, ...]:
    """The steps a sweep runs once, before its branches: every step before the swept one (a finetune sweep
    shares prepare and quantize; an optimize sweep shares the fine-tuned model too). A grid (`a.x,b.y`) is
    swept from its earliest step."""
    first = min(SWEPT.index(one.split(".", 1)[0]) for one in setting.split(","))
    swept = SWEPT[first:]
    return ("prepare", "quantize", *(s for s in SWEPT if s not in swept))


def branch_steps(config: LabConfig) -> list[str]:
    """The steps a branch lists: quantize (shared), the swept ones and what follows them, as a run would."""
    listed = run_steps(config)
    return [name for name in BRANCH_STEPS if name in listed]


def parse_set(text: str) -> tuple[str, list[str]]:
    """`finetune.lora_r=8,16,64` -> ("finetune.lora_r", ["8", "16", "64"])."""
    key, eq, values = text.partition("=")
    key = key.strip()
    section, dot, name = key.partition(".")
    if not eq or not dot or not name:
        raise SweepError("write SECTION.SETTING=V1,V2,... (for example finetune.lora_r=8,16,64)", given=repr(text))
    if section not in SWEPT:
        why = f"{section} runs once, before the branches" if section in ALL_STEPS else f"{section!r} is not a step"
        raise SweepError(
            f"a sweep changes a finetune or optimize setting ({why}{did_you_mean(section, SWEPT)})", given=repr(text)
        )
    found = [v.strip() for v in values.split(",") if v.strip()]
    if len(found) < 2 or len(set(found)) != len(found):
        raise SweepError("give at least two different values, separated by commas", given=repr(text))
    return key, found


def read_value(text: str) -> Value:
    """A value as lab.toml would read it (`8` a number, `true` a boolean); a bare word is a string."""
    try:
        found: Value = tomllib.loads(f"v = {text}")["v"]
    except (tomllib.TOMLDecodeError, ValueError):
        return text
    return found if isinstance(found, bool | int | float | str) else text


def with_values(config: LabConfig, values: dict[str, Value], shown: str = "") -> LabConfig:
    """`config` with each swept setting set to its value, checked as strictly as lab.toml's (`shown`: the
    value as the user wrote it, for the refusal)."""
    shown = shown or ",".join(f"{k}={v}" for k, v in values.items())
    data = config.model_dump()
    for setting, value in values.items():
        section, name = setting.split(".", 1)
        swept = [n for n in type(config.step(section)).model_fields if n not in ("env", "olive", "run_on")]
        if name not in swept:
            known = (f"{section}.{n}" for n in swept)
            raise SweepError(f"{setting} is not a setting a sweep can change{did_you_mean(setting, known)}", given="")
        data[section][name] = value
    try:
        return LabConfig.model_validate(data, strict=True)
    except ValueError as exc:
        lines = str(exc).splitlines()
        why = lines[2].strip() if len(lines) > 2 else str(exc)
        raise SweepError(why.split(" [type=")[0], given=shown) from None
    except LabConfigError as exc:
        raise SweepError(exc.message, given=shown) from None


def branch_label(setting: str, value: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "-", f"{setting.split('.', 1)[1]}-{value}")


def plan_grid(config: LabConfig, texts: Sequence[str]) -> list[GridBranch]:
    """The branches of `--set` options: one per value, or with several options one per combination; each
    value read once and checked on its own first, so a refusal names the value at fault."""
    sets = [parse_set(t) for t in texts]
    names = [name for name, _ in sets]
    if len(set(names)) != len(names):
        raise SweepError("is given twice; give each setting once, with all its values", given=names[0], sep=" ")
    axes: list[list[tuple[str, str, Value]]] = []
    for name, words in sets:
        axis = []
        for word in words:
            value = read_value(word)
            checked = with_values(config, {name: value}, f"{name}={word}")
            section, setting = name.split(".", 1)
            axis.append((name, word, getattr(checked.step(section), setting)))  # the setting's own type
        axes.append(axis)
    branches = []
    for combo in itertools.product(*axes):
        label = "_".join(branch_label(n, w) for n, w, _ in combo)
        branches.append(
            GridBranch(label=label, values={n: v for n, _, v in combo}, text=",".join(w for _, w, _ in combo))
        )
    return branches
