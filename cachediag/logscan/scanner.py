"""The chunk scanner: every category of every line, without a Python loop over lines.

A range of a log is read in chunks of `CHUNK_SIZE` bytes cut at the last newline. For each
chunk:

1. The chunk is lowercased once (`bytes.lower`, C speed) and every category anchor is looked
   up over the whole chunk (`fastfind`, libc `strstr`: tens of GB/s). Only lines holding an
   anchor are ever looked at in Python.
2. Those candidate lines are classified exactly (`Category.matches`), timestamped (their
   own timestamp or the last one seen before them), filtered by --since/--until, counted,
   sampled and searched for keys.
3. Bulk categories (hits, misses, fallbacks) that are too many in a chunk for (2) are counted
   with `bytes.count` per minute: the chunk is cut at minute boundaries (and at the
   --since/--until instants) by bisecting on line timestamps, which assumes time-ordered
   lines, as log files are.

Memory is bounded by the chunk size and the caps in `stats` and `keys`, whatever the size
of the input. Ranges of one big file can be scanned in parallel processes; lines before a
range's first timestamp are kept apart (`RangeResult.lead`) until the merge knows which
timestamp they inherit.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterable

from cachediag.logscan.fastfind import Haystack
from cachediag.logscan.keys import extract_keys
from cachediag.logscan.patterns import (
    BACKEND_ERROR_CATEGORIES,
    BULK_COUNTER,
    CATEGORIES,
    FALLBACK_ANCHORS,
    NEAR_LINES,
    NEAR_SECONDS,
    NEAR_WINDOW,
    Category,
)
from cachediag.logscan.redact import sample_text
from cachediag.logscan.stats import Aggregate, RangeResult, Sample
from cachediag.logscan.timestamps import line_timestamp

CHUNK_SIZE = 2 << 20
MAX_LINE = 16 << 20  # a "line" longer than this is cut (memory bound)
BULK_LIMIT = 48  # more occurrences than this of a bulk anchor in a chunk: no per-line work
ENUM_BYTES_PER_HIT = 1200  # denser than this: `bytes.count` beats listing offsets with strstr
MAX_SEGMENTS = 64  # more minutes than this in a chunk: per-line work after all
PROBE_LINES = 64  # lines looked at when searching a timestamp backwards or forwards
LINEAR_BYTES = 4096

_NL = b"\n"
_BACKEND = frozenset(BACKEND_ERROR_CATEGORIES)
_ORDER = {c: i for i, c in enumerate(CATEGORIES)}
_PENDING = -1


class RangeScanner:
    """Scans consecutive chunks of one range of one source."""

    def __init__(self, source_index: int, since: float | None = None, until: float | None = None) -> None:
        self.source_index = source_index
        self.since = since
        self.until = until
        self.filtering = since is not None or until is not None
        self.timed = Aggregate()
        self.lead = Aggregate()  # lines before the first timestamp of the range
        self.carry_ts: float | None = None  # timestamp inherited by the next chunk's first lines
        self.prev_fallback: tuple[int, float | None] | None = None  # (newlines to chunk end, ts)
        self.pending: list[tuple[int, float | None, Aggregate]] = []
        self.bytes = 0
        self.chunks = 0

    # -- public -----------------------------------------------------------------------

    def set_pre_context(self, tail: bytes) -> None:
        """Bytes just before the range (another process scans them): fallback proximity."""
        low = tail.lower()
        q = max(low.rfind(a) for a in FALLBACK_ANCHORS)
        if q >= 0:
            self.prev_fallback = (low.count(_NL, q), _own_ts(low, q))

    def feed(self, buf: bytes, cut: int, base: int) -> None:
        """Scan buf[:cut] (whole lines); buf[cut:] may hold the start of the next line."""
        if cut <= 0:
            return
        hay = Haystack(buf.lower(), cut)
        low = hay.data
        self.bytes += cut
        self.chunks += 1

        # 1. Where every anchor is (complete lists), or that a bulk anchor is too frequent.
        positions: dict[bytes, list[int]] = {}
        counted: list[Category] = []  # bulk, counted per minute by C calls
        enumerated: list[Category] = []  # bulk, counted per minute from known offsets
        enum_limit = max(BULK_LIMIT, cut // ENUM_BYTES_PER_HIT)
        deferred: list[Category] = []  # searched for only if BULK_COUNTER saw them
        for cat in CATEGORIES:
            if not cat.bulk:
                if cat.detect_group:
                    deferred.append(cat)
                    continue
                for anchor in cat.anchors:
                    positions[anchor] = hay.find_all(anchor)[0]
                continue
            mode = "lines"
            for anchor in cat.anchors:
                found, done = hay.find_all(anchor, BULK_LIMIT)
                if not done:
                    # Finish the list only if the density seen so far says it is worth it.
                    span = max(1, found[-1] - found[0])
                    if len(found) * cut // span <= enum_limit:
                        found, done = hay.find_all(anchor, enum_limit, found[-1] + 1, found)
                if not done:
                    mode = "counted"
                    break
                positions[anchor] = found
                if len(found) > BULK_LIMIT:
                    mode = "enumerated"
            if mode == "counted":
                counted.append(cat)
            elif mode == "enumerated":
                enumerated.append(cat)
        if any(c.bulk_group for c in counted):  # one regex pass counts all of them
            counted += [c for c in CATEGORIES if c.bulk_group and c not in counted]
            enumerated = [c for c in enumerated if not c.bulk_group]

        segments: list[tuple[int, int, float | None]] | None = None
        if counted or enumerated:
            segments = self._segments(low, cut)
            if segments is None:  # too many minutes in this chunk to count per minute
                for cat in counted + enumerated:
                    for anchor in cat.anchors:
                        positions[anchor] = hay.find_all(anchor)[0]
                counted, enumerated = [], []
        bulk = counted + enumerated
        per_line = [c for c in CATEGORIES if c not in bulk]

        groups: list[list[bytes]] | None = None
        if segments is not None and any(c.bulk_group for c in counted):
            groups = [BULK_COUNTER.findall(low, a, b) for a, b, _t in segments]
        for cat in deferred:
            if groups is None or any(cat.detect_group in g for g in groups):
                for anchor in cat.anchors:
                    positions[anchor] = hay.find_all(anchor)[0]
            else:
                for anchor in cat.anchors:
                    positions[anchor] = []

        fb_positions: list[int] | None = None
        if all(a in positions for a in FALLBACK_ANCHORS):
            fb_positions = sorted(p for a in FALLBACK_ANCHORS for p in positions[a])
        self._resolve_pending(low, cut, fb_positions)

        # 2. Candidate lines, each looked at once, against the categories found in it.
        found_in: dict[int, list[Category]] = {}
        rfind = low.rfind
        for cat in per_line:
            for anchor in cat.anchors:
                for p in positions[anchor]:
                    s = rfind(_NL, 0, p) + 1
                    cats = found_in.get(s)
                    if cats is None:
                        found_in[s] = [cat]
                    elif cat not in cats:
                        cats.append(cat)
        memo_pos, memo_ts = -1, self.carry_ts
        for s in sorted(found_in):
            e = low.find(_NL, s, cut)
            if e < 0:
                e = cut
            line = low[s:e]
            matched = [c for c in found_in[s] if c.verified(line)]
            if not matched:
                continue
            if len(matched) > 1:
                matched.sort(key=_ORDER.__getitem__)
            ts = line_timestamp(low, s, e)
            if ts is None:
                ts = self._inherited(low, s, memo_pos, memo_ts)
            memo_pos, memo_ts = s, ts
            self._record(matched, ts, buf, low, s, e, base, cut, fb_positions)

        # 3. Bulk categories, per minute.
        if bulk and segments is not None:
            self._count_bulk(buf, low, cut, base, counted, enumerated, segments, positions, groups)

        last = _last_ts_line(low, cut)[1]
        if last is not None:
            self.carry_ts = last
        elif memo_ts is not None and (self.carry_ts is None or memo_ts > self.carry_ts):
            self.carry_ts = memo_ts
        self._remember_last_fallback(low, cut, fb_positions)

    def finish(self, post_context: bytes | None = None) -> RangeResult:
        """Resolve what waits for the next chunk (with the bytes after the range, if any)."""
        if self.pending:
            if post_context:
                low = post_context.lower()
                self._resolve_pending(low, len(low), None)
            self.pending = []
        return RangeResult(self.timed, self.lead, self.carry_ts, self.bytes, self.chunks)

    # -- per line ---------------------------------------------------------------------

    def _in_range(self, ts: float) -> bool:
        return (self.since is None or ts >= self.since) and (self.until is None or ts <= self.until)

    def _record(
        self,
        matched: list[Category],
        ts: float | None,
        buf: bytes,
        low: bytes,
        s: int,
        e: int,
        base: int,
        cut: int,
        fb_positions: list[int] | None,
    ) -> None:
        if ts is None:
            agg = self.lead
        elif self.filtering and not self._in_range(ts):
            return
        else:
            agg = self.timed
        want_keys = False
        backend = False
        for cat in matched:
            stats = agg.cats[cat.name]
            stats.add(ts)
            if len(stats.samples) < 5:
                stats.samples.append(Sample((self.source_index, base + s), ts, sample_text(buf[s:e])))
            want_keys = want_keys or cat.keys
            backend = backend or cat.name in _BACKEND
        if want_keys:
            keys = extract_keys(buf[s:e])
            if keys:
                for key in keys:
                    agg.keys.add(key)
                for cat in matched:
                    counter = agg.cats[cat.name].keys
                    if counter is not None:
                        for key in keys:
                            counter.add(key)
        if backend:
            agg.backend_errors += 1
            near = self._near_fallback(low, s, e, ts, cut, fb_positions)
            if near == _PENDING:
                self.pending.append((low.count(_NL, e, cut), ts, agg))
            elif near:
                agg.with_fallback += 1

    def _inherited(self, low: bytes, s: int, memo_pos: int, memo_ts: float | None) -> float | None:
        """Timestamp of the last timestamped line before the line at s (none of its own)."""
        p = s
        for _ in range(PROBE_LINES):
            if p <= 0:
                return memo_ts
            q = low.rfind(_NL, 0, p - 1) + 1
            if q <= memo_pos:
                return memo_ts
            t = line_timestamp(low, q, p - 1)
            if t is not None:
                return t
            p = q
        return memo_ts

    # -- fallback near backend errors ---------------------------------------------------

    def _near_fallback(
        self, low: bytes, s: int, e: int, ts: float | None, cut: int, fb_positions: list[int] | None
    ) -> int:
        """1 if a fallback line is within NEAR_LINES lines or NEAR_SECONDS of this one, 0 if
        not, _PENDING if only the next chunk can tell."""
        line = low[s:e]
        if any(a in line for a in FALLBACK_ANCHORS):
            return 1
        # before
        if fb_positions is not None:
            i = bisect_left(fb_positions, s)
            q = fb_positions[i - 1] if i else -1
        else:
            q = max(low.rfind(a, max(0, s - NEAR_WINDOW), s) for a in FALLBACK_ANCHORS)
        if q >= 0:
            if s - q <= NEAR_WINDOW and (
                low.count(_NL, q, s) <= NEAR_LINES or _close(ts, _own_ts(low, q))
            ):
                return 1
        elif self.prev_fallback is not None and s <= NEAR_WINDOW:
            lines, fts = self.prev_fallback
            if lines + low.count(_NL, 0, s) <= NEAR_LINES or _close(ts, fts):
                return 1
        # after
        if fb_positions is not None:
            i = bisect_left(fb_positions, e)
            r = fb_positions[i] if i < len(fb_positions) else -1
        else:
            found = [x for x in (low.find(a, e, min(cut, e + NEAR_WINDOW)) for a in FALLBACK_ANCHORS) if x >= 0]
            r = min(found) if found else -1
        if r >= 0 and r - e <= NEAR_WINDOW:
            return int(low.count(_NL, e, r) <= NEAR_LINES or _close(ts, _own_ts(low, r)))
        if r < 0 and cut - e <= NEAR_WINDOW:
            return _PENDING
        return 0

    def _resolve_pending(self, low: bytes, cut: int, fb_positions: list[int] | None) -> None:
        if not self.pending:
            return
        if fb_positions is not None:
            first = fb_positions[0] if fb_positions else -1
        else:
            found = [x for x in (low.find(a, 0, min(cut, NEAR_WINDOW)) for a in FALLBACK_ANCHORS) if x >= 0]
            first = min(found) if found else -1
        if 0 <= first <= NEAR_WINDOW:
            before = low.count(_NL, 0, first)
            fts = _own_ts(low, first)
            for lines, ts, agg in self.pending:
                if lines + before <= NEAR_LINES or _close(ts, fts):
                    agg.with_fallback += 1
        self.pending = []

    def _remember_last_fallback(self, low: bytes, cut: int, fb_positions: list[int] | None) -> None:
        if fb_positions is not None:
            q = fb_positions[-1] if fb_positions else -1
        else:
            q = max(low.rfind(a, max(0, cut - NEAR_WINDOW), cut) for a in FALLBACK_ANCHORS)
        if q >= 0 and cut - q <= NEAR_WINDOW:
            self.prev_fallback = (low.count(_NL, q, cut), _own_ts(low, q))
        elif cut > NEAR_WINDOW or q >= 0:
            self.prev_fallback = None

    # -- bulk categories ----------------------------------------------------------------

    def _next_cut(self, t: float) -> float:
        nxt = (math.floor(t / 60) + 1) * 60.0
        if self.since is not None and t < self.since < nxt:
            nxt = self.since
        if self.until is not None:
            after = math.nextafter(self.until, math.inf)
            if t < after < nxt:
                nxt = after
        return nxt

    def _segments(self, low: bytes, cut: int) -> list[tuple[int, int, float | None]] | None:
        """The chunk cut where the minute (or the --since/--until side) changes."""
        first, tfirst = _next_ts_line(low, 0, cut)
        if tfirst is None:
            return [(0, cut, self.carry_ts)]
        segments: list[tuple[int, int, float | None]] = []
        if first > 0:
            segments.append((0, first, self.carry_ts))
        tlast = _last_ts_line(low, cut)[1]
        if tlast is None:
            tlast = tfirst
        cur, tcur = first, tfirst
        while True:
            boundary = self._next_cut(tcur)
            if boundary > tlast:
                break
            p, tp = _first_at_or_after(low, boundary, cur, cut)
            if tp is None:
                break
            segments.append((cur, p, tcur))
            if len(segments) > MAX_SEGMENTS:
                return None
            cur, tcur = p, tp
        segments.append((cur, cut, tcur))
        return segments

    def _count_bulk(
        self,
        buf: bytes,
        low: bytes,
        cut: int,
        base: int,
        counted: list[Category],
        enumerated: list[Category],
        segments: list[tuple[int, int, float | None]],
        positions: dict[bytes, list[int]],
        groups: list[list[bytes]] | None,
    ) -> None:
        keep = [
            i for i, seg in enumerate(segments) if seg[2] is None or not self.filtering or self._in_range(seg[2])
        ]
        if not keep:
            return
        included = [segments[i] for i in keep]
        per_segment: dict[str, list[int]] = {}
        offsets_of: dict[str, list[int]] = {}
        for cat in enumerated:
            offsets = sorted(p for anchor in cat.anchors for p in positions[anchor])
            if cat.exclude:
                offsets = [p for p in offsets if not any(low.startswith(x, p) for x in cat.exclude)]
            offsets_of[cat.name] = offsets
            per_segment[cat.name] = [bisect_left(offsets, b) - bisect_left(offsets, a) for a, b, _t in included]
        regex = [c for c in counted if c.bulk_group]
        if regex and groups is not None:
            for cat in regex:
                per_segment[cat.name] = [groups[i].count(cat.bulk_group) for i in keep]
        for cat in counted:
            if cat.bulk_group:
                continue
            counts = []
            for a, b, _t in included:
                n = sum(low.count(anchor, a, b) for anchor in cat.anchors)
                n -= sum(low.count(x, a, b) for x in cat.exclude)
                counts.append(n)
            per_segment[cat.name] = counts
        for cat in counted + enumerated:
            counts = per_segment[cat.name]
            hits = [(seg, n) for seg, n in zip(included, counts) if n > 0]
            if not hits:
                continue
            for (_a, _b, ts), n in hits:
                (self.timed if ts is not None else self.lead).cats[cat.name].add_bulk(ts, n)
            timed_hits = [seg for seg, _n in hits if seg[2] is not None]
            if timed_hits:
                # first and last occurrence counted here, by their own timestamps
                stats = self.timed.cats[cat.name]
                offsets = offsets_of.get(cat.name)
                a, b, ts = timed_hits[0]
                if offsets is not None:
                    p: int | None = offsets[bisect_left(offsets, a)]
                else:
                    p = _first_match(low, cat, a, b)
                if p is not None and ts is not None:
                    stats.extend_span(_own_ts(low, p) or ts)
                a, b, ts = timed_hits[-1]
                if offsets is not None:
                    p = offsets[bisect_left(offsets, b) - 1]
                else:
                    p = _last_match(low, cat, a, b)
                if p is not None and ts is not None:
                    stats.extend_span(_own_ts(low, p) or ts)
            self._bulk_samples(cat, buf, low, base, [seg for seg, _n in hits])

    def _bulk_samples(
        self,
        cat: Category,
        buf: bytes,
        low: bytes,
        base: int,
        segments: list[tuple[int, int, float | None]],
    ) -> None:
        for a, b, ts in segments:
            stats = (self.timed if ts is not None else self.lead).cats[cat.name]
            pos = a
            while len(stats.samples) < 5:
                p = _first_match(low, cat, pos, b)
                if p is None:
                    break
                s = low.rfind(_NL, 0, p) + 1
                e = low.find(_NL, p, b)
                e = b if e < 0 else e
                own = line_timestamp(low, s, e)
                stamp = own if own is not None else ts
                stats.samples.append(Sample((self.source_index, base + s), stamp, sample_text(buf[s:e])))
                pos = e + 1
            if len(stats.samples) >= 5 and ts is not None:
                return


# -- helpers on a lowered chunk ---------------------------------------------------------


def _close(a: float | None, b: float | None) -> bool:
    return a is not None and b is not None and abs(a - b) <= NEAR_SECONDS


def _own_ts(low: bytes, p: int) -> float | None:
    """Timestamp written on the line that holds offset p."""
    s = low.rfind(_NL, 0, p) + 1
    e = low.find(_NL, p)
    return line_timestamp(low, s, len(low) if e < 0 else e)


def _next_ts_line(low: bytes, pos: int, limit: int) -> tuple[int, float | None]:
    """First line starting at or after pos (before limit) with a timestamp."""
    if pos > 0 and low[pos - 1] != 10:
        pos = low.find(_NL, pos, limit) + 1
        if pos <= 0:
            return limit, None
    for _ in range(PROBE_LINES):
        if pos >= limit:
            break
        e = low.find(_NL, pos, limit)
        if e < 0:
            e = limit
        t = line_timestamp(low, pos, e)
        if t is not None:
            return pos, t
        pos = e + 1
    return limit, None


def _last_ts_line(low: bytes, cut: int) -> tuple[int, float | None]:
    """Last line before cut with a timestamp (looking at most PROBE_LINES back)."""
    end = cut - 1 if cut > 0 and low[cut - 1] == 10 else cut
    for _ in range(PROBE_LINES):
        if end <= 0:
            break
        s = low.rfind(_NL, 0, end) + 1
        t = line_timestamp(low, s, end)
        if t is not None:
            return s, t
        end = s - 1
    return -1, None


def _first_at_or_after(low: bytes, when: float, lo: int, hi: int) -> tuple[int, float | None]:
    """First timestamped line in (lo, hi) stamped at or after `when` (time-ordered lines)."""
    best: tuple[int, float | None] = (hi, None)
    while hi - lo > LINEAR_BYTES:
        mid = (lo + hi) // 2
        p, tp = _next_ts_line(low, mid, best[0])
        if tp is None:
            hi = mid
        elif tp >= when:
            best = (p, tp)
            hi = mid
        else:
            lo = p + 1
    p = lo
    limit = best[0]
    if p > 0 and low[p - 1] != 10:
        p = low.find(_NL, p, limit) + 1
        if p <= 0:
            return best
    while p < limit:
        e = low.find(_NL, p, limit)
        if e < 0:
            e = limit
        t = line_timestamp(low, p, e)
        if t is not None and t >= when:
            return p, t
        p = e + 1
    return best


def _first_match(low: bytes, cat: Category, a: int, b: int) -> int | None:
    pos = a
    while pos < b:
        found = [x for x in (low.find(anchor, pos, b) for anchor in cat.anchors) if x >= 0]
        if not found:
            return None
        p = min(found)
        s = low.rfind(_NL, 0, p) + 1
        e = low.find(_NL, p, b)
        e = b if e < 0 else e
        if cat.matches(low[s:e]):
            return p
        pos = e + 1
    return None


def _last_match(low: bytes, cat: Category, a: int, b: int) -> int | None:
    end = b
    while end > a:
        p = max(low.rfind(anchor, a, end) for anchor in cat.anchors)
        if p < 0:
            return None
        s = low.rfind(_NL, 0, p) + 1
        e = low.find(_NL, p, b)
        e = b if e < 0 else e
        if cat.matches(low[s:e]):
            return p
        end = s
    return None


def scan_stream(
    chunks: Iterable[tuple[bytes, int, int]],
    source_index: int,
    since: float | None,
    until: float | None,
    pre_context: bytes | None = None,
    post_context: bytes | None = None,
) -> RangeResult:
    scanner = RangeScanner(source_index, since, until)
    if pre_context:
        scanner.set_pre_context(pre_context)
    for buf, cut, base in chunks:
        scanner.feed(buf, cut, base)
    return scanner.finish(post_context)
