"""What a purge found and did on one target: counts, bytes, namespaces, samples, the cursor."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cachediag.safety.textsafe import safe_text
from cachediag.writes import DeleteTally

SHOWN_NAMESPACES = 20


@dataclass
class PurgeReport:
    mode: str = "dry-run"  # dry-run or delete
    scanned: int = 0  # keys SCAN (or the crawler) returned
    duplicates: int = 0  # returned again: counted and deleted once
    matched: int = 0  # keys that qualified (pattern and filters)
    deleted: int = 0
    already_gone: int = 0  # matched, but gone by the time of the delete
    changed: int = 0  # rewritten between the read and the delete: left alone
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    not_found: int = 0  # named keys that did not exist
    bytes_measured: int = 0  # MEMORY USAGE (or item sizes) of the keys measured
    bytes_keys: int = 0  # how many keys were measured
    bytes_method: str = "sampled"  # sampled, measured (every key), crawler (item sizes)
    namespaces: Counter[str] = field(default_factory=Counter)
    samples: list[bytes] = field(default_factory=list)
    sample_limit: int = 10
    elapsed_s: float = 0.0
    paused_s: float = 0.0
    pauses: int = 0
    rate_wait_s: float = 0.0
    worst_round_trip_ms: float = 0.0
    stop_reason: str | None = None  # max-keys, interrupted, server-error
    cursor: int = 0  # where a resumed run starts the scan of `pattern_index`
    pattern_index: int = 0
    complete: bool = False
    backup: dict[str, Any] | None = None
    checkpoint: str | None = None
    still_present: int | None = None  # deleted keys found again on reading a sample back
    read_back: int = 0
    redirected: int = 0  # keys a cluster node redirected (slot moved), sent to the new owner
    unfinished_slots: set[int] = field(default_factory=set)  # slots that could not be finished

    def add_matched(self, keys: list[bytes], namespaces: list[str]) -> None:
        self.matched += len(keys)
        self.namespaces.update(namespaces)
        room = self.sample_limit - len(self.samples)
        if room > 0:
            self.samples.extend(keys[:room])

    def add_tally(self, tally: DeleteTally) -> None:
        self.deleted += tally.deleted
        self.already_gone += tally.gone
        self.changed += tally.changed
        self.failed += tally.failed
        if tally.error and len(self.errors) < 5:
            self.errors.append(tally.error)
        self.unfinished_slots |= tally.unfinished_slots

    def add_memory(self, sizes: Sequence[int | None]) -> None:
        known = [size for size in sizes if size is not None]
        self.bytes_measured += sum(known)
        self.bytes_keys += len(known)

    @property
    def bytes_estimated(self) -> int | None:
        """Memory of every matched key: measured, or a sample's average times the count."""
        if not self.bytes_keys:
            return None
        if self.bytes_method != "sampled":
            return self.bytes_measured
        return round(self.bytes_measured / self.bytes_keys * self.matched)

    def to_dict(self) -> dict[str, Any]:
        # Keys looked at per second: what bounds a filtered purge, and for an unfiltered
        # one (every scanned key deleted) its deletion rate.
        keys_per_s = self.scanned / self.elapsed_s if self.elapsed_s > 0 else None
        return {
            "mode": self.mode,
            "scanned": self.scanned,
            "duplicates": self.duplicates,
            "matched": self.matched,
            "deleted": self.deleted,
            "already_gone": self.already_gone,
            "changed": self.changed,
            "failed": self.failed,
            "errors": list(self.errors),
            "not_found": self.not_found,
            "bytes": {
                "estimated": self.bytes_estimated,
                "method": self.bytes_method,
                "measured_keys": self.bytes_keys,
            },
            "namespaces": [
                {"namespace": safe_text(name), "keys": count}
                for name, count in self.namespaces.most_common(SHOWN_NAMESPACES)
            ],
            "namespace_count": len(self.namespaces),
            "samples": [safe_text(key) for key in self.samples],
            "elapsed_s": round(self.elapsed_s, 3),
            "keys_per_s": round(keys_per_s) if keys_per_s is not None else None,
            "paused_s": round(self.paused_s, 3),
            "pauses": self.pauses,
            "rate_wait_s": round(self.rate_wait_s, 3),
            "worst_round_trip_ms": round(self.worst_round_trip_ms, 3),
            "stop_reason": self.stop_reason,
            "complete": self.complete,
            "cursor": str(self.cursor),
            "pattern_index": self.pattern_index,
            "backup": self.backup,
            "checkpoint": self.checkpoint,
            "read_back": {"checked": self.read_back, "still_present": self.still_present},
            "redirected": self.redirected,
            "unfinished_slots": sorted(self.unfinished_slots),
        }
