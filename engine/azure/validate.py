"""What the model registry accepts, checked before any byte is sent (a refusal after a 2 GB upload wastes it
and leaves orphaned blobs). The rules are Azure ML's asset rules (`engine.config_sections.ASSET_NAME` and
`ASSET_VERSION`, which `[registration]` is checked with too): a name of letters, digits, '-', '_' and '.'
starting with a letter or digit (at most 255), a version of the same alphabet (at most 30; auto-numbering and
"the next free version" need a plain number), tags and properties as short strings."""

from __future__ import annotations

from collections.abc import Mapping

from engine.azure.errors import InvalidInput
from engine.config_sections import ASSET_NAME, ASSET_NAME_RULE, ASSET_VERSION, ASSET_VERSION_RULE

_TAG_KEY_FORBIDDEN = set("<>%&\\?/")
MAX_TAG_KEY = 256
MAX_TAG_VALUE = 256
MAX_TAGS = 50
MAX_DESCRIPTION = 5000


def check_name(name: str) -> str:
    if not ASSET_NAME.match(name or ""):
        raise InvalidInput(f"model name {name!r} is not allowed", ASSET_NAME_RULE)
    return name


def check_version(version: str) -> str:
    if not ASSET_VERSION.match(version or ""):
        raise InvalidInput(f"model version {version!r} is not allowed", ASSET_VERSION_RULE)
    return version


def check_description(description: str | None) -> str | None:
    if description is not None and len(description) > MAX_DESCRIPTION:
        raise InvalidInput(f"the description has {len(description)} characters", f"at most {MAX_DESCRIPTION}")
    return description


def check_tags(tags: Mapping[str, object], *, what: str = "tag") -> dict[str, str]:
    """Tags (or properties) as strings, each key and value within the registry's limits."""
    if len(tags) > MAX_TAGS:
        raise InvalidInput(f"{len(tags)} {what}s given", f"at most {MAX_TAGS}")
    out: dict[str, str] = {}
    for key, value in tags.items():
        if not isinstance(key, str) or not key.strip():
            raise InvalidInput(f"a {what} has an empty name")
        if len(key) > MAX_TAG_KEY or _TAG_KEY_FORBIDDEN & set(key):
            raise InvalidInput(
                f"{what} name {key[:40]!r} is not allowed",
                f"at most {MAX_TAG_KEY} characters, none of < > % & \\ ? /",
            )
        text = "" if value is None else str(value)
        if len(text) > MAX_TAG_VALUE:
            raise InvalidInput(f"{what} {key!r} has a value of {len(text)} characters", f"at most {MAX_TAG_VALUE}")
        out[key] = text
    return out


def parse_tags(pairs: list[str]) -> dict[str, str]:
    """`KEY=VALUE` strings (the command line's --tag) as a dict."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise InvalidInput(f"tag {pair!r} is not KEY=VALUE")
        out[key.strip()] = value
    return check_tags(out)


def next_number(versions: list[str]) -> str:
    """One more than the largest numeric version (1 when there is none)."""
    numbers = [int(v) for v in versions if v.isdigit()]
    return str(max(numbers, default=0) + 1)
