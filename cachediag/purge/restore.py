"""`purge --restore FILE`: RESTORE what a --backup file holds (REPLACE only when asked)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import IO, Any

from cachediag import writes
from cachediag.clients.resp import KeyCommand, RedisClient, key_args
from cachediag.purge.backup import read_records


@dataclass
class RestoreReport:
    mode: str = "dry-run"
    records: int = 0
    restored: int = 0
    already_present: int = 0
    expired: int = 0  # their expiry passed since the backup: not restored
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "records": self.records,
            "restored": self.restored,
            "already_present": self.already_present,
            "expired": self.expired,
            "failed": self.failed,
            "errors": self.errors,
            "elapsed_s": round(self.elapsed_s, 3),
        }


_EXISTS = KeyCommand.of(b"EXISTS")


def count_present(client: RedisClient, keys: list[bytes]) -> int:
    if not keys:
        return 0
    client.send(_EXISTS.pack_many(key_args(keys)))
    return sum(int(r) for r in client.read_replies(len(keys)) if isinstance(r, int))


def restore_redis(
    target: Any, timeout: float, handle: IO[bytes], name: str, replace: bool, apply: bool
) -> dict[str, Any]:
    report = RestoreReport(mode="restore" if apply else "dry-run")
    started = time.monotonic()
    with RedisClient(target, timeout).connect() as client:
        for batch in read_records(handle, name):
            report.records += len(batch)
            now_ms = int(time.time() * 1000)
            live = [(k, at, d) for k, at, d in batch if at == 0 or at > now_ms]
            report.expired += len(batch) - len(live)
            if not apply:
                report.already_present += count_present(client, [k for k, _, _ in live])
                continue
            tally = writes.apply_restores(client, live, replace)
            report.restored += tally.restored
            report.already_present += tally.present
            report.failed += tally.failed
            room = 5 - len(report.errors)
            report.errors.extend(tally.errors[:room])
    report.elapsed_s = time.monotonic() - started
    return {"restore": report.to_dict(), "error": None}
