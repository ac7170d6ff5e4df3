"""What the scanner looks for: categories of log lines, their literal anchors and checks.

Lines are matched lowercased (matching is case-insensitive). A line can belong to a
category only if it contains one of the category's `anchors` (plain substrings, found at
C speed over whole chunks); `verify`, when set, must then also match the lowercased line,
which keeps e.g. "connection_timeout=5s" out of `timeout`.

Message texts come from cache-kit and the troubleshooting guide
(../shared/guide/cache-kit-facts.md): "Cache serialization failed", "Invalid cache entry:
expected magic ...", "Cache version mismatch", "Connection pool exhausted: 10 active, 3
waiting", "Cache backend unavailable: ..., using fallback", "Backend error: ...",
"Timeout: ...", "Cache miss, falling back to database", "Redis FLUSHDB executed",
"Cache HIT: <key> took ...", "Cache MISS: <key> took ...".

`verify` is a tuple of tests, any of which may pass: a bytes literal (a substring test) or
a regex (searched); literals and regexes starting with a literal are cheap.

`bulk` categories (hits, misses, fallbacks) may be the majority of a debug log: when a chunk
holds many of them they are counted with `bytes.count` per minute of the chunk instead of
line by line, occurrences of an `exclude` literal (which contain the anchor) subtracted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cachediag.logscan import simd


@dataclass(frozen=True, eq=False)  # compared by identity: they are singletons
class Category:
    name: str
    severity: str  # "error", "warning" or "info"
    description: str
    anchors: tuple[
        bytes, ...
    ]  # a line must hold one; chosen to be searched fast (rare bigram first)
    verify: tuple[bytes | re.Pattern[bytes], ...] = ()
    exclude: tuple[bytes, ...] = ()  # bulk only: anchor + more, occurrences not counted
    bulk: bool = False
    keys: bool = False  # affected keys are collected from its lines
    bulk_group: bytes = b""  # its group value in BULK_COUNTER, if that counts it
    # Not bulk, but BULK_COUNTER sees it: in chunks where that regex runs anyway, the anchor
    # is only searched for if the regex found some.
    detect_group: bytes = b""
    # A rarer piece of the (single) anchor and its offset in it, searched instead of the
    # anchor as long as it is not too frequent: "cache error" starts with a bigram common in
    # debug logs ("ca"), which slows strstr down; "e error" is found twice as fast.
    probe: tuple[bytes, int] | None = None

    def matches(self, line: bytes) -> bool:
        """Does the lowercased line belong to this category?"""
        for anchor in self.anchors:
            if anchor in line:
                break
        else:
            return False
        return self.verified(line)

    def verified(self, line: bytes) -> bool:
        """The `verify` tests, for a line known to hold an anchor."""
        if not self.verify:
            return True
        # Any one test is enough: the literals first, they cost a fraction of a regex.
        for test in self.verify:
            if isinstance(test, bytes) and test in line:
                return True
        for test in self.verify:
            if not isinstance(test, bytes) and test.search(line) is not None:
                return True
        return False


_ERROR_WORD = (
    rb"(?:fail|err|invalid|unsupported|unexpected|corrupt|mismatch|unable|cannot|could not)"
)

CATEGORIES: tuple[Category, ...] = (
    Category(
        "serialization",
        "error",
        "serialization/deserialization failed, invalid cache entry or magic header,"
        " version mismatch",
        (b"ializ", b"nvalid", b"smatch"),
        (
            re.compile(rb"serializ[^\n]*?" + _ERROR_WORD),
            re.compile(rb"(?:fail\w*|unable|cannot|could not)(?: to)? (?:de)?serializ"),
            b"invalid cache entry",
            b"version mismatch",
            b"magic header",
            re.compile(rb"(?:invalid|bad|wrong|unexpected|expected) magic"),
        ),
        keys=True,
    ),
    Category(
        "pool_exhausted",
        "error",
        "connection pool exhausted",
        (b"xhaust",),
        (b"pool",),
        keys=True,
    ),
    Category(
        "backend_unavailable",
        "warning",
        "backend unavailable, connection refused or reset, backend error",
        (b"vailab", b"efused", b"kend err", b"ion reset"),
        (
            re.compile(
                rb"(?:backend|cache|redis|memcached?|valkey|server|connection)\W+(?:is\W+|was\W+)?unavailable"
            ),
            b"connection refused",
            b"refused connection",
            b"backend error",
            b"connection reset",
        ),
        keys=True,
    ),
    Category(
        "timeout",
        "warning",
        "timeouts",
        (b"imeout", b"imed"),
        (re.compile(rb"timeout(?<![a-z_.-]timeout)(?![a-z_.=-])"), re.compile(rb"timed[ _]?out")),
        keys=True,
    ),
    Category(
        "cache_error",
        "warning",
        'other cache errors (cache-kit "Cache ERROR for <key>: ...", "Cache error: ...")',
        (b"cache error",),
        (re.compile(rb"cache error(?!s)"),),
        keys=True,
        detect_group=b"e",
        probe=(b"e error", 4),
    ),
    Category(
        "fallback",
        "info",
        "fallback used (using fallback, falling back to database)",
        (b"fallback", b"falling back"),
        bulk=True,
    ),
    Category(
        "flush",
        "warning",
        "cache flushed (FLUSHDB / FLUSHALL / FLUSH_ALL executed)",
        (b"flush",),
        (b"flushdb", b"flushall", b"flush_all"),
    ),
    Category(
        "hit",
        "info",
        "cache hits where logged",
        (b"cache hit",),
        (re.compile(rb"cache hit(?!s| rat)"),),
        exclude=(b"cache hits", b"cache hit rat"),
        bulk=True,
        bulk_group=b"h",
    ),
    Category(
        "miss",
        "info",
        "cache misses where logged",
        (b"cache miss",),
        # Not "Cache miss, falling back to database": cache-kit's expander logs it after
        # the "Cache MISS: <key>" of the same miss, so it is counted as a fallback only.
        (re.compile(rb"cache miss(?!es| rat|, falling back)"),),
        exclude=(b"cache misses", b"cache miss rat", b"cache miss, falling back"),
        bulk=True,
        bulk_group=b"m",
    ),
)

# One pass counting hits and misses (their `verify` and `exclude`, as a regex with a literal
# prefix, which `re` searches fast): the group is the category's `bulk_group` (or
# `detect_group`).
BULK_COUNTER = re.compile(
    rb"cache (h(?=it(?!s| rat))|m(?=iss(?!es| rat|, falling back))|e(?=rror(?!s)))"
)


def group_counts(found: list[bytes]) -> dict[bytes, int]:
    """How many of each one-letter group BULK_COUNTER matched (hit, miss, error)."""
    # Joined first: counting bytes in one short string is ~2× cheaper than two
    # `list.count` passes comparing thousands of objects (≈ 3 % of a debug log's scan).
    letters = b"".join(found)
    hits = letters.count(b"h")
    misses = letters.count(b"m")
    return {b"h": hits, b"m": misses, b"e": len(letters) - hits - misses}


# BULK_COUNTER's groups as counts of literals: every match starts with "cache ", which
# cannot overlap itself, so the regex's matches are exactly the occurrences of each
# group's literal less those continued the way its lookahead refuses. By StringZilla those
# are a few SIMD passes (0.3 ns a byte for all of them here) against 0.66 for the regex.
_GROUP_LITERALS = (
    (b"h", b"cache hit", (b"cache hits", b"cache hit rat")),
    (b"m", b"cache miss", (b"cache misses", b"cache miss rat", b"cache miss, falling back")),
    (b"e", b"cache error", (b"cache errors",)),
)


_COUNTED_GROUPS = frozenset(c.bulk_group for c in CATEGORIES if c.bulk_group)  # hit, miss


def bulk_groups(low: bytes, start: int, end: int, detect: bool = True) -> dict[bytes, int]:
    """`group_counts` of BULK_COUNTER's findall over low[start:end], the fastest way at hand
    (by literal counts, without the detect-only groups unless `detect`)."""
    if simd.backend() != "stringzilla":
        return group_counts(BULK_COUNTER.findall(low, start, end))
    count = simd.count
    groups = {}
    for group, literal, refused in _GROUP_LITERALS:
        if not detect and group not in _COUNTED_GROUPS:
            continue
        n = count(low, literal, start, end)
        if n:  # (each refused form starts with the literal: none where it is absent)
            n -= sum(count(low, x, start, end) for x in refused)
        groups[group] = n
    return groups


BY_NAME = {c.name: c for c in CATEGORIES}
CATEGORY_NAMES = tuple(c.name for c in CATEGORIES)

# Backend errors after which app.fallback expects to see a fallback line nearby.
BACKEND_ERROR_CATEGORIES = ("backend_unavailable", "timeout", "cache_error")
FALLBACK_ANCHORS = (b"fallback", b"falling back")
NEAR_LINES = 5
NEAR_SECONDS = 5.0
NEAR_WINDOW = 64 * 1024  # bytes searched either side of a backend error
