"""The SIMD kernels (`logscan.simd`, StringZilla's) give the stdlib's results, byte for byte."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from test_logscan import debug_log, outage_log, random_log, stable

from cachediag.logscan import scan_logs, scanner, simd
from cachediag.logscan.patterns import BULK_COUNTER, bulk_groups, group_counts

needs_simd = pytest.mark.skipif(
    simd.backend() != "stringzilla", reason="the stringzilla wheel is not in use"
)

# Pieces the hit/miss/error counting must tell apart, in every case and next to each other.
PIECES = [
    b"cache hit",
    b"Cache HIT: user:1",
    b"cache hits",
    b"cache hit rat",
    b"CACHE HIT RATE",
    b"cache hit ratio",
    b"cache miss",
    b"Cache MISS: k",
    b"cache misses",
    b"cache miss rat",
    b"cache miss, falling back",
    b"Cache miss, falling back to database",
    b"cache error",
    b"cache errors",
    b"Cache ERROR for session:1",
    b"cache ",
    b"cachecache hit",
    b"ccache miss",
    b"cache  hit",
    b"cache_hit",
    b"\x00",
    b"\n",
    b"\xb5",
    b"\xc3\x89",
    b"x",
    b" ",
]


def pieces_text(rnd: random.Random, n: int) -> bytes:
    return b"".join(rnd.choice(PIECES) for _ in range(n))


@needs_simd
def test_lower_is_bytes_lower_on_every_byte_value() -> None:
    rnd = random.Random(1)
    every = bytes(range(256)) * 3
    assert simd.lower(every) == every.lower()
    for _ in range(200):
        data = rnd.randbytes(rnd.randint(0, 5000))
        assert simd.lower(data) == data.lower()


@needs_simd
def test_translate_is_the_slice_translated() -> None:
    rnd = random.Random(5)
    digits = bytes.maketrans(b"123456789", b"000000000")
    for _ in range(200):
        data = rnd.randbytes(rnd.randint(0, 3000))
        a = rnd.randint(0, len(data))
        b = rnd.randint(a, len(data))
        assert simd.translate(data, digits, a, b) == data[a:b].translate(digits)


@needs_simd
def test_count_is_bytes_count_with_its_bounds() -> None:
    rnd = random.Random(2)
    for _ in range(300):
        data = pieces_text(rnd, rnd.randint(0, 200)).lower()
        n = len(data)
        needle = rnd.choice(PIECES).lower()
        a = rnd.randint(0, n + 3)
        b = rnd.randint(0, n + 3)
        assert simd.count(data, needle, a, b) == data.count(needle, a, b), (data, needle, a, b)
        assert simd.count(data, needle) == data.count(needle)


@pytest.mark.parametrize("seed", range(4))
def test_bulk_groups_are_the_regex_counts(seed: int) -> None:
    rnd = random.Random(seed)
    for _ in range(300):
        low = pieces_text(rnd, rnd.randint(0, 120)).lower()
        a = rnd.randint(0, len(low))
        b = rnd.randint(a, len(low))
        assert bulk_groups(low, a, b) == group_counts(BULK_COUNTER.findall(low, a, b)), (low, a, b)


def stdlib_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """The scan as it runs without the wheel."""
    monkeypatch.setattr(simd, "_SZ", None)
    monkeypatch.setattr(simd, "lower", bytes.lower)
    monkeypatch.setattr(simd, "count", bytes.count)
    monkeypatch.setattr(simd, "find", bytes.find)
    monkeypatch.setattr(simd, "rfind", bytes.rfind)
    monkeypatch.setattr(scanner, "ENUM_BYTES_PER_HIT", 1200)


@needs_simd
@pytest.mark.parametrize("chunk", [64 << 10, 1 << 20])
def test_debug_log_reports_the_same_without_the_wheel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    log, _ = debug_log(tmp_path / "debug.log")
    fast = scan_logs([str(log)], chunk_size=chunk)
    assert fast["engine"]["bulk"] == "stringzilla"
    stdlib_only(monkeypatch)
    slow = scan_logs([str(log)], chunk_size=chunk)
    assert slow["engine"]["bulk"] == "stdlib"
    assert stable(slow) == stable(fast)


@needs_simd
@pytest.mark.parametrize("seed", range(3))
def test_random_logs_report_the_same_without_the_wheel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    log = tmp_path / "random.log"
    log.write_bytes(random_log(random.Random(seed), 30_000))
    outage = tmp_path / "outage.log"
    outage.write_bytes(outage_log(random.Random(seed), 20_000))
    fast = [scan_logs([str(p)], chunk_size=128 << 10) for p in (log, outage)]
    stdlib_only(monkeypatch)
    slow = [scan_logs([str(p)], chunk_size=128 << 10) for p in (log, outage)]
    assert [stable(r) for r in slow] == [stable(r) for r in fast]


@needs_simd
def test_find_and_rfind_are_the_bytes_methods_with_their_bounds() -> None:
    rnd = random.Random(3)
    for _ in range(300):
        data = pieces_text(rnd, rnd.randint(0, 200)).lower()
        n = len(data)
        needle = rnd.choice(PIECES).lower()
        a = rnd.randint(0, n + 3)
        b = rnd.randint(0, n + 3)
        assert simd.find(data, needle, a, b) == data.find(needle, a, b), (data, needle, a, b)
        assert simd.rfind(data, needle, a, b) == data.rfind(needle, a, b), (data, needle, a, b)


def test_find_all_lists_every_offset_inside_the_bounds() -> None:
    rnd = random.Random(4)
    for _ in range(300):
        data = pieces_text(rnd, rnd.randint(0, 200)).lower()
        needle = rnd.choice(PIECES).lower()
        a = rnd.randint(0, len(data))
        b = rnd.randint(a, len(data))
        # every start, overlapping ones too (as strstr's listing steps one byte on)
        expected = [p for p in range(a, b - len(needle) + 1) if data.startswith(needle, p)]
        assert simd.find_all(data, needle, a, b) == expected, (data, needle, a, b)


@needs_simd
@pytest.mark.parametrize("with_errors", [True, False])
def test_cache_errors_beside_counted_hits_report_the_same_without_the_wheel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, with_errors: bool
) -> None:
    # Hits and misses dense enough to be counted per minute; "cache errors" (a counter,
    # not an error) in every chunk, and real cache errors only in one case.
    lines = []
    for i in range(40_000):
        stamp = f"2024-01-15T10:{i // 2000:02d}:{i % 60:02d}.{i % 1000:03d}Z"
        if i % 97 == 0:
            lines.append(f"{stamp} INFO stats: cache errors: 0, cache hits 7, cache hit rate 1")
        elif with_errors and i % 1999 == 0:
            lines.append(f"{stamp} WARN Cache ERROR for user:{i % 7}: Timeout, using fallback")
        else:
            lines.append(
                f"{stamp} DEBUG Cache {'HIT' if i % 3 else 'MISS'}: user:{i % 50} took 1ms"
            )
    log = tmp_path / "app.log"
    log.write_text("\n".join(lines) + "\n")
    fast = scan_logs([str(log)], chunk_size=256 << 10)
    stdlib_only(monkeypatch)
    slow = scan_logs([str(log)], chunk_size=256 << 10)
    assert stable(slow) == stable(fast)
    assert fast["counts"]["cache_error"] == (20 if with_errors else 0)  # (i = 0 is a stats line)
