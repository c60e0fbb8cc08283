"""A device-code sign-in that lasts: azure-identity's persistent token cache plus the sign-in's authentication
record (which account, which tenant; no token), so that a later process or step signs in silently instead of
asking for a new code.

The token cache is azure-identity's own (msal-extensions): in the system keyring where one exists; on a machine
without one (a headless Linux box without libsecret) in a file readable by the user alone (0600), which is
then said (`unencrypted`). The record is a small file in the user's own folder, 0600 too:
`$XDG_CONFIG_HOME/olive-lab/azure-sign-in.json` (by default ~/.config/olive-lab/).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.fs import atomic_write_text, private_dir

if TYPE_CHECKING:
    from azure.identity import AuthenticationRecord

CACHE_NAME = "olive-lab"
RECORD_FILE = "azure-sign-in.json"


def record_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "olive-lab" / RECORD_FILE


def keyring_available() -> bool:
    """Whether msal-extensions can keep tokens in a keyring here (libsecret through PyGObject on Linux)."""
    import sys

    if sys.platform != "linux":
        return True
    try:
        import gi

        gi.require_version("Secret", "1")
        from gi.repository import Secret  # noqa: F401
    except Exception:
        return False
    return True


def cache_options() -> tuple[Any, bool]:
    """(azure-identity's persistence options, whether the cache is an unencrypted 0600 file)."""
    from azure.identity import TokenCachePersistenceOptions

    unencrypted = not keyring_available()
    return TokenCachePersistenceOptions(name=CACHE_NAME, allow_unencrypted_storage=unencrypted), unencrypted


def load_record() -> AuthenticationRecord | None:
    """The remembered sign-in, if there is one that reads."""
    from azure.identity import AuthenticationRecord

    path = record_path()
    try:
        return AuthenticationRecord.deserialize(path.read_text())
    except (OSError, ValueError, KeyError, TypeError):
        return None


def save_record(record: AuthenticationRecord) -> Path:
    path = record_path()
    private_dir(path.parent)
    return atomic_write_text(path, record.serialize(), private=True)


def forget() -> None:
    record_path().unlink(missing_ok=True)


class RememberedDeviceCode:
    """A DeviceCodeCredential whose sign-in is kept: the first token of a new sign-in runs `authenticate`
    (the one device code), whose record is saved; later processes pass the record and sign in silently."""

    def __init__(self, make: Any) -> None:
        self.record = load_record()
        self.inner = make(self.record)
        self._make = make

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        if self.record is None:
            self.record = self.inner.authenticate(scopes=list(scopes) or None)
            save_record(self.record)
        return self.inner.get_token(*scopes, **kwargs)

    def close(self) -> None:
        close = getattr(self.inner, "close", None)
        if close is not None:
            close()
