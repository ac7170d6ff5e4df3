"""Whole-chunk byte passes by StringZilla's SIMD kernels, where its wheel is installed.

On a debug log where errors are rare, two stdlib passes over every chunk went a byte at a
time and were half the scan: `bytes.lower` (0.28 ns a byte here) and the hit/miss regex
(0.66 ns: `re`'s literal-prefix search stops at every `c`). StringZilla (a PyPI wheel of
SIMD kernels) lowers a 4 MiB chunk through a 256-byte lookup table at 0.026 ns a byte and
counts a literal at 0.024-0.08 ns a byte, so the regex becomes nine counts
(`patterns.bulk_groups`); docs/benchmarks.md, issue 16. Its `find`/`rfind` look for the
first and last line of a bulk category in a minute (a rare fallback anchor: megabytes).
The anchors stay with libc's strstr (`fastfind`): as fast on rare needles, and listing
them is a call per offset either way.

The results are the stdlib's, byte for byte: the table is the stdlib's own lowering
(`bytes.lower` changes A-Z only), and `count`, `find` and `rfind` mean what the `bytes`
methods do, bounds included (a needle must lie wholly inside [start, end); occurrences
counted do not overlap). Without the wheel, or with CACHEDIAG_NO_SIMD=1, the same names
are the stdlib's methods.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from types import ModuleType

_LOWER_TABLE = bytes(range(256)).lower()


def _load() -> ModuleType | None:
    if os.environ.get("CACHEDIAG_NO_SIMD"):
        return None
    try:
        import stringzilla
    except ImportError:
        return None
    # Trust it only once it agrees with the stdlib on this machine (its kernels are picked
    # by the CPU's capabilities at import).
    probe = b"Cache HIT: a\x00Cache hits cache hit\n\xb5CACHE HIT \xc3\x89"
    low = probe.lower()
    n = len(probe)
    digits = bytes.maketrans(b"123456789", b"000000000")
    try:
        if (
            stringzilla.translate(probe, _LOWER_TABLE) != low
            or any(
                stringzilla.translate(low, digits, False, a, b) != low[a:b].translate(digits)
                for a, b in ((0, n), (1, n - 1), (5, 5))
            )
            or any(
                stringzilla.count(low, needle, a, b) != low.count(needle, a, b)
                or stringzilla.find(low, needle, a, b) != low.find(needle, a, b)
                or stringzilla.rfind(low, needle, a, b) != low.rfind(needle, a, b)
                for needle in (b"cache hit", b"\x00", b"\n")
                for a, b in ((0, n), (1, n - 1), (14, n), (0, 9), (5, 5))
            )
        ):
            return None  # pragma: no cover - a broken build
    except (AttributeError, TypeError, ValueError):  # pragma: no cover - another API
        return None
    return stringzilla


_SZ = _load()


def backend() -> str:
    """Which kernels run the bulk passes: "stringzilla" or "stdlib"."""
    return "stringzilla" if _SZ is not None else "stdlib"


def _sz_lower(data: bytes) -> bytes:
    assert _SZ is not None
    result: bytes = _SZ.translate(data, _LOWER_TABLE)
    return result


def translate(data: bytes, table: bytes, start: int, end: int) -> bytes:
    """data[start:end].translate(table) (a 256-byte table), without the slice's copy."""
    if _SZ is None:
        return data[start:end].translate(table)
    result: bytes = _SZ.translate(data, table, False, start, end)
    return result


lower: Callable[[bytes], bytes]
count: Callable[..., int]  # (data, needle[, start[, end]]) as bytes.count
find: Callable[..., int]  # as bytes.find
rfind: Callable[..., int]  # as bytes.rfind
if _SZ is not None:
    lower = _sz_lower
    count = _SZ.count
    find = _SZ.find
    rfind = _SZ.rfind
else:
    lower = bytes.lower
    count = bytes.count
    find = bytes.find
    rfind = bytes.rfind


def find_all(data: bytes, needle: bytes, start: int, end: int) -> list[int]:
    """Every offset of `needle` in data[start:end] (wholly inside), in order."""
    out: list[int] = []
    append = out.append
    pos = find(data, needle, start, end)
    while pos >= 0:
        append(pos)
        pos = find(data, needle, pos + 1, end)
    return out
