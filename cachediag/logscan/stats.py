"""Per-category aggregates of one scanned range, and how ranges are merged.

Everything here is bounded: at most `MAX_SAMPLES` samples, `MAX_MINUTES` histogram minutes
(the most recent ones are kept; the rest is counted in `hist_dropped`) and `KeyCounter`'s
cap on distinct keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cachediag.logscan.keys import KeyCounter, TopCounter
from cachediag.logscan.patterns import CATEGORIES
from cachediag.safety.redact import sample_text

MAX_SAMPLES = 5
MAX_MINUTES = 1440


@dataclass
class Sample:
    order: tuple[int, int]  # (source index, byte offset of the line)
    ts: float | None
    raw: bytes  # the line as read (`redact.sample_bytes`), redacted only when shown

    @property
    def text(self) -> str:
        """The line redacted, escaped and length-limited: what may be shown."""
        return sample_text(self.raw)


@dataclass
class CatStats:
    count: int = 0
    first: float | None = None
    last: float | None = None
    hist: dict[int, int] = field(default_factory=dict)
    hist_dropped: int = 0
    untimed: int = 0
    samples: list[Sample] = field(default_factory=list)
    keys: TopCounter | None = None

    def add(self, ts: float | None, n: int = 1) -> None:
        self.count += n
        if ts is None:
            return
        if self.first is None or ts < self.first:
            self.first = ts
        if self.last is None or ts > self.last:
            self.last = ts
        minute = int(ts // 60) * 60
        hist = self.hist
        if minute in hist:
            hist[minute] += n
        else:
            hist[minute] = n
            if len(hist) > 2 * MAX_MINUTES:
                self.cap_hist()

    def add_bulk(self, ts: float | None, n: int) -> None:
        """n events in the minute of ts; first/last are set apart (`extend_span`)."""
        self.count += n
        if ts is None:
            return
        minute = int(ts // 60) * 60
        self.hist[minute] = self.hist.get(minute, 0) + n
        if len(self.hist) > 2 * MAX_MINUTES:
            self.cap_hist()

    def extend_span(self, ts: float) -> None:
        if self.first is None or ts < self.first:
            self.first = ts
        if self.last is None or ts > self.last:
            self.last = ts

    def cap_hist(self) -> None:
        if len(self.hist) <= MAX_MINUTES:
            return
        minutes = sorted(self.hist)
        for minute in minutes[:-MAX_MINUTES]:
            self.hist_dropped += self.hist.pop(minute)

    def merge(self, other: CatStats) -> None:
        self.count += other.count
        self.untimed += other.untimed
        self.hist_dropped += other.hist_dropped
        for ts in (other.first, other.last):
            if ts is not None:
                if self.first is None or ts < self.first:
                    self.first = ts
                if self.last is None or ts > self.last:
                    self.last = ts
        for minute, n in other.hist.items():
            self.hist[minute] = self.hist.get(minute, 0) + n
        self.cap_hist()
        if other.samples:
            self.samples = sorted(self.samples + other.samples, key=lambda s: s.order)[:MAX_SAMPLES]
        if other.keys is not None:
            if self.keys is None:
                self.keys = TopCounter(other.keys.max_keys)
            self.keys.merge(other.keys)


def _new_cats() -> dict[str, CatStats]:
    return {c.name: CatStats(keys=TopCounter() if c.keys else None) for c in CATEGORIES}


@dataclass
class Aggregate:
    """Everything counted in one range (or, for `lead`, before its first timestamp)."""

    cats: dict[str, CatStats] = field(default_factory=_new_cats)
    keys: KeyCounter = field(default_factory=KeyCounter)
    backend_errors: int = 0
    with_fallback: int = 0

    def is_empty(self) -> bool:
        return self.backend_errors == 0 and all(c.count == 0 for c in self.cats.values())

    def merge(self, other: Aggregate) -> None:
        for name, stats in other.cats.items():
            self.cats[name].merge(stats)
        self.keys.merge(other.keys)
        self.backend_errors += other.backend_errors
        self.with_fallback += other.with_fallback

    def resolve_into(
        self, target: Aggregate, ts: float | None, since: float | None, until: float | None
    ) -> None:
        """Add this lead aggregate (lines before the range's first timestamp) to `target`.

        `ts` is the timestamp those lines inherit (the last one before the range), None when
        there is none: then they count as untimed, and only when no time filter is set.
        """
        if ts is None:
            if since is not None or until is not None:
                return
        elif (since is not None and ts < since) or (until is not None and ts > until):
            return
        for name, stats in self.cats.items():
            if stats.count == 0:
                continue
            resolved = CatStats(
                keys=stats.keys, samples=[Sample(s.order, ts, s.raw) for s in stats.samples]
            )
            resolved.add(ts, stats.count)
            if ts is None:
                resolved.untimed = stats.count
            target.cats[name].merge(resolved)
        target.keys.merge(self.keys)
        target.backend_errors += self.backend_errors
        target.with_fallback += self.with_fallback


@dataclass
class RangeResult:
    timed: Aggregate
    lead: Aggregate
    last_ts: float | None
    bytes: int
    chunks: int
