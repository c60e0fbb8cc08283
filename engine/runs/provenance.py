"""Where a run's model came from, as the registry's tags and properties and the export's model card show it:
the base model, the dataset's hash, the step settings and the golden check's score when there is one.

Everything is read from the run folder (its state, settings, split data and golden.json) and passed through
the redactor, so a secret in a step's environment table never travels with a model.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from engine.chat.golden import load_golden
from engine.chat.models import RUN_MODEL_DIR
from engine.fs import open_regular
from engine.redact import redact_value
from engine.runs.report import summarize_run

MAX_PROPERTIES = 45  # the registry takes 50; a few stay free for the user's own


class Provenance(BaseModel):
    run_id: str
    profile: str
    base_model: str
    dataset: str | None = None
    dataset_sha256: str | None = None  # of the training and evaluation splits the steps saw
    settings: dict[str, str] = {}
    golden: dict[str, Any] | None = None
    model_folder: str

    def tags(self) -> dict[str, str]:
        """The few facts worth filtering on in the registry."""
        tags = {"source": "olive-lab", "olive_lab_run": self.run_id, "base_model": self.base_model,
                "profile": self.profile}  # fmt: skip
        if self.dataset_sha256:
            tags["dataset_sha256"] = self.dataset_sha256[:16]
        if self.golden and "adapter_rouge_l" in self.golden:
            tags["golden_rouge_l"] = str(self.golden["adapter_rouge_l"])
        return {k: v[:256] for k, v in tags.items()}

    def properties(self) -> dict[str, str]:
        """The step settings, the full dataset hash and the golden figures (immutable in the registry)."""
        props: dict[str, str] = {}
        if self.dataset:
            props["dataset"] = self.dataset
        if self.dataset_sha256:
            props["dataset_sha256"] = self.dataset_sha256
        for key, value in (self.golden or {}).items():
            props[f"golden.{key}"] = str(value)
        for key, value in sorted(self.settings.items()):
            if len(props) >= MAX_PROPERTIES:
                break
            props[key] = value
        return {k: v[:256] for k, v in props.items()}


def _splits_digest(run_dir: Path) -> str | None:
    digest = hashlib.sha256()
    found = False
    for name in ("train.jsonl", "validation.jsonl"):
        path = run_dir / "data" / name
        if path.is_file():
            found = True
            with open_regular(path) as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(block)
    return digest.hexdigest() if found else None


# Where and how the model was made on this machine, not what it is: the Azure workspace (subscription,
# resource group), the registration's own fields, step programs and environments, where a step ran.
_PRIVATE_SECTIONS = ("azure.", "registration.")
_PRIVATE_KEYS = ("python", "olive", "env", "run_on")
_PATH_SETTINGS = ("model", "dataset.path")


def _public_name(value: str) -> str:
    """A local path reduced to its last part (a hub id, `demo` or an azureml:// id stays whole)."""
    if value.startswith(("/", "~", "./", "../")) or (os.sep in value and Path(value).expanduser().exists()):
        return Path(value).expanduser().name or value
    return value


def _public_settings(settings: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in redact_value(settings).items():
        if isinstance(value, (list, dict)) or key.startswith(_PRIVATE_SECTIONS):
            continue
        if key.rsplit(".", 1)[-1] in _PRIVATE_KEYS or key == "stall_minutes":
            continue
        out[key] = _public_name(str(value)) if key in _PATH_SETTINGS else str(value)
    return out


def run_provenance(run_dir: Path) -> Provenance:
    """The provenance of a run (raises the report's ReportError for a folder that is not a readable run):
    what a consumer of the model needs, without this machine's paths or the Azure workspace it went to."""
    summary = summarize_run(run_dir)
    settings = _public_settings(summary.settings)
    golden = load_golden(run_dir)
    return Provenance(
        run_id=summary.run_id,
        profile=summary.state.profile,
        base_model=settings.get("model") or "unknown",
        dataset=settings.get("dataset.path"),
        dataset_sha256=_splits_digest(run_dir),
        settings=settings,
        golden=golden.summary() if golden else None,
        model_folder=str(run_dir / RUN_MODEL_DIR),
    )
