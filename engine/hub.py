"""The Hugging Face hub as this machine sees it: whether a step may use it, whether it answers (huggingface.co
or the mirror HF_ENDPOINT names), whether it holds a model, which models its local cache holds, and what a repo
id may look like.

One place for these facts, read the way `huggingface_hub` reads them, so `doctor`, the pre-flight check of a
run and the environment a step runs in agree on what "offline" and "cached" mean.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

DEFAULT_ENDPOINT = "https://huggingface.co"
_TRUE = ("1", "ON", "YES", "TRUE")  # huggingface_hub.constants.ENV_VARS_TRUE_VALUES


def offline(env: Mapping[str, str]) -> bool:
    """Whether `env` tells the hub's libraries not to use the network (HF_HUB_OFFLINE, else the older
    TRANSFORMERS_OFFLINE), as huggingface_hub decides it."""
    value = env.get("HF_HUB_OFFLINE") or env.get("TRANSFORMERS_OFFLINE") or ""
    return value.upper() in _TRUE


def endpoint(env: Mapping[str, str]) -> str:
    """The hub the libraries talk to: HF_ENDPOINT (a mirror, a company's proxy), else huggingface.co."""
    return (env.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def host(env: Mapping[str, str]) -> str:
    """The hub's host name, for messages (huggingface.co unless HF_ENDPOINT names another)."""
    return urlsplit(endpoint(env)).hostname or endpoint(env)


def reachable(env: Mapping[str, str], timeout: float = 2.0) -> bool:
    """Whether the hub (`endpoint`) answers on its port within `timeout` seconds."""
    url = urlsplit(endpoint(env))
    port = url.port or (80 if url.scheme == "http" else 443)
    try:
        with socket.create_connection((url.hostname or "", port), timeout=timeout):
            return True
    except (OSError, ValueError):
        return False


def repo_exists(model: str, env: Mapping[str, str]) -> bool | None:
    """Whether the hub holds the model repo `model` (a gated one counts); None when it cannot tell (no answer,
    an error, huggingface_hub missing). Asked with the user's own token, if any, so a private repo is found."""
    try:
        from huggingface_hub import HfApi
    except ImportError:
        return None
    try:
        return bool(HfApi(endpoint=endpoint(env)).repo_exists(model))
    except Exception:  # no answer, a refusal, a proxy's page: it cannot tell, and the step will say
        return None


def cache_dir(env: Mapping[str, str]) -> Path:
    """The hub's model cache: HF_HUB_CACHE, else `HF_HOME/hub`, else ~/.cache/huggingface/hub."""
    home = env.get("HF_HUB_CACHE") or os.path.join(
        env.get("HF_HOME") or os.path.expanduser("~/.cache/huggingface"), "hub"
    )
    return Path(home)


def cached(model: str, env: Mapping[str, str]) -> bool:
    """Whether the hub's cache holds the repo `model` (a download was made: its `models--org--name` folder)."""
    return (cache_dir(env) / ("models--" + model.replace("/", "--"))).is_dir()


def cached_models(env: Mapping[str, str]) -> list[str]:
    """The repo ids the hub's cache holds (none when it cannot be read)."""
    try:
        names = sorted(p.name for p in cache_dir(env).iterdir() if p.name.startswith("models--") and p.is_dir())
    except OSError:
        return []
    return [name.removeprefix("models--").replace("--", "/") for name in names]


def is_repo_id(model: str) -> bool:
    """Whether `model` has the form of a hub repo id ('name' or 'namespace/name'; letters, digits, '-', '_',
    '.'; no '--' or '..'; at most 96 characters each)."""
    try:
        # huggingface_hub (with transformers) owns the rule; deferred: the import takes about 0.1 s. Its
        # module, not the package's lazy re-export, which mypy does not see
        from huggingface_hub.utils._validators import validate_repo_id
    except ImportError:  # not installed (or moved): what cannot be fetched fails in the step, as before
        return True
    try:
        validate_repo_id(model)
    except ValueError:  # HFValidationError
        return False
    return True
