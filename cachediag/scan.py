"""The keyspace scanning engine: SCAN in bounded batches, each batch inspected in one round trip.

Never KEYS: SCAN with COUNT walks the keyspace incrementally, and every caller sets
a budget (keys), so a scan of a production server is bounded.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from cachediag.clients.resp import RedisClient, ReplyError

VALUE_HEAD_BYTES = 64


@dataclass
class KeyInfo:
    key: bytes
    type: str
    ttl_ms: int  # -1: no expiry, -2: gone
    memory: int | None  # MEMORY USAGE bytes, None when unavailable
    length: int | None  # string length (other types: None here)
    head: bytes | None  # first bytes of a string value

    def to_fact(self) -> dict[str, Any]:
        from cachediag.textsafe import safe_text

        return {
            "key": safe_text(self.key),
            "type": self.type,
            "ttl_ms": self.ttl_ms,
            "memory": self.memory,
            "length": self.length,
            "head_hex": self.head.hex() if self.head is not None else None,
        }


@dataclass
class SampleResult:
    keys: list[KeyInfo] = field(default_factory=list)
    scanned_batches: int = 0
    complete: bool = False  # the cursor came back to 0: the whole keyspace was seen
    memory_available: bool = True
    memory_reason: str | None = None


def iter_scan_batches(
    client: RedisClient, *, count: int = 1000, match: str | None = None, cursor: int = 0
) -> Iterator[tuple[int, list[bytes]]]:
    """Yield (next_cursor, keys) per SCAN call until the cursor returns to 0."""
    while True:
        args: list[Any] = ["SCAN", cursor, "COUNT", max(count, 100)]
        if match:
            args[2:2] = ["MATCH", match]
        reply = client.call(*args)
        if isinstance(reply, ReplyError):
            raise RuntimeError(f"SCAN failed: {reply.text}")
        cursor = int(reply[0])
        yield cursor, list(reply[1])
        if cursor == 0:
            return


def inspect_keys(client: RedisClient, keys: list[bytes]) -> tuple[list[KeyInfo], str | None]:
    """TYPE, PTTL, MEMORY USAGE, STRLEN and the first value bytes of `keys`, in one round trip.

    Returns the infos (keys deleted since SCAN are left out) and, when MEMORY USAGE
    was refused (managed services, ACLs), why.
    """
    commands: list[tuple[Any, ...]] = []
    for key in keys:
        commands += [
            ("TYPE", key),
            ("PTTL", key),
            ("MEMORY", "USAGE", key),
            ("STRLEN", key),
            ("GETRANGE", key, 0, VALUE_HEAD_BYTES - 1),
        ]
    replies = client.pipeline(commands)
    infos = []
    memory_reason = None
    for index, key in enumerate(keys):
        type_, pttl, memory, strlen, head = replies[index * 5 : index * 5 + 5]
        kind = type_.decode() if isinstance(type_, bytes) else "none"
        if kind == "none" or pttl == -2:
            continue  # deleted between SCAN and now: not an error
        if isinstance(memory, ReplyError):
            memory_reason = memory_reason or memory.text
            memory = None
        is_string = kind == "string"
        infos.append(
            KeyInfo(
                key=key,
                type=kind,
                ttl_ms=int(pttl) if isinstance(pttl, int) else -1,
                memory=int(memory) if isinstance(memory, int) else None,
                length=int(strlen) if is_string and isinstance(strlen, int) else None,
                head=head if is_string and isinstance(head, bytes) else None,
            )
        )
    return infos, memory_reason


def scan_sample(
    client: RedisClient, *, max_keys: int = 1000, count: int = 1000, match: str | None = None
) -> SampleResult:
    """A bounded sample: the first `max_keys` keys SCAN returns, each inspected."""
    result = SampleResult()
    for cursor, keys in iter_scan_batches(client, count=count, match=match):
        result.scanned_batches += 1
        room = max_keys - len(result.keys)
        infos, memory_reason = inspect_keys(client, keys[:room])
        result.keys += infos
        if memory_reason:
            result.memory_available = False
            result.memory_reason = memory_reason
        if cursor == 0:
            result.complete = len(keys) <= room
            break
        if len(result.keys) >= max_keys:
            break
    return result
