"""The --backup file: what each key held (DUMP) and when it expires, before it was deleted.

A header line names the format, then one JSON line (the masked target, the time, the
request), then records: key length, absolute expiry in ms (0: none), payload length
(big-endian u32, u64, u32), the key, the DUMP payload. Binary and append-only, so a
million keys cost one write per batch and no encoding; `--restore` reads it back.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from typing import IO, Any

from cachediag.errors import UsageError

MAGIC = b"cachediag-purge-backup 1\n"
_RECORD = struct.Struct(">IQI")
RESTORE_BATCH = 500


class BackupWriter:
    def __init__(self, handle: IO[bytes], header: dict[str, Any]) -> None:
        self.handle = handle
        handle.write(MAGIC + json.dumps(header, sort_keys=True).encode() + b"\n")
        handle.flush()
        self.records = 0

    def write(self, records: list[tuple[bytes, int, bytes]]) -> None:
        pack = _RECORD.pack
        self.handle.write(b"".join(pack(len(k), at, len(d)) + k + d for k, at, d in records))
        # Flushed before the delete is sent: a crash after the delete must find the value.
        self.handle.flush()
        self.records += len(records)


def read_header(handle: IO[bytes], name: str) -> dict[str, Any]:
    if handle.read(len(MAGIC)) != MAGIC:
        raise UsageError(f"{name} is not a cachediag purge backup")
    try:
        header: dict[str, Any] = json.loads(handle.readline())
    except ValueError:
        raise UsageError(f"{name}: the backup's header is damaged") from None
    return header


def read_records(handle: IO[bytes], name: str) -> Iterator[list[tuple[bytes, int, bytes]]]:
    """The records after the header, RESTORE_BATCH at a time; a cut-off last record is an error."""
    batch: list[tuple[bytes, int, bytes]] = []
    size = _RECORD.size
    while True:
        fixed = handle.read(size)
        if not fixed:
            break
        if len(fixed) < size:
            raise UsageError(f"{name} ends inside a record: the backup was cut short")
        key_len, expire_at, dump_len = _RECORD.unpack(fixed)
        body = handle.read(key_len + dump_len)
        if len(body) < key_len + dump_len:
            raise UsageError(f"{name} ends inside a record: the backup was cut short")
        batch.append((body[:key_len], expire_at, body[key_len:]))
        if len(batch) >= RESTORE_BATCH:
            yield batch
            batch = []
    if batch:
        yield batch
