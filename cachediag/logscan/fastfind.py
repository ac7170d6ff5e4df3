"""Find every occurrence of a literal in a chunk, at C speed.

`bytes.find` runs at ~3 GB/s per needle, and the scanner looks for a dozen needles in
every chunk. glibc's `strstr` is vectorised (40-70 GB/s here on rare needles), so when
it is available the scanner calls it through ctypes on the chunk's own buffer (no copy).
That is only safe on a NUL-terminated buffer without NULs inside: CPython guarantees the
terminator for `bytes` objects and `Haystack` replaces inner NULs (positions are kept).

Set CACHEDIAG_NO_LIBC=1 to use the pure-Python path (same results, slower).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

_StrStr = Callable[[int, bytes], "int | None"]


def _load_strstr() -> _StrStr | None:
    if os.environ.get("CACHEDIAG_NO_LIBC") or sys.implementation.name != "cpython":
        return None
    if os.name != "posix":
        return None
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        fn = libc.strstr
        fn.restype = ctypes.c_void_p
        fn.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    except (OSError, AttributeError):  # pragma: no cover - platform without a usable libc
        return None
    # Sanity check on this platform before trusting it with every chunk.
    probe = b"abc\x01needle\x01"
    base = _address(probe)
    found = fn(base, b"needle")
    if found is None or found - base != 4 or fn(base + 5, b"needle") is not None:
        return None  # pragma: no cover
    return fn


def _address(data: bytes) -> int:
    import ctypes

    value = ctypes.cast(ctypes.c_char_p(data), ctypes.c_void_p).value
    assert value is not None
    return value


_STRSTR = _load_strstr()


def backend() -> str:
    """Which search is in use: "libc-strstr" or "python"."""
    return "libc-strstr" if _STRSTR is not None else "python"


class Haystack:
    """A lowered chunk, searchable in [begin, end) (outside: partial lines of other chunks)."""

    __slots__ = ("_addr", "begin", "data", "end")

    def __init__(self, data: bytes, end: int, begin: int = 0) -> None:
        if _STRSTR is not None and b"\x00" in data:
            data = data.replace(b"\x00", b"\x01")  # strstr stops at NUL; same length
        self.data = data
        self.begin = begin
        self.end = end
        self._addr = _address(data) if _STRSTR is not None else 0

    def find_all(
        self,
        needle: bytes,
        limit: int | None = None,
        start: int | None = None,
        out: list[int] | None = None,
        end: int | None = None,
    ) -> tuple[list[int], bool]:
        """Offsets of `needle` in [start (default begin), end (default the haystack's)),
        in order, and whether the list is complete.

        With a `limit`, stops once `out` holds more than `limit` offsets (complete=False):
        the caller then counts the rest another way, or resumes after the last offset.
        """
        if out is None:
            out = []
        if start is None:
            start = self.begin
        if end is None:
            end = self.end
        if _STRSTR is not None:
            strstr = _STRSTR
            addr = self._addr
            stop = addr + end - len(needle)
            pointer = addr + start
            append = out.append
            room = (1 << 62) if limit is None else limit - len(out)
            while True:  # the hot loop of dense anchors: keep it lean
                found = strstr(pointer, needle)
                if found is None or found > stop:
                    return out, True
                append(found - addr)
                room -= 1
                if room < 0:
                    return out, False
                pointer = found + 1
        data = self.data
        pos = data.find(needle, start, end)
        while pos >= 0:
            out.append(pos)
            if limit is not None and len(out) > limit:
                return out, False
            pos = data.find(needle, pos + 1, end)
        return out, True


_malloc_tuned = False


def keep_heap() -> None:
    """Ask glibc malloc to keep freed chunk buffers instead of returning them to the OS.

    Each chunk allocates a few MiB-sized buffers that are freed right after. By default
    glibc hands such memory back (mmap threshold, heap trimming) and the next chunk page-
    faults it in again: ~240k minor faults per GiB, about a fifth of the scan time. With a
    32 MiB mmap threshold and a 64 MiB trim threshold they are reused. Process-wide and
    harmless: it only changes when memory is returned, not how much is used.
    """
    global _malloc_tuned
    if _malloc_tuned or _STRSTR is None:
        return
    _malloc_tuned = True
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):
            return
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
        mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD
        mallopt(-1, 64 << 20)  # M_TRIM_THRESHOLD
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not glibc
        return
