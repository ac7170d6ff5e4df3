"""Key names into namespaces, and the segments that make keys non-deterministic.

cache-kit keys are `<prefix>:<id>` (composite ids joined by ':'). Segments that are
ids (numbers, UUIDs, hex) collapse to `*` so `user:123` and `user:456` share the
namespace `user:*`. Timestamps and random nonces in a key mean every write makes a
new key: the guide's "cache keys are non-deterministic" cause of a low hit rate.
"""

from __future__ import annotations

import re

_NUMBER = re.compile(r"^-?\d+$")
_UUID = re.compile(
    r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$"
)
_HEX = re.compile(r"^(?=.*\d)(?=.*[a-fA-F])[0-9a-fA-F]{12,}$")
_ISO_DATE = re.compile(
    r"^\d{4}-\d{2}-\d{2}([T _]\d{2}[:.]?\d{2}([:.]?\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$"
)
_ISO_COMPACT = re.compile(r"^(19|20)\d{2}(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])T?\d{6}Z?$")

# An ISO timestamp holds the ':' delimiter itself, so it is found in the whole key first.
_ISO_IN_KEY = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
)

# Epoch values are read as timestamps only near the time the facts were collected, so
# that an ordinary 10-digit id is not mistaken for one.
_EPOCH_WINDOW_SECONDS = 3 * 365 * 86400


def is_variable(segment: str) -> bool:
    """Does this segment look like an id or other per-entity value?"""
    return bool(
        _NUMBER.match(segment)
        or _UUID.match(segment)
        or _HEX.match(segment)
        or _ISO_DATE.match(segment)
        or _ISO_COMPACT.match(segment)
    )


def namespace_of(key: str, delimiter: str = ":") -> str:
    key = _ISO_IN_KEY.sub("*", key)
    if not delimiter or delimiter not in key:
        return "*" if is_variable(key) else "(no namespace)"
    return delimiter.join("*" if is_variable(s) else s for s in key.split(delimiter))


def timestamp_kind(segment: str, now: float) -> str | None:
    """'epoch seconds', 'epoch milliseconds' or 'ISO date' when the segment is a timestamp."""
    if _ISO_DATE.match(segment) or _ISO_COMPACT.match(segment):
        return "ISO date"
    if segment.isdigit():
        value = int(segment)
        if len(segment) == 10 and abs(value - now) < _EPOCH_WINDOW_SECONDS:
            return "epoch seconds"
        if len(segment) == 13 and abs(value / 1000 - now) < _EPOCH_WINDOW_SECONDS:
            return "epoch milliseconds"
    return None


def nondeterministic_segment(key: str, now: float, delimiter: str = ":") -> str | None:
    """Why `key` looks like a new key on every write, or None.

    A timestamp segment always counts. A UUID or long hex nonce counts only beside
    another id segment: `session:<uuid>` is an entity's own id, `user:42:<uuid>` is
    a fresh key for the same user each time.
    """
    iso = _ISO_IN_KEY.search(key)
    if iso:
        return f"ISO date segment '{iso.group(0)}'"
    segments = key.split(delimiter) if delimiter else [key]
    for segment in segments:
        kind = timestamp_kind(segment, now)
        if kind:
            return f"{kind} segment '{segment}'"
    ids = [s for s in segments if _NUMBER.match(s) or _UUID.match(s) or _HEX.match(s)]
    randoms = [s for s in ids if _UUID.match(s) or _HEX.match(s)]
    if randoms and len(ids) >= 2:
        return f"random segment '{randoms[-1]}' beside id '{ids[0]}'"
    return None
