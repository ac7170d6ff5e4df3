"""The chunk scanner: every category of every line, without a Python loop over lines.

A range of a log is read in chunks of `CHUNK_SIZE` bytes cut at the last newline. For each
chunk:

1. The chunk is lowercased once (`bytes.lower`, C speed) and every category anchor is looked
   up over the whole chunk (`fastfind`: libc `strstr`, tens of GB/s; anchors are chosen to
   start with rare letter pairs, which is what makes strstr fast). Only lines holding an
   anchor are ever looked at in Python.
2. Those candidate lines are classified exactly (`Category.verified`), timestamped (their
   own timestamp or the last one seen before them), filtered by --since/--until, counted,
   sampled and searched for keys.
3. Bulk categories (hits, misses, fallbacks) too frequent in a chunk for (2) (more than
   `BULK_LIMIT`) are counted per minute without per-line work: from their offsets when
   listing them is cheap (up to one per `ENUM_BYTES_PER_HIT` bytes), else by C calls over
   the chunk (one `BULK_COUNTER` regex pass for hits and misses together, `bytes.count` for
   the others). The chunk is cut at minute boundaries (and at the --since/--until instants)
   by bisecting on line timestamps, which assumes time-ordered lines, as log files are.
   A category counted this way stays so for the next chunk without being listed first.

In an outage most lines hold an anchor, and (2) would look at nearly every line in
Python. Listing the line-by-line anchors therefore stops once there are more than one per
`DENSE_BYTES`; such a chunk goes to `dense`, which splits it into lines once and judges each
distinct shape of line (digits zeroed) once, counting by minute segments from C-level
passes. It gives the same report as (2) on time-ordered lines (the assumption of (3) too);
it measured faster from about 20 % of lines in error.

Measured on a 1 GiB debug log (benchmarks/bench_logs.py, docs/benchmarks.md) the costs per
byte are roughly: lowercasing 0.25 ns, the anchors 0.35 ns, the hit/miss regex 0.6 ns,
the per-line work on error lines 0.2 ns; against about 0.5 ns for `grep -i
serialization`, hence both cores for big files (`api`).

Memory is bounded by the chunk size and the caps in `stats` and `keys`, whatever the size
of the input. Ranges of one big file can be scanned in parallel processes; lines before a
range's first timestamp are kept apart (`RangeResult.lead`) until the merge knows which
timestamp they inherit.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from typing import Any

from cachediag.logscan import simd
from cachediag.logscan.dense import DenseChunk
from cachediag.logscan.fastfind import Haystack
from cachediag.logscan.keys import KeyCounter, TopCounter, extract_keys
from cachediag.logscan.linetime import (
    PROBE_LINES,
    close,
    first_at_or_after,
    last_ts_line,
    line_ts,
    next_ts_line,
    own_ts,
)
from cachediag.logscan.patterns import (
    BACKEND_ERROR_CATEGORIES,
    CATEGORIES,
    FALLBACK_ANCHORS,
    NEAR_LINES,
    NEAR_WINDOW,
    Category,
    bulk_groups,
)
from cachediag.logscan.stats import Aggregate, CatStats, RangeResult, Sample
from cachediag.logscan.timestamps import iso_prefix_end, line_timestamp
from cachediag.safety.redact import sample_bytes

CHUNK_SIZE = 4 << 20
MAX_LINE = 16 << 20  # a "line" longer than this is cut (memory bound)
BULK_LIMIT = 48  # more occurrences than this of a bulk anchor in a chunk: no per-line work
# Denser than this, counting per minute (`simd.count`) beats listing offsets (a call each):
# with `bytes.count`, one per 1200 bytes; with StringZilla's count at ~0.03 ns
# a byte per anchor against ~0.35 µs per offset strstr lists, one per 6000.
ENUM_BYTES_PER_HIT = 6000 if simd.backend() == "stringzilla" else 1200
# A bulk category counted in a chunk with more than one occurrence per this many bytes is
# counted in the next without being listed first (kept at the stdlib's crossover whatever
# the kernels: it decides between counting lines and occurrences, which can differ).
HINT_BYTES_PER_HIT = 1200
MAX_SEGMENTS = 64  # more minutes than this in a chunk: per-line work after all
PROBE_LIMIT = 256  # a probe piece more frequent than this in a chunk: search the anchor
FALLBACK_LIST_AT = 256  # backend errors in a chunk past which its fallbacks are listed
SMALL_FEED = 4096  # a feed this short (a line completed across two reads) is done plainly
DENSE_BYTES = 512  # line-by-line anchors more frequent than one in this: `dense` takes over
DENSE_MIN_BYTES = 128 << 10  # smaller chunks always go line by line
DENSE_PROBE = 8  # the part of a chunk where the anchors' density is looked at first
DENSE_MAX_SEGMENTS = 1024  # minutes in a chunk `dense` counts by (else line by line)

_NL = b"\n"
_BACKEND = frozenset(BACKEND_ERROR_CATEGORIES)
_BACKEND_CATS = tuple(c for c in CATEGORIES if c.name in _BACKEND)
_ORDER = {c: i for i, c in enumerate(CATEGORIES)}
_PENDING = -1
_BLANKS = (b" ", b"\t")
# anchors of the categories always judged line by line (cache_error's waits for BULK_COUNTER)
_LINE_ANCHORS = tuple(a for c in CATEGORIES if not c.bulk and not c.detect_group for a in c.anchors)


class RangeScanner:
    """Scans consecutive chunks of one range of one source."""

    def __init__(
        self, source_index: int, since: float | None = None, until: float | None = None
    ) -> None:
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
        self.dense_hint: set[str] = set()  # bulk categories too frequent in the last chunk
        self.was_dense = False  # the last chunk had anchors enough for `dense`
        self._begin = 0  # where the lines of the chunk being scanned start
        # per category, this chunk's first and last line counted by segment, and its minute
        self._spans: dict[str, tuple[int, int, float]] = {}

    # -- public -----------------------------------------------------------------------

    def set_pre_context(self, tail: bytes) -> None:
        """Bytes just before the range (another process scans them): fallback proximity."""
        low = tail.lower()
        q = max(low.rfind(a) for a in FALLBACK_ANCHORS)
        if q >= 0:
            self.prev_fallback = (low.count(_NL, q), own_ts(low, q))

    def feed(self, buf: bytes, cut: int, base: int, begin: int = 0) -> None:
        """Scan buf[begin:cut], whole lines (base: the offset of buf[0] in the source).

        What is outside (the end of a line already scanned, the start of the next one) is
        not looked at: the reader spares a copy of the chunk that way.
        """
        if cut <= begin:
            return
        self._begin = begin
        if cut - begin <= SMALL_FEED:
            self._feed_small(buf, cut, base, begin)
            return
        hay = Haystack(simd.lower(buf), cut, begin)
        low = hay.data
        size = cut - begin
        self.bytes += size
        self.chunks += 1

        # 1. Where every anchor is (complete lists), or that a bulk anchor is too frequent.
        positions: dict[bytes, list[int]] = {}
        counted: list[Category] = []  # bulk, counted per minute by C calls
        enumerated: list[Category] = []  # bulk, counted per minute from known offsets
        enum_limit = max(BULK_LIMIT, size // ENUM_BYTES_PER_HIT)
        hint_limit = max(BULK_LIMIT, size // HINT_BYTES_PER_HIT)
        deferred: list[Category] = []  # searched for only if BULK_COUNTER saw them
        # Listing the line-by-line anchors stops once there are more of them than one per
        # DENSE_BYTES (an outage): `dense` then judges every line by its shape instead.
        budget = size // DENSE_BYTES if size >= DENSE_MIN_BYTES else None
        dense = not _list_anchors(hay, _LINE_ANCHORS, positions, budget, self.was_dense)
        self.was_dense = dense
        for cat in CATEGORIES:
            if not cat.bulk:
                if cat.detect_group:
                    deferred.append(cat)
                continue
            if cat.name in self.dense_hint:  # was too frequent to list in the last chunk
                counted.append(cat)
                continue
            mode = "lines"
            for anchor in cat.anchors:
                found, done = hay.find_all(anchor, BULK_LIMIT)
                if not done:
                    # Finish the list only if the density seen so far says it is worth it.
                    span = max(1, found[-1] - found[0])
                    if len(found) * size // span <= enum_limit:
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
            segments = self._segments(low, begin, cut)
            if segments is None:  # too many minutes in this chunk to count per minute
                for cat in counted + enumerated:
                    for anchor in cat.anchors:
                        positions[anchor] = hay.find_all(anchor)[0]
                counted, enumerated = [], []
        bulk = counted + enumerated
        per_line = [c for c in CATEGORIES if c not in bulk]
        chunk: DenseChunk | None = None
        if dense:
            dense_segments = segments
            if dense_segments is None:
                dense_segments = self._segments(low, begin, cut, DENSE_MAX_SEGMENTS)
            if dense_segments is None:  # minutes too short to count by: line by line
                dense = False
                _list_anchors(hay, _LINE_ANCHORS, positions, None)
            else:
                chunk = DenseChunk(buf, low, begin, cut, base, dense_segments)

        groups: list[dict[bytes, int]] | None = None
        # The regex tells for free (same pass) whether the deferred anchors are there at
        # all; counted as literals that is a pass of its own, as dear as listing them.
        detect = chunk is not None or simd.backend() != "stringzilla"
        if segments is not None and any(c.bulk_group for c in counted):
            if chunk is not None:  # its segments are these
                groups = chunk.groups()
            else:
                groups = [bulk_groups(low, a, b, detect) for a, b, _t in segments]
        for cat in [] if dense else deferred:
            if groups is None or not detect or any(g.get(cat.detect_group) for g in groups):
                for anchor in cat.anchors:
                    positions[anchor] = _probed(hay, anchor, cat.probe)
            else:
                for anchor in cat.anchors:
                    positions[anchor] = []

        fb_positions: list[int] | None = None
        if not dense and not all(a in positions for a in FALLBACK_ANCHORS):
            # Fallbacks too frequent to list: each backend error then looks for the nearest
            # one itself (a few `find`s). Past FALLBACK_LIST_AT such errors (an outage) one
            # listing of the chunk's fallbacks and a bisect per error are cheaper.
            backend_hits = sum(len(positions.get(a, ())) for c in _BACKEND_CATS for a in c.anchors)
            if backend_hits > FALLBACK_LIST_AT:
                for anchor in FALLBACK_ANCHORS:
                    if anchor not in positions:
                        positions[anchor] = hay.find_all(anchor)[0]
        if all(a in positions for a in FALLBACK_ANCHORS):
            fb_positions = _merged(positions, FALLBACK_ANCHORS)
        self._resolve_pending(low, cut, fb_positions, begin)

        # 2. Candidate lines, each looked at once, against the categories found in it; or
        # in an outage, every line by its shape.
        self._spans = {}
        memo_ts = self.carry_ts
        if chunk is not None:
            chunk.scan(self, per_line)
        else:
            memo_ts = self._lines_by_anchor(
                buf, low, begin, cut, base, per_line, positions, segments, fb_positions
            )
        for name, (first_line, last_line, seg_ts) in self._spans.items():
            stats = self.timed.cats[name]
            for line_start in (first_line, last_line):
                when = line_ts(low, begin, line_start, seg_ts)
                if when is not None:
                    stats.extend_span(when)

        # 3. Bulk categories, per minute.
        self.dense_hint = set()
        if bulk and segments is not None:
            totals = self._count_bulk(
                buf, low, cut, base, counted, enumerated, segments, positions, groups, chunk
            )
            self.dense_hint = {c.name for c in counted if totals.get(c.name, 0) > hint_limit}

        last = last_ts_line(low, begin, cut)[1]
        if last is not None:
            self.carry_ts = last
        elif memo_ts is not None and (self.carry_ts is None or memo_ts > self.carry_ts):
            self.carry_ts = memo_ts
        self._remember_last_fallback(low, cut, fb_positions)

    def _lines_by_anchor(
        self,
        buf: bytes,
        low: bytes,
        begin: int,
        cut: int,
        base: int,
        per_line: list[Category],
        positions: dict[bytes, list[int]],
        segments: list[tuple[int, int, float | None]] | None,
        fb_positions: list[int] | None,
    ) -> float | None:
        """Step 2 of `feed` for the lines holding an anchor; the last timestamp it read."""
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
        memo_pos, memo_ts = begin - 1, self.carry_ts
        # In a chunk cut into minutes anyway, a line's minute is its segment's: its own
        # timestamp is only read where it matters (first and last line of a category,
        # samples, fallback timing).
        seg_starts = [a for a, _b, _t in segments] if segments is not None else None
        batch = _Batch()
        per_line_set = frozenset(per_line)
        for s in sorted(found_in):
            e = low.find(_NL, s, cut)
            if e < 0:
                e = cut
            line = low[s:e]
            keys: list[bytes] | None = None
            stamp_end = iso_prefix_end(low, s, e)
            if stamp_end >= 0 and low[stamp_end : stamp_end + 1] in _BLANKS:
                # Error lines repeat (same message, same key) with only their time changing:
                # what follows the timestamp is classified once.
                body = buf[stamp_end:e]
                known = _LINE_MEMO.get(body)
                if known is None or not per_line_set <= known[2]:
                    known = _classify(found_in[s], line, body, per_line_set)
                matched = [c for c in known[0] if c in per_line_set]
                keys = known[1]
            else:
                matched = [c for c in found_in[s] if c.verified(line)]
                if len(matched) > 1:
                    matched.sort(key=_ORDER.__getitem__)
            if not matched:
                continue
            if segments is not None and seg_starts is not None:
                ts = segments[bisect_right(seg_starts, s) - 1][2]
                self._record(
                    matched, ts, buf, low, line, s, e, base, cut, fb_positions, False, keys, batch
                )
                continue
            ts = line_timestamp(low, s, e)
            if ts is None:
                ts = self._inherited(low, s, memo_pos, memo_ts)
            memo_pos, memo_ts = s, ts
            self._record(matched, ts, buf, low, line, s, e, base, cut, fb_positions, True, keys)
        batch.flush()
        return memo_ts

    def _feed_small(self, buf: bytes, cut: int, base: int, begin: int) -> None:
        """A few lines (the one completed across two reads): plainly, line by line."""
        low = buf.lower()
        self.bytes += cut - begin
        fb_positions = []
        for anchor in FALLBACK_ANCHORS:
            p = low.find(anchor, begin, cut)
            while p >= 0:
                fb_positions.append(p)
                p = low.find(anchor, p + 1, cut)
        fb_positions.sort()
        self._resolve_pending(low, cut, fb_positions, begin)
        inherited = self.carry_ts
        s = begin
        while s < cut:
            e = low.find(_NL, s, cut)
            if e < 0:
                e = cut
            line = low[s:e]
            own = line_timestamp(low, s, e)
            if own is not None:
                inherited = own
            matched = [c for c in CATEGORIES if c.matches(line)]
            if matched:
                self._record(matched, inherited, buf, low, line, s, e, base, cut, fb_positions)
            s = e + 1
        self.carry_ts = inherited
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
        line: bytes,
        s: int,
        e: int,
        base: int,
        cut: int,
        fb_positions: list[int] | None,
        exact: bool = True,
        keys: list[bytes] | None = None,
        batch: _Batch | None = None,
    ) -> None:
        """Count one matching line (`keys`: the keys it names, if already known).

        `exact`: ts is the line's own (or inherited) timestamp; else the minute segment's,
        and the line's own is looked up only where it matters. `batch`: where the minute
        counts and the keys of such lines wait to be added in bulk, at the chunk's end.
        """
        if ts is None:
            agg = self.lead
        elif self.filtering and not self._in_range(ts):
            return
        else:
            agg = self.timed
        want_keys = False
        backend = False
        cats = agg.cats
        for cat in matched:
            stats = cats[cat.name]
            if exact or ts is None:
                stats.add(ts)
            else:
                if batch is not None:
                    batch.count(stats, ts)
                else:
                    stats.add_bulk(ts, 1)
                span = self._spans.get(cat.name)
                self._spans[cat.name] = (s if span is None else span[0], s, ts)
            if len(stats.samples) < 5:
                when = ts if exact else line_ts(low, self._begin, s, ts)
                stats.samples.append(
                    Sample((self.source_index, base + s), when, sample_bytes(buf, s, e))
                )
            if cat.keys:
                want_keys = True
            if cat.name in _BACKEND:
                backend = True
        if want_keys:
            if keys is None:
                keys = extract_keys(buf[s:e])
            if keys and batch is not None:
                batch.keys(agg.keys, keys)
                for cat in matched:
                    counter = cats[cat.name].keys
                    if counter is not None:
                        batch.keys(counter, keys)
            elif keys:
                add = agg.keys.add
                for key in keys:
                    add(key)
                for cat in matched:
                    counter = cats[cat.name].keys
                    if counter is not None:
                        for key in keys:
                            counter.add(key)
        if backend:
            agg.backend_errors += 1
            if b"fallback" in line or b"falling back" in line:
                agg.with_fallback += 1
                return
            near = self._near_fallback(low, s, e, ts, cut, fb_positions, exact)
            if near == _PENDING:
                self.pending.append(
                    (low.count(_NL, e, cut), _exact(low, self._begin, s, ts, exact), agg)
                )
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
        self,
        low: bytes,
        s: int,
        e: int,
        ts: float | None,
        cut: int,
        fb_positions: list[int] | None,
        exact: bool = True,
    ) -> int:
        """1 if a fallback line is within NEAR_LINES lines or NEAR_SECONDS of this one (not
        this line itself: the caller looked), 0 if not, _PENDING if the next chunk can tell."""
        # before
        begin = self._begin
        if fb_positions is not None:
            i = bisect_left(fb_positions, s)
            q = fb_positions[i - 1] if i else -1
        else:
            q = _nearest_before(low, begin, s)
        if q >= 0:
            if s - q <= NEAR_WINDOW and (
                low.count(_NL, q, s) <= NEAR_LINES
                or close(_exact(low, self._begin, s, ts, exact), own_ts(low, q))
            ):
                return 1
        elif self.prev_fallback is not None and s - begin <= NEAR_WINDOW:
            lines, fts = self.prev_fallback
            if lines + low.count(_NL, begin, s) <= NEAR_LINES or close(
                _exact(low, self._begin, s, ts, exact), fts
            ):
                return 1
        # after
        if fb_positions is not None:
            i = bisect_left(fb_positions, e)
            r = fb_positions[i] if i < len(fb_positions) else -1
        else:
            r = _nearest_after(low, e, cut)
        if r >= 0 and r - e <= NEAR_WINDOW:
            return int(
                low.count(_NL, e, r) <= NEAR_LINES
                or close(_exact(low, self._begin, s, ts, exact), own_ts(low, r))
            )
        if r < 0 and cut - e <= NEAR_WINDOW:
            return _PENDING
        return 0

    def _resolve_pending(
        self, low: bytes, cut: int, fb_positions: list[int] | None, begin: int = 0
    ) -> None:
        if not self.pending:
            return
        if fb_positions is not None:
            first = fb_positions[0] if fb_positions else -1
        else:
            found = [
                x
                for x in (
                    low.find(a, begin, min(cut, begin + NEAR_WINDOW)) for a in FALLBACK_ANCHORS
                )
                if x >= 0
            ]
            first = min(found) if found else -1
        if begin <= first <= begin + NEAR_WINDOW:
            before = low.count(_NL, begin, first)
            fts = own_ts(low, first)
            for lines, ts, agg in self.pending:
                if lines + before <= NEAR_LINES or close(ts, fts):
                    agg.with_fallback += 1
            self.pending = []
        elif cut - begin < NEAR_WINDOW:  # a short feed: the next one may still have it
            passed = low.count(_NL, begin, cut)
            self.pending = [(lines + passed, ts, agg) for lines, ts, agg in self.pending]
        else:
            self.pending = []

    def _remember_last_fallback(self, low: bytes, cut: int, fb_positions: list[int] | None) -> None:
        if fb_positions is not None:
            q = fb_positions[-1] if fb_positions else -1
        else:
            start = max(self._begin, cut - NEAR_WINDOW)
            q = max(low.rfind(a, start, cut) for a in FALLBACK_ANCHORS)
        if q >= 0 and cut - q <= NEAR_WINDOW:
            self.prev_fallback = (low.count(_NL, q, cut), own_ts(low, q))
        elif cut - self._begin > NEAR_WINDOW or q >= 0:
            self.prev_fallback = None
        elif self.prev_fallback is not None:  # a short feed without fallback: further away
            lines, fts = self.prev_fallback
            self.prev_fallback = (lines + low.count(_NL, self._begin, cut), fts)

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

    def _segments(
        self, low: bytes, begin: int, cut: int, limit: int | None = None
    ) -> list[tuple[int, int, float | None]] | None:
        """The chunk cut where the minute (or the --since/--until side) changes; None past
        `limit` (MAX_SEGMENTS) segments."""
        limit = MAX_SEGMENTS if limit is None else limit
        first, tfirst = next_ts_line(low, begin, cut)
        if tfirst is None:
            return [(begin, cut, self.carry_ts)]
        segments: list[tuple[int, int, float | None]] = []
        if first > begin:
            segments.append((begin, first, self.carry_ts))
        tlast = last_ts_line(low, begin, cut)[1]
        if tlast is None:
            tlast = tfirst
        cur, tcur = first, tfirst
        while True:
            boundary = self._next_cut(tcur)
            if boundary > tlast:
                break
            p, tp = first_at_or_after(low, boundary, cur, cut)
            if tp is None:
                break
            segments.append((cur, p, tcur))
            if len(segments) > limit:
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
        groups: list[dict[bytes, int]] | None,
        chunk: DenseChunk | None = None,
    ) -> dict[str, int]:
        """Count the bulk categories per segment (`chunk`: from its shapes, when it was cut
        into these segments); their totals in this chunk."""
        totals: dict[str, int] = {}
        keep = [
            i
            for i, seg in enumerate(segments)
            if seg[2] is None or not self.filtering or self._in_range(seg[2])
        ]
        if not keep:
            return totals
        included = [segments[i] for i in keep]
        per_segment: dict[str, list[int]] = {}
        offsets_of: dict[str, list[int]] = {}
        for cat in enumerated:
            offsets = _merged(positions, cat.anchors)
            if cat.exclude:
                offsets = [p for p in offsets if not any(low.startswith(x, p) for x in cat.exclude)]
            offsets_of[cat.name] = offsets
            per_segment[cat.name] = [
                bisect_left(offsets, b) - bisect_left(offsets, a) for a, b, _t in included
            ]
        regex = [c for c in counted if c.bulk_group]
        if regex and groups is not None:
            for cat in regex:
                per_segment[cat.name] = [groups[i].get(cat.bulk_group, 0) for i in keep]
        count = simd.count
        for cat in counted:
            if cat.bulk_group:
                continue
            if chunk is not None:
                per_segment[cat.name] = [chunk.bulk_count(i, cat.name) for i in keep]
                continue
            counts = []
            for a, b, _t in included:
                n = sum(count(low, anchor, a, b) for anchor in cat.anchors)
                n -= sum(count(low, x, a, b) for x in cat.exclude)
                counts.append(n)
            per_segment[cat.name] = counts
        for cat in counted + enumerated:
            counts = per_segment[cat.name]
            totals[cat.name] = sum(counts)
            hits = [(seg, n) for seg, n in zip(included, counts, strict=True) if n > 0]
            if not hits:
                continue
            for (_a, _b, ts), n in hits:
                (self.timed if ts is not None else self.lead).cats[cat.name].add_bulk(ts, n)
            timed_hits = [seg for seg, _n in hits if seg[2] is not None]
            if timed_hits:
                # first and last occurrence counted here, by their own timestamps
                stats = self.timed.cats[cat.name]
                known = offsets_of.get(cat.name)
                a, b, ts = timed_hits[0]
                if known is not None:
                    p: int | None = known[bisect_left(known, a)]
                else:
                    p = _first_match(low, cat, a, b)
                when = line_ts(low, a, p, ts) if p is not None else None
                if when is not None:
                    stats.extend_span(when)
                a, b, ts = timed_hits[-1]
                if known is not None:
                    p = known[bisect_left(known, b) - 1]
                else:
                    p = _last_match(low, cat, a, b)
                when = line_ts(low, a, p, ts) if p is not None else None
                if when is not None:
                    stats.extend_span(when)
            self._bulk_samples(cat, buf, low, base, [seg for seg, _n in hits])
        return totals

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
                stats.samples.append(
                    Sample((self.source_index, base + s), stamp, sample_bytes(buf, s, e))
                )
                pos = e + 1
            if len(stats.samples) >= 5 and ts is not None:
                return


class _Batch:
    """A chunk's per-line counts by minute segment and the keys its lines name, added in
    bulk once its lines are done: one `add_bulk` per category and minute, one `add_many`
    per key counter, instead of a call per line and key (about a sixth of the scan of a
    log with 0.5 % error lines). The same result: each counter gets its keys in line
    order (`add_many` equals `add` one by one), and minutes are added in the order their
    lines come (segments are contiguous, in order)."""

    __slots__ = ("_counts", "_keys")

    def __init__(self) -> None:
        self._counts: dict[tuple[int, float], list[Any]] = {}  # (id, ts) -> [stats, ts, n]
        self._keys: dict[int, tuple[KeyCounter | TopCounter, list[bytes]]] = {}

    def count(self, stats: CatStats, ts: float) -> None:
        entry = self._counts.get((id(stats), ts))
        if entry is None:
            self._counts[(id(stats), ts)] = [stats, ts, 1]
        else:
            entry[2] += 1

    def keys(self, counter: KeyCounter | TopCounter, keys: list[bytes]) -> None:
        entry = self._keys.get(id(counter))
        if entry is None:
            self._keys[id(counter)] = (counter, list(keys))
        else:
            entry[1].extend(keys)

    def flush(self) -> None:
        for stats, ts, n in self._counts.values():
            stats.add_bulk(ts, n)
        for counter, keys in self._keys.values():
            counter.add_many(keys)
        self._counts = {}
        self._keys = {}


# -- helpers on a lowered chunk ---------------------------------------------------------


def _list_anchors(
    hay: Haystack,
    anchors: tuple[bytes, ...],
    positions: dict[bytes, list[int]],
    budget: int | None,
    probe: bool = False,
) -> bool:
    """List every anchor's offsets into `positions` (those not there yet); with a budget,
    say False instead, the lists left incomplete, when the anchors are more frequent than
    `budget` in the whole chunk. `probe` (the last chunk was an outage's): look at the
    first 1/DENSE_PROBE of the chunk first, where another outage chunk shows at once,
    before thousands of offsets are listed. (Not always: strstr knows no end but the
    chunk's, so a rare anchor costs a second pass.)"""
    todo = [a for a in anchors if a not in positions]
    if budget is None:
        for anchor in todo:
            positions[anchor] = hay.find_all(anchor)[0]
        return True
    start = hay.begin
    total = 0  # occurrences listed
    if probe:
        start = hay.begin + (hay.end - hay.begin) // DENSE_PROBE
        room = budget // DENSE_PROBE
        for anchor in todo:
            found, done = hay.find_all(anchor, room - total, end=start)
            if not done:
                return False
            total += len(found)
            positions[anchor] = found
    for anchor in todo:  # (after the last offset the probed part can hold)
        found = positions.get(anchor, [])
        before = len(found)
        resume = max(hay.begin, start - len(anchor) + 1)
        found, done = hay.find_all(anchor, before + budget - total, resume, found)
        if not done:
            return False
        total += len(found) - before
        positions[anchor] = found
    return True


def _probed(hay: Haystack, anchor: bytes, probe: tuple[bytes, int] | None) -> list[int]:
    """Offsets of `anchor`, found through its rarer `probe` piece while that is rare."""
    if probe is None:
        return hay.find_all(anchor)[0]
    if simd.backend() == "stringzilla":
        # What slows strstr down on such an anchor (a bigram common in debug logs) does not
        # slow StringZilla's SIMD filter: "cache error" is found in 0.035 ns a byte, where
        # strstr took 0.07 for "e error" and 0.095 for the anchor itself.
        return simd.find_all(hay.data, anchor, hay.begin, hay.end)
    piece, offset = probe
    found, done = hay.find_all(piece, PROBE_LIMIT)
    if not done:
        return hay.find_all(anchor)[0]
    low = hay.data
    return [p - offset for p in found if p >= offset and low.startswith(anchor, p - offset)]


# Message (the line after its timestamp) -> its categories among those checked, the keys it
# names, and which categories were checked (a chunk where hits are rare checks more).
_LINE_MEMO: dict[bytes, tuple[tuple[Category, ...], list[bytes], frozenset[Category]]] = {}


def _classify(
    candidates: list[Category], line: bytes, body: bytes, checked: frozenset[Category]
) -> tuple[tuple[Category, ...], list[bytes], frozenset[Category]]:
    """The categories of a line among `candidates` (those of `checked` with an anchor in
    it) and the keys it names, remembered (boundedly) for the next line with the same
    message. Only the candidates are verified: in an outage log most error lines differ
    (ids, durations), and testing every category on each was a third of the scan."""
    cats = tuple(sorted((c for c in candidates if c.verified(line)), key=_ORDER.__getitem__))
    keys = extract_keys(body) if any(c.keys for c in cats) else []
    if len(_LINE_MEMO) >= 8192:
        _LINE_MEMO.clear()
    known = (cats, keys, checked)
    _LINE_MEMO[body] = known
    return known


def _merged(positions: dict[bytes, list[int]], anchors: tuple[bytes, ...]) -> list[int]:
    """The offsets of several anchors, in order."""
    if len(anchors) == 1:
        return positions[anchors[0]]
    merged: list[int] = []
    for anchor in anchors:
        merged += positions[anchor]
    merged.sort()
    return merged


_WINDOWS = (2048, 16384, NEAR_WINDOW)  # frequent fallbacks are found in the first


def _nearest_before(low: bytes, begin: int, s: int) -> int:
    """Offset of the last fallback anchor within NEAR_WINDOW before s (from begin), or -1."""
    for window in _WINDOWS:
        q = max(low.rfind(a, max(begin, s - window), s) for a in FALLBACK_ANCHORS)
        if q >= 0 or window >= s - begin:
            return q
    return -1


def _nearest_after(low: bytes, e: int, cut: int) -> int:
    """Offset of the first fallback anchor within NEAR_WINDOW after e (before cut), or -1."""
    for window in _WINDOWS:
        end = min(cut, e + window)
        found = [x for x in (low.find(a, e, end) for a in FALLBACK_ANCHORS) if x >= 0]
        if found:
            return min(found)
        if end == cut:
            return -1
    return -1


def _exact(low: bytes, begin: int, s: int, ts: float | None, exact: bool) -> float | None:
    """The line's own timestamp when `ts` is only its minute segment's."""
    return ts if exact else line_ts(low, begin, s, ts)


def _first_match(low: bytes, cat: Category, a: int, b: int) -> int | None:
    find = simd.find  # (an anchor can be megabytes away: a SIMD search)
    pos = a
    while pos < b:
        found = [x for x in (find(low, anchor, pos, b) for anchor in cat.anchors) if x >= 0]
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
    rfind = simd.rfind
    end = b
    while end > a:
        p = max(rfind(low, anchor, a, end) for anchor in cat.anchors)
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
    chunks: Iterable[tuple[bytes, int, int, int]],
    source_index: int,
    since: float | None,
    until: float | None,
    pre_context: bytes | None = None,
    post_context: bytes | None = None,
) -> RangeResult:
    scanner = RangeScanner(source_index, since, until)
    if pre_context:
        scanner.set_pre_context(pre_context)
    for buf, begin, cut, base in chunks:
        scanner.feed(buf, cut, base, begin)
    return scanner.finish(post_context)
