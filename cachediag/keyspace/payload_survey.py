"""The full decode of a sample's cache-kit entries, per namespace, where a layout is configured.

The sample reads the first 64 bytes of each value: enough for the header, not for the
payload. A value that fits in those bytes is decoded from them; a bigger one is queued
and read whole afterwards (bounded: WHOLE_VALUE_LIMIT per value, MAX_WHOLE_READS and
MAX_WHOLE_BYTES per run), and every such read is counted: it is one more keyspace hit
on the server. Pure bookkeeping; the reading is done by whoever holds the connection.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cachediag.keyspace import entities as ent
from cachediag.keyspace.entities import Entities, Entity
from cachediag.safety.textsafe import safe_text

EXAMPLES = 20  # failing keys kept per namespace

ValueReader = Callable[[list[bytes]], dict[bytes, bytes]]


@dataclass
class _Row:
    entity: str
    states: Counter[str] = field(default_factory=Counter)
    examples: list[dict[str, Any]] = field(default_factory=list)  # broken first, then trailing


@dataclass
class PayloadSurvey:
    entities: Entities
    limit: int = ent.WHOLE_VALUE_LIMIT
    max_reads: int = ent.MAX_WHOLE_READS
    max_bytes: int = ent.MAX_WHOLE_BYTES
    examples: int = EXAMPLES
    delimiter: str = ":"
    rows: dict[str, _Row] = field(default_factory=dict)
    pending: list[tuple[bytes, str, Entity]] = field(default_factory=list)
    pending_bytes: int = 0
    reads: int = 0  # values read whole for this survey (each one a lookup on the server)
    read_error: str | None = None

    def add(
        self,
        key: bytes,
        namespace: str,
        head: bytes,
        total_len: int | None,
        value: bytes | None = None,
    ) -> None:
        """One sampled entry whose header is valid. `value`: the whole value, when at hand."""
        entity = self.entities.match(
            key.decode("utf-8", "surrogateescape"), namespace, self.delimiter
        )
        if entity is None:
            return
        if value is None and total_len is not None and len(head) >= total_len:
            value = head  # the head is the whole value
        if value is not None:
            self._record(key, namespace, entity, ent.decode_entry(entity, value))
            return
        if total_len is None or total_len >= self.limit:
            size = "unknown size" if total_len is None else f"{total_len:,} bytes"
            why = f"value of {size}: not under the {self.limit // 1024} KiB read bound"
            self._record(key, namespace, entity, ent.not_read(entity, why))
            return
        if len(self.pending) >= self.max_reads or self.pending_bytes + total_len > self.max_bytes:
            why = f"over this run's budget of {self.max_reads:,} whole-value reads"
            self._record(key, namespace, entity, ent.not_read(entity, why))
            return
        self.pending.append((key, namespace, entity))
        self.pending_bytes += total_len

    def read_pending(self, reader: ValueReader, batch: int = 100) -> None:
        """Read the queued values whole through `reader` and decode them.

        A value that is gone or no longer fits the bound is left out: it is not the
        value that was sampled. A reader that fails (a ProbeError) leaves the rest
        unread, with the reason kept.
        """
        from cachediag.errors import ProbeError

        queued, self.pending = self.pending, []
        for start in range(0, len(queued), batch):
            chunk = queued[start : start + batch]
            try:
                values = reader([key for key, _, _ in chunk])
            except ProbeError as error:
                self.read_error = error.message
                for key, namespace, entity in queued[start:]:
                    why = f"could not be read whole: {error.message}"
                    self._record(key, namespace, entity, ent.not_read(entity, why))
                return
            self.reads += len(chunk)
            for key, namespace, entity in chunk:
                value = values.get(key)
                if value is None or len(value) >= self.limit:
                    why = "gone, or grown past the read bound, since it was sampled"
                    self._record(key, namespace, entity, ent.not_read(entity, why))
                else:
                    self._record(key, namespace, entity, ent.decode_entry(entity, value))

    def skip_pending(self, why: str) -> None:
        """Leave the queued values unread (the scan was interrupted, say), with the reason."""
        queued, self.pending = self.pending, []
        for key, namespace, entity in queued:
            self._record(key, namespace, entity, ent.not_read(entity, why))

    def _record(self, key: bytes, namespace: str, entity: Entity, outcome: dict[str, Any]) -> None:
        row = self.rows.get(namespace)
        if row is None:
            row = self.rows[namespace] = _Row(entity.name)
        state = outcome["state"]
        row.states[state] += 1
        if state in (ent.BROKEN, ent.TRAILING) and len(row.examples) < self.examples:
            row.examples.append({"key": safe_text(key), **outcome})

    def empty_like(self) -> PayloadSurvey:
        """A survey with the same layouts and bounds, nothing in it yet."""
        return PayloadSurvey(
            self.entities, self.limit, self.max_reads, self.max_bytes, self.examples, self.delimiter
        )

    def merge(self, other: PayloadSurvey, node: str) -> None:
        """Add what `other` decoded on `node` (a cluster's primary, its values read there):
        states summed per namespace, its failing keys each named by `node`."""
        for namespace, theirs in other.rows.items():
            row = self.rows.get(namespace)
            if row is None:
                row = self.rows[namespace] = _Row(theirs.entity)
            row.states.update(theirs.states)
            room = max(0, self.examples - len(row.examples))
            row.examples += [{**example, "node": node} for example in theirs.examples[:room]]
        self.reads += other.reads
        self.read_error = self.read_error or other.read_error

    # -- what the survey reports ------------------------------------------------------
    def broken(self, namespace: str) -> int:
        row = self.rows.get(namespace)
        return row.states[ent.BROKEN] if row else 0

    def namespace_dict(self, namespace: str) -> dict[str, Any] | None:
        row = self.rows.get(namespace)
        if row is None:
            return None
        return {
            "entity": row.entity,
            "decoded": row.states[ent.OK] + row.states[ent.TRAILING],
            "broken": row.states[ent.BROKEN],
            "trailing": row.states[ent.TRAILING],
            "no_layout": row.states[ent.NO_LAYOUT],
            "not_read": row.states[ent.NOT_READ],
        }

    def failures(self, namespace: str) -> list[dict[str, Any]]:
        row = self.rows.get(namespace)
        return list(row.examples) if row else []

    def to_dict(self) -> dict[str, Any]:
        totals: Counter[str] = Counter()
        for row in self.rows.values():
            totals.update(row.states)
        return {
            "entities": self.entities.describe(),
            "values_read_whole": self.reads,
            "read_bound_bytes": self.limit,
            "read_error": self.read_error,
            "decoded": totals[ent.OK] + totals[ent.TRAILING],
            "broken": totals[ent.BROKEN],
            "trailing": totals[ent.TRAILING],
            "no_layout": totals[ent.NO_LAYOUT],
            "not_read": totals[ent.NOT_READ],
        }


def survey_for(entities: Entities | None, delimiter: str = ":") -> PayloadSurvey | None:
    """A payload survey when layouts are configured; None keeps the header-only behaviour."""
    return PayloadSurvey(entities, delimiter=delimiter) if entities else None


def read_whole(survey: PayloadSurvey | None, reader: ValueReader, stop_reason: str | None) -> None:
    """After a scan: read the queued values whole, unless the user interrupted it."""
    if survey is None:
        return
    if stop_reason == "interrupted":
        survey.skip_pending("not read: the scan was interrupted")
        return
    survey.read_pending(reader)
