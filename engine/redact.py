"""The one redactor of the product: secrets never reach a log, the run folder, the screen or a message.

Three kinds of secret:
- environment entries whose names look secret (`*TOKEN*`, `*KEY*`, `*SECRET*`, `*PASSWORD*`, `*SAS*`,
  `*CONNECTION_STRING*`) or whose values look like a credential, whatever the name: their values are masked
  wherever settings are written or shown (`mask_env`) and reach only the step (`secret_env`);
- credentials inside free text (bearer tokens, JWTs, storage account keys, SAS signatures, connection
  strings, JSON fields named like a key or token), which `redact` masks in any text before it is written
  or shown;
- values the product itself obtained (an access token, a datastore's account key or SAS token), registered
  with `remember` the moment they are obtained and masked wherever they appear later, whatever their shape.

`install_log_filter()` masks every log record of the process as it is made, so an SDK that logs a request
(azure-core's HTTP logging policy, say) is masked too.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any

MASK = "***"
SECRET_NAME_PARTS = ("TOKEN", "KEY", "SECRET", "PASSWORD", "PASSWD", "SAS", "CONNECTION_STRING", "CREDENTIAL")
_MIN_REMEMBERED = 8  # shorter values would mask ordinary words

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # "Authorization: Bearer <token>"
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9\-_.~+/]+=*"), r"\1" + MASK),
    # JSON Web Tokens wherever they appear
    (re.compile(r"\beyJ[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]*"), MASK),
    # connection-string parts
    (
        re.compile(
            r"(?i)\b((?:AccountKey|SharedAccessKey|SharedAccessSignature|password|pwd|ClientSecret)=)[^;\s\"']+"
        ),
        r"\1" + MASK,
    ),
    # the signature of a SAS URL or token
    (re.compile(r"(?i)([?&;\s\"']|^)((?:sig|signature)=)[^&\s\"';]+"), r"\1\2" + MASK),
    # JSON or Python-repr fields whose name says secret
    (
        re.compile(
            r"(?i)([\"']?(?:access_?token|refresh_?token|id_?token|token|key|key1|key2|primary_?key|"
            r"secondary_?key|account_?key|sas_?token|credential|secret|client_?secret|password|"
            r"connection_?string)[\"']?\s*[:=]\s*[\"'])[^\"']+([\"'])"
        ),
        r"\1" + MASK + r"\2",
    ),
    # a storage account key: 64 random bytes in base64
    (re.compile(r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{86}==(?![A-Za-z0-9+/=])"), MASK),
)

_known: set[str] = set()
_known_lock = threading.Lock()


def is_secret_name(name: str) -> bool:
    """Whether an environment variable's name says it holds a secret (`HF_TOKEN`, `AZURE_STORAGE_KEY`, ...)."""
    upper = name.upper()
    return any(part in upper for part in SECRET_NAME_PARTS)


def is_secret_entry(name: str, value: str) -> bool:
    """Whether an environment entry holds a secret: its name says so, or its value looks like a credential
    (a SAS signature, an account key, a bearer token, a JWT, a connection string), whatever it is called."""
    return bool(value) and (is_secret_name(name) or redact(value) != value)


def mask_env(env: Mapping[str, str]) -> dict[str, str]:
    """A copy of `env` with the secret entries' values masked."""
    return {name: (MASK if is_secret_entry(name, value) else value) for name, value in env.items()}


def secret_env(env: Mapping[str, str]) -> dict[str, str]:
    """Only the secret entries of `env` (they reach the step without being written to a file)."""
    return {name: value for name, value in env.items() if is_secret_entry(name, value)}


def remember(*values: str | None) -> None:
    """Register secret values the product has obtained, so that every later `redact` masks them."""
    with _known_lock:
        for value in values:
            if value and len(value) >= _MIN_REMEMBERED:
                _known.add(value)


def redact(text: str) -> str:
    """`text` with every remembered secret and every credential it holds masked."""
    if not text:
        return text
    with _known_lock:
        known = sorted(_known, key=len, reverse=True)
    for value in known:
        if value in text:
            text = text.replace(value, MASK)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact_value(value: Any) -> Any:
    """`redact` applied through strings, lists and dicts (a dict entry with a secret name is masked whole)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {
            k: (MASK if isinstance(k, str) and is_secret_name(k) and v not in (None, "") else redact_value(v))
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return type(value)(redact_value(v) for v in value)
    return value


def find_leaks(text: str, secrets: Iterable[str]) -> list[str]:
    """Which of `secrets` occur in `text` (for tests and self-checks)."""
    return [s for s in secrets if s and s in text]


class RedactingFilter(logging.Filter):
    """A logging filter that renders a record once and masks it, arguments included."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to logging's own error path
            return True
        record.msg = redact(message)
        record.args = None
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


_installed = False


def install_log_filter() -> None:
    """Mask every log record of the process when it is made, whichever logger or handler it goes to
    (idempotent). A record factory sees records of SDK loggers that no handler filter would."""
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()
    flt = RedactingFilter()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        flt.filter(record)
        return record

    logging.setLogRecordFactory(factory)
    _installed = True
