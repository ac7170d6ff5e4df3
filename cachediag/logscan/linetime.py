"""Timestamps of lines in a lowered chunk: a line's own, the one it inherits, and where the
first line at or after an instant is (lines in time order)."""

from __future__ import annotations

from cachediag.logscan.patterns import NEAR_SECONDS
from cachediag.logscan.timestamps import line_timestamp

PROBE_LINES = 64  # lines looked at when searching a timestamp backwards or forwards
LINEAR_BYTES = 4096  # below this, a bisection goes on line by line

_NL = b"\n"


def close(a: float | None, b: float | None) -> bool:
    return a is not None and b is not None and abs(a - b) <= NEAR_SECONDS


def line_ts(low: bytes, begin: int, p: int, fallback: float | None) -> float | None:
    """The timestamp the line holding offset p has or inherits (looking back from it, not
    before begin); `fallback` (its minute segment's) if none is found."""
    e = low.find(_NL, p)
    e = len(low) if e < 0 else e
    s = low.rfind(_NL, 0, p) + 1
    for _ in range(PROBE_LINES):
        if s < begin:
            break
        t = line_timestamp(low, s, e)
        if t is not None:
            return t
        if s <= begin:
            break
        e = s - 1
        s = low.rfind(_NL, 0, e) + 1
    return fallback


def own_ts(low: bytes, p: int) -> float | None:
    """Timestamp written on the line that holds offset p."""
    s = low.rfind(_NL, 0, p) + 1
    e = low.find(_NL, p)
    return line_timestamp(low, s, len(low) if e < 0 else e)


def next_ts_line(low: bytes, pos: int, limit: int) -> tuple[int, float | None]:
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


def last_ts_line(low: bytes, begin: int, cut: int) -> tuple[int, float | None]:
    """Last line in [begin, cut) with a timestamp (looking at most PROBE_LINES back)."""
    end = cut - 1 if cut > begin and low[cut - 1] == 10 else cut
    for _ in range(PROBE_LINES):
        if end <= begin:
            break
        s = max(begin, low.rfind(_NL, 0, end) + 1)
        t = line_timestamp(low, s, end)
        if t is not None:
            return s, t
        end = s - 1
    return -1, None


def first_at_or_after(low: bytes, when: float, lo: int, hi: int) -> tuple[int, float | None]:
    """First timestamped line in (lo, hi) stamped at or after `when` (time-ordered lines)."""
    best: tuple[int, float | None] = (hi, None)
    while hi - lo > LINEAR_BYTES:
        mid = (lo + hi) // 2
        p, tp = next_ts_line(low, mid, best[0])
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
