"""The one redactor of the product: secrets never reach a log, the run folder, the screen or a message.

Two kinds of secret: environment entries whose names look secret (their values are masked wherever settings
are written or shown), and credentials inside free text (bearer tokens, storage account keys, SAS signatures,
connection strings), which `redact` masks in any text before it is written or shown.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

MASK = "***"
SECRET_NAME_PARTS = ("TOKEN", "KEY", "SECRET", "PASSWORD", "PASSWD", "SAS", "CONNECTION_STRING", "CREDENTIAL")

_PATTERNS = (
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9\-_.~+/]+=*"),
    re.compile(r"(?i)((?:AccountKey|SharedAccessKey|SharedAccessSignature|password|pwd)=)[^;\s\"']+"),
    re.compile(r"(?i)([?&]sig=)[^&\s\"']+"),
    re.compile(r"(?i)(\"(?:access_token|refresh_token|accessToken|key1|key2|primaryKey|secondaryKey|"
               r"sasToken|credential|client_secret)\"\s*:\s*\")[^\"]+"),
)


def is_secret_name(name: str) -> bool:
    """Whether an environment variable's name says it holds a secret (`HF_TOKEN`, `AZURE_STORAGE_KEY`, ...)."""
    upper = name.upper()
    return any(part in upper for part in SECRET_NAME_PARTS)


def mask_env(env: Mapping[str, str]) -> dict[str, str]:
    """A copy of `env` with the values of secret-looking names masked."""
    return {name: (MASK if is_secret_name(name) and value else value) for name, value in env.items()}


def secret_env(env: Mapping[str, str]) -> dict[str, str]:
    """Only the secret-looking entries of `env` (they travel in a process environment, never in a file)."""
    return {name: value for name, value in env.items() if is_secret_name(name) and value}


def redact(text: str) -> str:
    """`text` with every credential it holds masked."""
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + MASK, text)
    return text
