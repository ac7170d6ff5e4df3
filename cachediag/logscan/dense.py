"""Chunks where most lines match (an outage): each distinct shape of line is judged once.

In an outage log nearly every line is an error, so finding candidate lines by their
anchors (`fastfind`) and then looking at each one in Python costs microseconds a line.
Here the chunk is instead split into lines once, with digits mapped to `0` (and letters
lowered): error lines differ mostly in their ids and times, so they collapse to a few
hundred *shapes* per chunk. A shape's categories and where its keys sit are computed once
(`Shape`); what every category and key counter needs then comes from C-level passes over
the chunk's list of shapes: a `Counter` per minute segment, `compress` for the lines of a
kind, slices at known offsets for the keys, `Counter`-based batch updates of the key
counters (`keys.KeyCounter.add_many`).

Why mapping digits and case is safe: no category anchor or test names a digit (digits only
ever meet `\\w`, `\\W`, `[^\\n]`-like classes), and the key pattern treats all letters and
all digits alike, so a line and its shape have the same categories and the same key
offsets. Timestamps are read from the real line, and only where they are needed (first
and last line of a category, samples, fallback timing): minutes come from the chunk's
segments (`RangeScanner._segments`), which assume time-ordered lines, as the bulk counting
of hits and misses always has.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import Counter
from itertools import accumulate, compress, filterfalse, islice, repeat
from operator import add, attrgetter, itemgetter, sub
from typing import TYPE_CHECKING

from cachediag.logscan import simd
from cachediag.logscan.fastfind import Haystack
from cachediag.logscan.keys import key_at, key_spans
from cachediag.logscan.linetime import close, line_ts, own_ts
from cachediag.logscan.patterns import (
    BACKEND_ERROR_CATEGORIES,
    BULK_COUNTER,
    CATEGORIES,
    FALLBACK_ANCHORS,
    NEAR_LINES,
    NEAR_WINDOW,
    Category,
    group_counts,
)
from cachediag.logscan.stats import MAX_SAMPLES, Aggregate, Sample
from cachediag.logscan.timestamps import iso_prefix_end
from cachediag.safety.redact import sample_bytes

if TYPE_CHECKING:
    from cachediag.logscan.scanner import RangeScanner

_NL = b"\n"
_BLANKS = (b" ", b"\t")
_BACKEND = frozenset(BACKEND_ERROR_CATEGORIES)
# lowered chunk -> its shape: every digit becomes 0
_DIGITS_TO_0 = bytes.maketrans(b"123456789", b"000000000")
MAX_SHAPES = 32768  # distinct shapes remembered (lines with hex ids never repeat)


class Shape:
    """What a line's shape says about every line of that shape."""

    __slots__ = (
        "bulk",
        "cats",
        "fb_first",
        "fb_last",
        "has_fallback",
        "key_end",
        "key_start",
        "single",
        "spans",
        "view",
        "view_of",
    )

    def __init__(self, cats: tuple[Category, ...], line: bytes) -> None:
        self.cats = cats
        self.spans: tuple[tuple[int, int, int, bool], ...] = ()
        self.has_fallback = False
        self.fb_first = self.fb_last = -1
        self.single = False  # one key, not a credential: sliced straight out of the line
        self.key_start = self.key_end = 0
        self.view_of: frozenset[Category] | None = None
        self.view: View | None = None
        # per bulk category its occurrences (anchors less excludes), and BULK_COUNTER's
        # groups: what `bytes.count` and the regex pass would count over the line
        self.bulk: dict[str | bytes, int] = {}
        if not cats:
            return
        for cat in CATEGORIES:
            if cat.bulk:
                n = sum(line.count(a) for a in cat.anchors) - sum(
                    line.count(x) for x in cat.exclude
                )
                if n:
                    self.bulk[cat.name] = n
        for group, n in group_counts(BULK_COUNTER.findall(line)).items():
            if n:
                self.bulk[group] = n
        if any(c.keys for c in cats):
            # As the line-by-line path: keys from after an ISO timestamp when the line
            # starts with one, else from the whole line.
            stamp_end = iso_prefix_end(line, 0, len(line))
            body = 0
            if stamp_end >= 0 and line[stamp_end : stamp_end + 1] in _BLANKS:
                body = stamp_end
            self.spans = tuple(
                (a + body, b + body, c + body, secret) for a, b, c, secret in key_spans(line[body:])
            )
            if len(self.spans) == 1 and not self.spans[0][3]:
                self.single = True
                self.key_start, _, self.key_end, _ = self.spans[0]
        firsts = [p for p in (line.find(a) for a in FALLBACK_ANCHORS) if p >= 0]
        if firsts:
            self.has_fallback = True
            self.fb_first = min(firsts)
            self.fb_last = max(line.rfind(a) for a in FALLBACK_ANCHORS)

    def view_for(self, per_line: frozenset[Category]) -> View:
        """This shape seen by a chunk that counts `per_line` categories line by line."""
        if self.view_of != per_line or self.view is None:
            self.view = View(self, per_line)
            self.view_of = per_line
        return self.view


class View:
    """A shape's categories among those a chunk counts line by line, and what follows."""

    __slots__ = ("backend", "key_cats", "matched")

    def __init__(self, shape: Shape, per_line: frozenset[Category]) -> None:
        self.matched = tuple(c for c in shape.cats if c in per_line)
        self.key_cats = tuple(c for c in self.matched if c.keys) if shape.spans else ()
        self.backend = any(c.name in _BACKEND for c in self.matched)


_NO_MATCH = Shape((), b"")
_SHAPES: dict[bytes, Shape] = {}


def _shape_of(line: bytes) -> Shape:
    cats = tuple(c for c in CATEGORIES if c.matches(line))
    return Shape(cats, line) if cats else _NO_MATCH


def _shapes(lines: list[bytes]) -> list[Shape]:
    """The shape of every line, each distinct one classified once (and remembered)."""
    memo = _SHAPES
    missing = list(dict.fromkeys(filterfalse(memo.__contains__, lines)))
    if missing:
        if len(memo) + len(missing) > MAX_SHAPES:
            # Keep the shapes that matched (few, and met again) and this chunk's.
            distinct = set(lines)
            kept = {k: v for k, v in memo.items() if v is not _NO_MATCH or k in distinct}
            if len(kept) + len(missing) > MAX_SHAPES:
                kept = {k: v for k, v in kept.items() if k in distinct}
            memo.clear()
            memo.update(kept)
        memo.update(zip(missing, _classify(missing), strict=True))
    return list(map(memo.__getitem__, lines))


def _classify(lines: list[bytes]) -> list[Shape]:
    """Shapes of new lines. Most new ones match nothing (an id in hex, a request line):
    the anchors are searched once over all of them joined, and only the lines holding
    one are classified."""
    if len(lines) < 32:
        return [_shape_of(line) for line in lines]
    joined = _NL.join(lines)
    starts = list(map(add, accumulate(map(len, lines), initial=0), range(len(lines))))
    hay = Haystack(joined, len(joined))
    holding: set[int] = set()
    for anchor in _ANCHORS:
        holding.update(map(bisect_right, repeat(starts), hay.find_all(anchor)[0]))
    return [_shape_of(line) if k + 1 in holding else _NO_MATCH for k, line in enumerate(lines)]


_ANCHORS = tuple(dict.fromkeys(a for c in CATEGORIES for a in c.anchors))


class DenseChunk:
    """One chunk's lines, their shapes and offsets; what its segments add up."""

    def __init__(
        self,
        buf: bytes,
        low: bytes,
        begin: int,
        cut: int,
        base: int,
        segments: list[tuple[int, int, float | None]],
    ) -> None:
        self.buf = buf
        self.low = low
        self.begin = begin
        self.cut = cut
        self.base = base
        self.segments = segments
        lines = simd.translate(low, _DIGITS_TO_0, begin, cut).split(_NL)
        self.newlines = len(lines) - 1
        if not lines[-1]:
            lines.pop()
        n = len(lines)
        self.lines = lines
        self.shapes = shapes = _shapes(lines)
        # starts[i]: offset of line i in buf (starts[n]: past the last line and its newline)
        self.starts = starts = list(
            map(add, accumulate(map(len, lines), initial=begin), range(n + 1))
        )
        # per segment: its lines [ia, ib) and how many of each shape they hold
        self.spans_of: list[tuple[int, int, Counter[Shape]]] = []
        for a, b, _ts in segments:
            ia = bisect_left(starts, a)
            ib = n if b >= cut else bisect_left(starts, b)
            self.spans_of.append((ia, ib, Counter(shapes[ia:ib]) if ia < ib else Counter()))

    def bulk_count(self, i: int, what: str | bytes) -> int:
        """Segment i's count of a bulk category's occurrences (by name) or of a
        BULK_COUNTER group, from its shapes: the same as `bytes.count` or the regex over
        its bytes (no anchor or group spans two lines)."""
        return sum(shape.bulk.get(what, 0) * n for shape, n in self.spans_of[i][2].items())

    def groups(self) -> list[dict[bytes, int]]:
        """BULK_COUNTER's groups per segment, as `_group_counts` of its findall."""
        return [
            {g: self.bulk_count(i, g) for g in (b"h", b"m", b"e")}
            for i in range(len(self.segments))
        ]

    def scan(self, scanner: RangeScanner, per_line: list[Category]) -> None:
        """Count the `per_line` categories of the chunk as the line-by-line path of
        `RangeScanner.feed` does with minute segments, and leave in `_spans` the first and
        last line of each category for it to timestamp."""
        per_line_set = frozenset(per_line)
        views: dict[Shape, View] = {}
        for shape in set(self.shapes):
            if shape.cats:
                view = shape.view_for(per_line_set)
                if view.matched:
                    views[shape] = view
        if not views:
            return
        self._prepare(scanner, views)
        run: tuple[Aggregate, int, int] | None = None  # consecutive lines into one agg
        for (_a, _b, ts), (ia, ib, tally) in zip(self.segments, self.spans_of, strict=True):
            if ia >= ib:
                continue
            if ts is None:
                agg = scanner.lead
            elif scanner.filtering and not scanner._in_range(ts):
                continue
            else:
                agg = scanner.timed
            self.segment(agg, ia, ib, ts, tally)
            if run is not None and run[0] is agg and run[2] == ia:
                run = (agg, run[1], ib)
                continue
            if run is not None:
                self.keys(*run)
            run = (agg, ia, ib)
        if run is not None:
            self.keys(*run)
        self.spans()

    def _prepare(self, scanner: RangeScanner, views: dict[Shape, View]) -> None:
        self.scanner = scanner
        self.views = views
        self.members: dict[Category, set[Shape]] = {}  # per category, the shapes in it
        for shape, view in views.items():
            for cat in view.matched:
                self.members.setdefault(cat, set()).add(shape)
        self.key_shapes = {s for s, v in views.items() if v.key_cats}
        # key shapes by the categories their keys are counted in
        self.by_key_cats: dict[tuple[Category, ...], set[Shape]] = {}
        for shape in self.key_shapes:
            self.by_key_cats.setdefault(views[shape].key_cats, set()).add(shape)
        self.lone_backend = {s for s, v in views.items() if v.backend and not s.has_fallback}
        self.fallback_lines: list[int] | None = None
        self.next_fallback: list[int] = []
        self.long_lines = False
        # per category, the segment of its first and of its last line counted
        self.first_seg: dict[Category, tuple[int, int]] = {}
        self.last_seg: dict[Category, tuple[int, int, float]] = {}

    def segment(
        self, agg: Aggregate, ia: int, ib: int, ts: float | None, tally: Counter[Shape]
    ) -> None:
        """Lines [ia, ib): one minute (or the lines before the range's first timestamp)."""
        seg_shapes = self.shapes[ia:ib]
        per_cat: dict[Category, int] = {}
        backend = with_fallback = 0
        views = self.views
        for shape, count in tally.items():
            view = views.get(shape)
            if view is None:
                continue
            for cat in view.matched:
                per_cat[cat] = per_cat.get(cat, 0) + count
            if view.backend:
                backend += count
                if shape.has_fallback:
                    with_fallback += count
        cats = agg.cats
        for cat, count in per_cat.items():
            stats = cats[cat.name]
            if ts is None:
                stats.add(None, count)
            else:
                stats.add_bulk(ts, count)
                if cat not in self.first_seg:
                    self.first_seg[cat] = (ia, ib)
                self.last_seg[cat] = (ia, ib, ts)
            if len(stats.samples) < MAX_SAMPLES:
                self._samples(stats.samples, cat, seg_shapes, ia, ts)
        if backend:
            agg.backend_errors += backend
            agg.with_fallback += with_fallback
            if not self.lone_backend.isdisjoint(tally):
                agg.with_fallback += self._near_fallbacks(agg, seg_shapes, ia, ts)

    def _samples(
        self,
        samples: list[Sample],
        cat: Category,
        seg_shapes: list[Shape],
        ia: int,
        ts: float | None,
    ) -> None:
        members = self.members[cat]
        lines_of_cat = compress(
            range(ia, ia + len(seg_shapes)), map(members.__contains__, seg_shapes)
        )
        for i in islice(lines_of_cat, MAX_SAMPLES - len(samples)):
            s = self.starts[i]
            e = s + len(self.lines[i])
            where = (self.scanner.source_index, self.base + s)
            samples.append(
                Sample(where, line_ts(self.low, self.begin, s, ts), sample_bytes(self.buf, s, e))
            )

    def keys(self, agg: Aggregate, ia: int, ib: int) -> None:
        """Every key of lines [ia, ib), in file order, into agg's counters."""
        if not self.key_shapes:
            return
        whole = ia == 0 and ib == len(self.shapes)
        shapes = self.shapes if whole else self.shapes[ia:ib]
        mask = list(map(self.key_shapes.__contains__, shapes))
        owners = list(compress(shapes, mask))
        if not owners:
            return
        offsets = list(compress(self.starts if whole else islice(self.starts, ia, ib), mask))
        buf = self.buf
        present = set(owners)
        if all(shape.single for shape in present):
            # one plain key a line: sliced at the shape's offsets, in C-level passes
            keys = list(
                map(
                    buf.__getitem__,
                    map(
                        slice,
                        map(add, offsets, map(_KEY_START, owners)),
                        map(add, offsets, map(_KEY_END, owners)),
                    ),
                )
            )
        else:
            keys = []
            per_key_owner: list[Shape] = []
            for o, shape in zip(offsets, owners, strict=True):
                line_keys: list[bytes] = []
                for span in shape.spans:
                    key = key_at(buf, o, span)
                    if key not in line_keys:
                        line_keys.append(key)
                keys += line_keys
                per_key_owner += [shape] * len(line_keys)
            owners = per_key_owner
        agg.keys.add_many(keys)
        # Per category, its keys in file order: those of the lines of each group of shapes
        # counted in the same categories, or of several groups for a category in several.
        groups = [(c, m) for c, m in self.by_key_cats.items() if not m.isdisjoint(present)]
        of_group: dict[tuple[Category, ...], list[bytes]] = {}
        for cats, members in groups:
            if len(groups) == 1:
                of_group[cats] = keys
            else:
                of_group[cats] = list(compress(keys, map(members.__contains__, owners)))
        for cat in {c for cats, _m in groups for c in cats}:
            counter = agg.cats[cat.name].keys
            if counter is None:
                continue
            holders = [(cats, m) for cats, m in groups if cat in cats]
            if len(holders) == 1:
                counter.add_many(of_group[holders[0][0]])
            else:
                members = set().union(*(m for _c, m in holders))
                counter.add_many(list(compress(keys, map(members.__contains__, owners))))

    def _near_fallbacks(
        self, agg: Aggregate, seg_shapes: list[Shape], ia: int, ts: float | None
    ) -> int:
        """`RangeScanner._near_fallback` for the segment's backend errors without a fallback
        of their own, counted in lines: how many have one near (others may be pending)."""
        shapes = self.shapes
        if self.fallback_lines is None:
            # (of every shape: a fallback line need not be in a category counted line by line)
            with_fallback = {s for _a, _b, tally in self.spans_of for s in tally if s.has_fallback}
            marks = list(map(with_fallback.__contains__, shapes))
            # with sentinels: every line has a "previous" and a "next" fallback line
            self.fallback_lines = [-_FAR, *compress(range(len(shapes)), marks), _FAR]
            # line i's next fallback line is fallback_lines[self.next_fallback[i]]
            self.next_fallback = list(accumulate(marks, initial=1))[1:]
            # lines long enough for NEAR_LINES of them to span NEAR_WINDOW bytes
            self.long_lines = (max(map(len, self.lines)) + 1) * NEAR_LINES > NEAR_WINDOW
        fallback_lines = self.fallback_lines
        lone = list(
            compress(
                range(ia, ia + len(seg_shapes)), map(self.lone_backend.__contains__, seg_shapes)
            )
        )
        nexts = list(map(self.next_fallback.__getitem__, lone))
        pairs = zip(lone, nexts, strict=True)
        if self.long_lines:
            slow = list(pairs)
            found = 0
        else:
            # Most have a fallback line within NEAR_LINES before them (lines this short can
            # not then be NEAR_WINDOW bytes apart): only the others are looked at one by one.
            gaps = map(sub, lone, map(fallback_lines.__getitem__, map(sub, nexts, repeat(1))))
            slow = list(compress(pairs, map(NEAR_LINES.__lt__, gaps)))
            if slow:  # and then within NEAR_LINES after them
                after = map(
                    sub, map(fallback_lines.__getitem__, map(_SECOND, slow)), map(_FIRST, slow)
                )
                slow = list(compress(slow, map(NEAR_LINES.__lt__, after)))
            found = len(lone) - len(slow)
        for i, k in slow:
            found += self._near_one(agg, i, k, ts)
        return found

    def _near_one(self, agg: Aggregate, i: int, k: int, ts: float | None) -> int:
        """One backend error line i (fallback_lines[k] is the first fallback line after it):
        1 if a fallback is near, else 0, and it waits for the next chunk when that can tell."""
        fallback_lines = self.fallback_lines
        assert fallback_lines is not None
        starts, shapes, low, begin = self.starts, self.shapes, self.low, self.begin
        s = starts[i]
        e = s + len(self.lines[i])
        j = fallback_lines[k - 1]
        q = starts[j] + shapes[j].fb_last if j >= 0 else -1
        if q >= 0 and s - q <= NEAR_WINDOW and i - j <= NEAR_LINES:
            return 1
        prev = self.scanner.prev_fallback
        if q < 0 and prev is not None and s - begin <= NEAR_WINDOW and prev[0] + i <= NEAR_LINES:
            return 1
        after = fallback_lines[k]
        r = starts[after] + shapes[after].fb_first if after < _FAR else -1
        if r >= 0 and r - e <= NEAR_WINDOW and after - i <= NEAR_LINES:
            return 1
        # Not by lines: by time (the line's own timestamp, read only now).
        exact = line_ts(low, begin, s, ts)
        if q >= 0:
            if s - q <= NEAR_WINDOW and close(exact, own_ts(low, q)):
                return 1
        elif prev is not None and s - begin <= NEAR_WINDOW and close(exact, prev[1]):
            return 1
        if r >= 0:
            return int(r - e <= NEAR_WINDOW and close(exact, own_ts(low, r)))
        if self.cut - e <= NEAR_WINDOW:
            self.scanner.pending.append((self.newlines - i, exact, agg))
        return 0

    def spans(self) -> None:
        """The first and last line of each category, for `feed` to timestamp (as `_record`
        leaves them in `_spans`: with the minute of the last one)."""
        starts, shapes = self.starts, self.shapes
        for cat, (ia, ib, ts) in self.last_seg.items():
            members = self.members[cat]
            tail = shapes[ia:ib]
            tail.reverse()
            last = starts[ib - 1 - _first_index(tail, members)]
            fa, fb = self.first_seg[cat]
            first = starts[fa + _first_index(shapes[fa:fb], members)]
            self.scanner._spans[cat.name] = (first, last, ts)


_FAR = 1 << 62  # a line number past any chunk's
_FIRST = itemgetter(0)
_SECOND = itemgetter(1)
_KEY_START = attrgetter("key_start")
_KEY_END = attrgetter("key_end")


def _first_index(seq: list[Shape], members: set[Shape]) -> int:
    return next(compress(range(len(seq)), map(members.__contains__, seq)))
