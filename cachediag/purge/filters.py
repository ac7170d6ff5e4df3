"""Which inspected keys a purge's filters let through, and what their guarded delete compares.

Pure: a key's inspection in, a verdict out. The decision is made on what was read; the
delete is then conditional on the key still holding it (cachediag.writes' guarded delete),
so a key rewritten in between is left alone and counted as changed.
"""

from __future__ import annotations

from dataclasses import dataclass

from cachediag.keyspace.envelope import VALID, decode
from cachediag.purge.request import Filters
from cachediag.writes import Expectation


@dataclass(frozen=True)
class Inspection:
    """What the purge read of one key (None: not read, or not applicable to its type)."""

    key: bytes
    type: str
    pttl_ms: int  # -1 no expiry, -2 gone
    memory: int | None = None
    idle_s: int | None = None
    length: int | None = None  # STRLEN, when a value filter read it
    head: bytes | None = None  # the value's first bytes, when a value filter read them
    namespace: str = ""

    @property
    def gone(self) -> bool:
        return self.type == "none" or self.pttl_ms == -2


def qualifies(filters: Filters, info: Inspection) -> bool:
    if info.gone:
        return False
    if filters.type is not None and info.type != filters.type:
        return False
    if filters.no_ttl and info.pttl_ms != -1:
        return False
    if filters.ttl_above_s is not None and (
        info.pttl_ms < 0 or info.pttl_ms <= filters.ttl_above_s * 1000
    ):
        return False
    if filters.idle_above_s is not None and (
        info.idle_s is None or info.idle_s <= filters.idle_above_s
    ):
        return False
    if filters.reads_value:
        if info.type != "string" or info.head is None:
            return False
        envelope = decode(info.head, info.length)
        if filters.invalid:
            return envelope.state != VALID
        if envelope.state != VALID or envelope.version is None:
            return False
        if filters.schema_version is not None:
            return envelope.version == filters.schema_version
        if filters.schema_below is not None:
            return envelope.version < filters.schema_below
    return True


def expectation(filters: Filters, info: Inspection) -> Expectation:
    """What the guarded delete of a qualifying key checks before it removes it."""
    ttl_rule = ""
    if filters.no_ttl:
        ttl_rule = "none"
    elif filters.ttl_above_s is not None:
        ttl_rule = f"above:{int(filters.ttl_above_s * 1000)}"
    idle = None
    if filters.idle_above_s is not None and not filters.reads_value:
        # Reading a value (STRLEN, GETRANGE) resets the idle time: after such a read only
        # the idle time read before it counts, and the script cannot check it again.
        idle = filters.idle_above_s + 1
    return Expectation(
        type=info.type,
        length=info.length if filters.reads_value else None,
        head=info.head if filters.reads_value else None,
        ttl_rule=ttl_rule,
        idle_at_least_s=idle,
    )
