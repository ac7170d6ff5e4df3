"""One classification of a cached value, the same in `inspect KEY`, the sample and `check`.

    valid           the header is valid (magic b"CKIT", a u32 schema version, a payload),
                    and, where an entity layout is configured and the value was read
                    whole, every field of the payload decodes
    undecodable     the magic is there, but the version or the payload is broken
    invalid_magic   no magic, in a namespace where cache-kit entries live (or a header
                    one byte off the magic): a cache-kit entry whose header is damaged
    not_cache_kit   no magic, in a namespace holding no cache-kit entry at all

A value without the magic is judged by its namespace, not alone: `user:12` holding
`garbage` is a corrupt cache-kit entry when `user:*` holds cache-kit entries, and
someone else's data when nothing in its namespace is cache-kit's.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from cachediag.keyspace.envelope import MAGIC, NO_ENVELOPE, Envelope
from cachediag.keyspace.envelope import UNDECODABLE as HEADER_BROKEN

VALID = "valid"
INVALID_MAGIC = "invalid_magic"
UNDECODABLE = "undecodable"
NOT_CACHE_KIT = "not_cache_kit"
CLASSES = (VALID, INVALID_MAGIC, UNDECODABLE, NOT_CACHE_KIT)


def near_magic(head: bytes) -> bool:
    """Three of the four magic bytes in place: a damaged header, not another format."""
    if len(head) < len(MAGIC) or head.startswith(MAGIC):
        return False
    return sum(a == b for a, b in zip(head[: len(MAGIC)], MAGIC, strict=True)) == len(MAGIC) - 1


def holds_cache_kit(envelopes: Iterable[Envelope]) -> bool:
    """Whether a namespace holds cache-kit entries: one value carrying the magic is enough."""
    return any(env.carries_magic for env in envelopes)


def classify(
    decoded: Envelope,
    near: bool,
    namespace_has_cache_kit: bool,
    payload: dict[str, Any] | None = None,
) -> str:
    """The class of one value, given its header, whether its namespace holds cache-kit
    entries, and the outcome of its full decode when one was made (keyspace.entities)."""
    if decoded.state == NO_ENVELOPE:
        return INVALID_MAGIC if namespace_has_cache_kit or near else NOT_CACHE_KIT
    if decoded.state == HEADER_BROKEN:
        return UNDECODABLE
    if payload is not None and payload.get("state") == "broken":
        return UNDECODABLE
    return VALID
