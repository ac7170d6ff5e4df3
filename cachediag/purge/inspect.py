"""The reads a filtered purge makes of a batch of keys, in one pipelined round trip.

OBJECT IDLETIME goes first: TYPE, PTTL, OBJECT and MEMORY USAGE do not touch a key's
access time, but STRLEN and GETRANGE do, and would make every key look freshly used.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cachediag.clients.resp import KeyCommand, RedisClient, ReplyError, key_args
from cachediag.purge.filters import Inspection
from cachediag.purge.request import Filters
from cachediag.scan.redis import VALUE_HEAD_BYTES

_IDLE = KeyCommand.of(b"OBJECT", b"IDLETIME")
_TYPE = KeyCommand.of(b"TYPE")
_PTTL = KeyCommand.of(b"PTTL")
_MEMORY = KeyCommand.of(b"MEMORY", b"USAGE")
_STRLEN = KeyCommand.of(b"STRLEN")
_HEAD = KeyCommand.of(b"GETRANGE", after=(b"0", b"%d" % (VALUE_HEAD_BYTES - 1)))


def _int(reply: Any) -> int | None:
    return reply if isinstance(reply, int) else None


def inspect_keys(
    client: RedisClient,
    keys: Sequence[bytes],
    namespaces: Sequence[str],
    filters: Filters,
    memory: bool = True,
) -> list[Inspection]:
    """Each key's type, PTTL and memory, and what the filters need (idle time, value head)."""
    if not keys:
        return []
    args = key_args(list(keys))
    commands = [_IDLE] if filters.idle_above_s is not None else []
    commands += [_TYPE, _PTTL]
    if memory:
        commands.append(_MEMORY)
    if filters.reads_value:
        commands += [_STRLEN, _HEAD]
    client.send(b"".join(command.pack_many(args) for command in commands))
    replies = client.read_replies(len(commands) * len(keys))
    n = len(keys)
    columns = {command: replies[i * n : (i + 1) * n] for i, command in enumerate(commands)}
    none = [None] * n
    idles = columns.get(_IDLE, none)
    mems = columns.get(_MEMORY, none)
    lengths = columns.get(_STRLEN, none)
    heads = columns.get(_HEAD, none)
    found = []
    for i, key in enumerate(keys):
        kind = columns[_TYPE][i]
        kind = kind.decode() if isinstance(kind, bytes) else "none"
        if isinstance(columns[_TYPE][i], ReplyError):
            kind = "none"  # an ACL hides it: never deleted
        head = heads[i]
        pttl = _int(columns[_PTTL][i])
        found.append(
            Inspection(
                key=key,
                type=kind,
                pttl_ms=pttl if pttl is not None else -2,
                memory=_int(mems[i]),
                idle_s=_int(idles[i]),
                length=_int(lengths[i]),
                head=head if isinstance(head, bytes) else None,
                namespace=namespaces[i],
            )
        )
    return found


def memory_command(keys: Sequence[bytes]) -> bytes:
    """MEMORY USAGE of each key, packed (one reply each)."""
    return _MEMORY.pack_many(key_args(list(keys))) if keys else b""


def memory_usage(client: RedisClient, keys: Sequence[bytes]) -> list[int | None]:
    """MEMORY USAGE of each key (None: gone, or the command refused)."""
    if not keys:
        return []
    client.send(_MEMORY.pack_many(key_args(list(keys))))
    return [_int(reply) for reply in client.read_replies(len(keys))]


_DUMP = KeyCommand.of(b"DUMP")


def dump_commands(keys: Sequence[bytes]) -> bytes:
    """DUMP of each key, then PTTL of each (2 replies a key): what a backup keeps."""
    if not keys:
        return b""
    args = key_args(list(keys))
    return _DUMP.pack_many(args) + _PTTL.pack_many(args)


def dumps(client: RedisClient, keys: Sequence[bytes]) -> list[tuple[bytes, int, bytes]]:
    """(key, absolute expiry in ms or 0, DUMP payload) of each key still there: a backup."""
    if not keys:
        return []
    client.send(dump_commands(keys))
    return dump_records(keys, client.read_replies(2 * len(keys)))


def dump_records(keys: Sequence[bytes], replies: Sequence[Any]) -> list[tuple[bytes, int, bytes]]:
    """The records of `dump_commands`' replies: keys gone since SCAN have none."""
    import time

    now_ms = int(time.time() * 1000)
    records = []
    n = len(keys)
    for key, dump, pttl in zip(keys, replies[:n], replies[n:], strict=True):
        if not isinstance(dump, bytes):
            continue  # gone since SCAN: nothing to keep, nothing will be deleted
        expire_at = now_ms + pttl if isinstance(pttl, int) and pttl > 0 else 0
        records.append((key, expire_at, dump))
    return records
