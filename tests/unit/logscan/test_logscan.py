"""cachediag.logscan: categories, timestamps, keys, redaction, streaming, speed paths.

Every log here is written by the test. Times in logs without a zone are local time, so
the tests that use them pin the process to UTC.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from cachediag.logscan import LogScanError, fastfind, scan_logs, scanner
from cachediag.logscan import api as logscan_api
from cachediag.logscan.keys import KeyCounter, extract_keys
from cachediag.logscan.reader import iter_chunks
from cachediag.logscan.stats import MAX_MINUTES, CatStats
from cachediag.logscan.timestamps import iso, line_timestamp, parse_duration, parse_when
from cachediag.safety.redact import redact, sample_text

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def write(path: Path, lines: list[str] | list[bytes], gz: bool = False) -> Path:
    raw = [line if isinstance(line, bytes) else line.encode() for line in lines]
    data = b"\n".join(raw) + b"\n"
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def stable(report: dict[str, Any]) -> dict[str, Any]:
    """The report without what depends on the run (time, engine, file names)."""
    out = json.loads(json.dumps(report))
    for key in ("generated_at", "duration_ms", "engine", "sources"):
        out.pop(key)
    for cat in out["categories"].values():
        for sample in cat["samples"]:
            sample.pop("source")
    return out


# --- categories, counts, timestamps ------------------------------------------------------

MIXED = [
    "2024-01-15T10:23:45.120Z INFO app: request served path=/api/users/1",
    "2024-01-15T10:23:46Z ERROR cache_kit::expander: Cache deserialization failed: "
    "Deserialization error: unexpected end of input key=user:123",
    "2024-01-15 10:24:01 WARN: Serialization failed for user:456: Unsupported type",
    "2024-01-15 10:24:02 WARN cache_kit: Invalid cache entry: expected magic [67, 75, 73,"
    " 84], got [0, 0, 0, 0]",
    "2024-01-15 10:24:03 WARN cache_kit: Cache version mismatch: expected 1, got 2"
    " key=product:prod_9",
    "2024-01-15 10:24:04 INFO codec: using postcard serialization for user:1",
    "2024-01-15T10:25:00+01:00 ERROR app::db: Connection pool exhausted: 10 active, 3 waiting",
    "2024-01-15T10:25:01Z WARN app: Cache backend unavailable: Connection refused (os error"
    " 111), using fallback",
    "2024-01-15T10:25:02Z WARN cache_kit: Cache ERROR for session:abc: Backend error:"
    " connection reset",
    "2024-01-15T10:25:03Z INFO config: connection_timeout=5s read_timeout=1s",
    "2024-01-15T10:25:04Z WARN cache_kit: Cache ERROR for order:42: Timeout: operation timed"
    " out after 500ms",
    "2024-01-15T10:25:05Z WARN ⚠ Redis FLUSHDB executed - all cache cleared!",
    "2024-01-15T10:25:06Z DEBUG cache_kit: Cache HIT: user:1 took 120µs",
    "2024-01-15T10:25:07Z DEBUG cache_kit: Cache MISS: user:2 took 3ms",
    "2024-01-15T10:25:07Z DEBUG cache_kit: Cache miss, falling back to database",
    "2024-01-15T10:25:08Z INFO stats: cache hit rate 0.5, cache hits 10, cache misses 10",
]


def test_every_category_counted_with_first_last_and_histogram(tmp_path: Path, utc: None) -> None:
    report = scan_logs([str(write(tmp_path / "app.log", MIXED))])
    assert report["schema"] == "cachediag.logs/v1"
    assert report["counts"] == {
        "serialization": 4,  # deserialization failed, Serialization failed, magic, version
        "pool_exhausted": 1,
        "backend_unavailable": 2,  # refused, Backend error (connection reset)
        "timeout": 1,  # not the connection_timeout=5s config line
        "cache_error": 2,
        "fallback": 2,
        "flush": 1,
        "hit": 1,  # not "cache hit rate", not "cache hits"
        # Cache MISS; not "cache misses", nor "Cache miss, falling back" (a fallback,
        # logged after the Cache MISS of the same miss)
        "miss": 1,
    }
    ser = report["categories"]["serialization"]
    assert ser["first"] == "2024-01-15T10:23:46Z"
    assert ser["last"] == "2024-01-15T10:24:03Z"
    assert ser["histogram"] == {"2024-01-15T10:23:00Z": 1, "2024-01-15T10:24:00Z": 3}
    assert ser["severity"] == "error"
    assert [s["offset"] for s in ser["samples"]] == sorted(s["offset"] for s in ser["samples"])
    assert "Unsupported type" in ser["samples"][1]["text"]
    pool = report["categories"]["pool_exhausted"]
    assert pool["first"] == pool["last"] == "2024-01-15T09:25:00Z"  # +01:00 converted to UTC
    assert report["categories"]["flush"]["samples"][0]["text"].endswith("all cache cleared!")
    assert report["categories"]["hit"]["top_keys"] == []


def test_three_timestamp_formats(utc: None) -> None:
    def ts(line: str) -> float | None:
        low = line.lower().encode()
        return line_timestamp(low, 0, len(low))

    expected = datetime(2024, 1, 15, 10, 23, 45, tzinfo=timezone.utc).timestamp()
    assert ts("2024-01-15T10:23:45Z x") == expected
    assert ts("2024-01-15T10:23:45.250Z x") == expected + 0.25
    assert ts("2024-01-15T11:23:45+01:00 x") == expected
    assert ts("2024-01-15 10:23:45 WARN x") == expected  # local time, here UTC
    assert ts("2024-01-15 10:23:45,500 WARN x") == expected + 0.5
    assert ts("[2024-01-15 10:23:45] x") == expected
    assert ts("INFO 2024-01-15T10:23:45Z x") == expected
    now = datetime.now(timezone.utc)
    past = now - timedelta(days=10)
    syslog = past.strftime("%b %d %H:%M:%S") + " host app[1]: x"
    assert ts(syslog) == past.replace(microsecond=0).timestamp()
    padded = past.strftime("%b ") + f"{past.day:>2}" + past.strftime(" %H:%M:%S") + " host: x"
    assert ts(padded) == past.replace(microsecond=0).timestamp()
    assert ts("no timestamp here") is None
    assert ts("2024-13-45 10:23:45 bad month") is None
    assert ts("version 1.2024-01-15 10:23:45") is None


def test_durations_and_when() -> None:
    assert parse_duration("30m") == 1800
    assert parse_duration("2h") == 7200
    assert parse_duration("1d") == 86400
    assert parse_duration("1h30m") == 5400
    assert parse_duration("45s") == 45
    assert parse_duration("2x") is None
    assert parse_duration("") is None
    assert parse_when("2h", "--since", now=10_000.0) == 10_000.0 - 7200
    assert parse_when("2024-01-15T10:00:00Z", "--since") == 1705312800.0
    with pytest.raises(ValueError, match="--since"):
        parse_when("yesterday-ish", "--since")


def test_journalctl_forms_of_since() -> None:
    import time
    from datetime import datetime

    now = 1_705_312_800.0  # 2024-01-15T10:00:00Z
    assert parse_when("-2h", "--since", now=now) == now - 7200
    assert parse_when("2h ago", "--since", now=now) == now - 7200
    assert parse_when("2 hours ago", "--since", now=now) == now - 7200
    assert parse_when("+30m", "--until", now=now) == now + 1800
    assert parse_when("now", "--until", now=now) == now
    assert parse_when("@1705312800", "--since", now=now) == now
    midnight = time.mktime(
        datetime.fromtimestamp(now).replace(hour=0, minute=0, second=0).timetuple()
    )
    assert parse_when("today", "--since", now=now) == midnight
    assert parse_when("Yesterday", "--since", now=now) == midnight - 86400
    assert parse_when("2024-01-15", "--since", now=now) == time.mktime(
        (2024, 1, 15, 0, 0, 0, 0, 0, -1)
    )
    for bad in ("-٢h", "٢h ago", "@١٧", "- 2h ago", "2h  ago ago", "today-1"):
        with pytest.raises(ValueError, match="invalid --since"):
            parse_when(bad, "--since", now=now)


# --- keys -------------------------------------------------------------------------------


def test_affected_keys_per_namespace_and_key(tmp_path: Path) -> None:
    lines = [
        "2024-01-15 10:00:01 WARN: Serialization failed for user:123: Unsupported type",
        "2024-01-15 10:00:02 WARN: Serialization failed for user:123: Unsupported type",
        "2024-01-15 10:00:03 WARN: Serialization failed for user:456: Unsupported type",
        "2024-01-15 10:00:04 ERROR Cache deserialization failed key=product:prod_1",
        "2024-01-15 10:00:05 WARN Backend error: Connection refused (redis:6379) for cart:9:items",
        "2024-01-15 10:00:06 DEBUG Cache HIT: user:999 took 1ms",  # hits name no affected key
        "2024-01-15 10:00:07 DEBUG Cache MISS: user:998 took 1ms",
    ]
    report = scan_logs([str(write(tmp_path / "app.log", lines))])
    keys = report["keys"]
    assert keys["namespaces"][0] == {"namespace": "user", "mentions": 3, "distinct_keys": 2}
    assert {n["namespace"] for n in keys["namespaces"]} == {"user", "product", "cart"}
    assert keys["top"][0] == {"key": "user:123", "count": 2}
    named = {k["key"] for k in keys["top"]}
    assert named == {"user:123", "user:456", "product:prod_1", "cart:9:items"}
    assert report["categories"]["serialization"]["top_keys"][0] == {"key": "user:123", "count": 2}
    assert report["categories"]["backend_unavailable"]["top_keys"] == [
        {"key": "cart:9:items", "count": 1}
    ]


def test_key_extraction_rules() -> None:
    assert extract_keys(b"2024-01-15T10:23:45Z WARN app::cache: failed for user:123: x") == [
        b"user:123"
    ]
    assert extract_keys(b"url=redis://user:pw@host:6379/0 refused (localhost:6379)") == []
    assert extract_keys(b"key=order:42:items. and session:abc") == [
        b"order:42:items",
        b"session:abc",
    ]
    assert extract_keys(b"token:abcdef used") == [b"token:***"]


def test_key_counter_is_bounded_and_keeps_the_top() -> None:
    counter = KeyCounter(max_keys=100)
    for _ in range(50):
        counter.add(b"user:hot")
    for i in range(1000):
        counter.add(b"user:%d" % i)
    assert len(counter.keys) <= 100
    assert counter.truncated
    assert counter.top(1) == [(b"user:hot", 50)]
    assert counter.namespaces[b"user"][0] == 1050


# --- redaction, escaping, odd bytes -----------------------------------------------------


def test_secrets_are_redacted_in_samples(tmp_path: Path) -> None:
    lines = [
        "2024-01-15 10:00:01 ERROR Backend error: connect"
        " redis://app:hunter2@cache.internal:6379/0 refused",
        "2024-01-15 10:00:02 ERROR Serialization failed password=s3cr3t token=abc.def"
        " secret: topsecret",
        "2024-01-15 10:00:03 ERROR Serialization failed"
        ' {"api_key": "k-123", "Authorization": "Bearer eyJhbGci"}',
        "2024-01-15 10:00:04 ERROR Backend error: Authorization: Basic dXNlcjpwYXNz rejected",
    ]
    report = scan_logs([str(write(tmp_path / "app.log", lines))])
    text = json.dumps(report)
    for secret in (
        "hunter2",
        "s3cr3t",
        "abc.def",
        "topsecret",
        "k-123",
        "eyJhbGci",
        "dXNlcjpwYXNz",
    ):
        assert secret not in text
    samples = [s["text"] for c in report["categories"].values() for s in c["samples"]]
    assert any("redis://app:***@cache.internal:6379/0" in s for s in samples)
    assert any("password=*** token=*** secret: ***" in s for s in samples)
    assert any("Authorization: Basic ***" in s for s in samples)


def test_redact_function() -> None:
    assert redact("redis://:pw@h:1") == "redis://:***@h:1"
    assert redact("Proxy-Authorization: Bearer abc") == "Proxy-Authorization: Bearer ***"
    assert redact("no secrets here") == "no secrets here"


def test_escapes_markup_and_non_utf8_bytes(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_bytes(
        b"2024-01-15 10:00:01 ERROR Serialization failed \x1b[2J [bold red]x[/] for user:1\n"
        b"2024-01-15 10:00:02 ERROR Serialization failed \xff\xfe\xc3( not utf-8 user:2\n"
        b"\xff\xff\xff\n"
    )
    report = scan_logs([str(path)])
    samples = [s["text"] for s in report["categories"]["serialization"]["samples"]]
    assert report["counts"]["serialization"] == 2
    assert "\x1b" not in samples[0] and "\\x1b[2J" in samples[0]
    assert "[bold red]x[/]" in samples[0]  # kept as text; renderers never parse it as markup
    assert "\\xff\\xfe\\xc3(" in samples[1]
    assert sample_text(b"a\tb\r\n") == "a\\tb"


# --- inputs -----------------------------------------------------------------------------


@pytest.mark.parametrize("chunk", [7, 64, 1000, 1 << 20])
def test_chunks_are_whole_lines_at_the_right_offsets(tmp_path: Path, chunk: int) -> None:
    rnd = random.Random(chunk)
    lines = [b"x" * rnd.choice([0, 1, 5, 80, 300, 2500]) + b"%d" % i for i in range(400)]
    content = b"\n".join(lines)  # no final newline
    path = tmp_path / "a.log"
    path.write_bytes(content)
    with open(path, "rb") as handle:
        pieces = list(iter_chunks(handle, chunk, max_line=1 << 30))
    assert b"".join(buf[begin:cut] for buf, begin, cut, _ in pieces) == content
    for buf, begin, cut, base in pieces:
        assert content[base + begin : base + cut] == buf[begin:cut]
        assert buf[cut - 1 : cut] == b"\n" or base + cut == len(content)
    # a range of the file, between two line starts
    start = content.index(b"\n", len(content) // 3) + 1
    end = content.index(b"\n", 2 * len(content) // 3) + 1
    with open(path, "rb") as handle:
        pieces = list(iter_chunks(handle, chunk, 1 << 30, start, end))
    assert b"".join(buf[begin:cut] for buf, begin, cut, _ in pieces) == content[start:end]


def test_gzip_equals_plain_and_globs(tmp_path: Path, utc: None) -> None:
    plain = write(tmp_path / "a.log", MIXED)
    zipped = write(tmp_path / "b.log.gz", MIXED, gz=True)
    a = scan_logs([str(plain)])
    b = scan_logs([str(zipped)])
    assert stable(a) == stable(b)
    assert b["sources"][0]["kind"] == "gzip"
    assert b["sources"][0]["scanned_bytes"] == plain.stat().st_size
    both = scan_logs([str(tmp_path / "*.log*")])
    assert [s["name"] for s in both["sources"]] == [str(plain), str(zipped)]
    assert both["counts"]["serialization"] == 2 * a["counts"]["serialization"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["/nonexistent/app.log"], "no such file"),
        (["/nonexistent/*.log"], "no file matches"),
        ([], "no log file given"),
    ],
)
def test_bad_inputs_raise_one_sentence(args: list[str], message: str) -> None:
    with pytest.raises(LogScanError, match=message):
        scan_logs(args)


def test_directory_and_bad_since(tmp_path: Path) -> None:
    with pytest.raises(LogScanError, match="directory"):
        scan_logs([str(tmp_path)])
    log = write(tmp_path / "a.log", MIXED)
    with pytest.raises(LogScanError, match="invalid --since value"):
        scan_logs([str(log)], since="two hours")
    with pytest.raises(LogScanError, match="later than --until"):
        scan_logs([str(log)], since="2024-01-16T00:00:00Z", until="2024-01-15T00:00:00Z")


# --- time filter and inherited timestamps -----------------------------------------------


def test_since_until_and_inherited_timestamps(tmp_path: Path, utc: None) -> None:
    lines = [
        "2024-01-15 10:00:00 ERROR Serialization failed for user:1",
        "2024-01-15 10:30:00 ERROR Serialization failed for user:2",
        "    at cache_kit::expander (no timestamp: inherits 10:30) serialization error for user:3",
        "2024-01-15 11:00:00 ERROR Serialization failed for user:4",
        "    serialization error continued for user:5",
    ]
    log = str(write(tmp_path / "app.log", lines))
    everything = scan_logs([log])
    assert everything["counts"]["serialization"] == 5
    assert everything["categories"]["serialization"]["histogram"] == {
        "2024-01-15T10:00:00Z": 1,
        "2024-01-15T10:30:00Z": 2,
        "2024-01-15T11:00:00Z": 2,
    }
    window = scan_logs([log], since="2024-01-15T10:15:00Z", until="2024-01-15T10:45:00Z")
    assert window["counts"]["serialization"] == 2
    assert {k["key"] for k in window["keys"]["top"]} == {"user:2", "user:3"}
    assert window["window"] == {"since": "2024-01-15T10:15:00Z", "until": "2024-01-15T10:45:00Z"}
    assert scan_logs([log], since="2024-01-15T10:30:00Z")["counts"]["serialization"] == 4
    assert scan_logs([log], until="2024-01-15T10:30:00Z")["counts"]["serialization"] == 3


def test_since_as_a_duration(tmp_path: Path) -> None:
    now = datetime.now(timezone.utc)
    stamps = [now - timedelta(hours=3), now - timedelta(minutes=90), now - timedelta(minutes=10)]
    lines = [
        f"{t.strftime('%Y-%m-%dT%H:%M:%SZ')} ERROR Serialization failed for user:{i}"
        for i, t in enumerate(stamps)
    ]
    log = str(write(tmp_path / "app.log", lines))
    assert scan_logs([log], since="2h")["counts"]["serialization"] == 2
    assert scan_logs([log], since="30m")["counts"]["serialization"] == 1
    assert scan_logs([log], until="1h")["counts"]["serialization"] == 2


def test_lines_without_any_timestamp(tmp_path: Path) -> None:
    lines = [
        "Serialization failed for user:1",
        "Connection pool exhausted: 3 active",
        "Cache HIT: user:1",
    ]
    log = str(write(tmp_path / "app.log", lines))
    report = scan_logs([log])
    ser = report["categories"]["serialization"]
    assert (ser["count"], ser["untimed"], ser["first"], ser["histogram"]) == (1, 1, None, {})
    assert report["counts"]["pool_exhausted"] == 1
    assert scan_logs([log], since="1d")["counts"]["serialization"] == 0  # can't be placed in time


# --- fallback near backend errors -------------------------------------------------------


def test_fallback_proximity(tmp_path: Path) -> None:
    lines = [
        "2024-01-15 10:00:00 WARN Cache backend unavailable: refused, using fallback",  # same line
        "2024-01-15 10:01:00 ERROR Backend error: connection refused",  # next line
        "2024-01-15 10:01:00 DEBUG Cache miss, falling back to database",
    ]
    lines += [f"2024-01-15 10:02:{i:02d} INFO filler {i}" for i in range(30)]
    lines += ["2024-01-15 10:03:00 ERROR Timeout: read timed out"]  # alone: no fallback near
    lines += [f"2024-01-15 10:04:{i:02d} INFO filler {i}" for i in range(30)]
    lines += [
        # the fallback comes 8 lines later, but 2 s later: near
        "2024-01-15 10:05:00 ERROR Backend error: connection refused",
    ]
    lines += [f"2024-01-15 10:05:01 INFO filler {i}" for i in range(7)]
    lines += ["2024-01-15 10:05:02 DEBUG using fallback"]
    report = scan_logs([str(write(tmp_path / "app.log", lines))])
    near = report["fallback_proximity"]
    assert near["backend_errors"] == 4
    assert near["with_fallback_nearby"] == 3
    assert near["without_fallback_nearby"] == 1
    assert (near["near_lines"], near["near_seconds"]) == (5, 5.0)


def test_fallback_proximity_across_chunks(tmp_path: Path) -> None:
    filler = [
        f"2024-01-15 10:00:00 INFO filler line number {i:05d} " + "x" * 60 for i in range(400)
    ]
    lines = [*filler, "2024-01-15 10:00:01 ERROR Backend error: refused"]
    lines += ["2024-01-15 10:00:01 DEBUG Cache miss, falling back to database", *filler]
    lines += ["2024-01-15 10:00:09 DEBUG falling back to database", *filler]
    lines += ["2024-01-15 10:00:30 ERROR Backend error: refused", *filler]
    log = str(write(tmp_path / "app.log", lines))
    whole = scan_logs([log])
    assert whole["fallback_proximity"]["backend_errors"] == 2
    assert whole["fallback_proximity"]["with_fallback_nearby"] == 1
    for chunk in (4096, 16384, 30_000):
        assert stable(scan_logs([log], chunk_size=chunk)) == stable(whole), chunk


@pytest.mark.parametrize("fallback_first", [False, True])
def test_fallback_in_the_next_or_previous_chunk(fallback_first: bool) -> None:
    error = b"2024-01-15 10:00:01 ERROR Backend error: connection refused\n"
    fallback = b"2024-01-15 10:00:01 DEBUG Cache miss, falling back to database\n"
    filler = b"".join(b"2024-01-15 10:00:00 INFO filler %d\n" % i for i in range(50))
    first, second = (
        (filler + fallback, error + filler)
        if fallback_first
        else (filler + error, fallback + filler)
    )
    scan = scanner.RangeScanner(0)
    scan.feed(first, len(first), 0)
    scan.feed(second, len(second), len(first))
    result = scan.finish()
    assert (result.timed.backend_errors, result.timed.with_fallback) == (1, 1)


# --- the fast paths agree with the simple ones ------------------------------------------


def debug_log(path: Path, minutes: int = 12, per_minute: int = 600) -> tuple[Path, dict[str, int]]:
    """A debug log dense in hits, misses and fallbacks, with a few errors."""
    lines: list[str] = []
    hist: dict[str, int] = {}
    start = datetime(2024, 1, 15, 10, 0, tzinfo=timezone.utc)
    for i in range(minutes * per_minute):
        t = start + timedelta(seconds=i * 60 / per_minute)
        stamp = t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        kind = i % 10
        if kind < 4:
            lines.append(f"{stamp} DEBUG cache_kit::expander: Cache HIT: user:{i} took 120µs")
            minute = t.strftime("%Y-%m-%dT%H:%M:00Z")
            hist[minute] = hist.get(minute, 0) + 1
        elif kind < 6:
            lines.append(f"{stamp} DEBUG cache_kit::expander: Cache MISS: user:{i} took 3ms")
        elif kind == 6:
            lines.append(f"{stamp} DEBUG cache_kit::expander: Cache miss, falling back to database")
        elif i % 997 == 7:
            lines.append(
                f"{stamp} ERROR app: Serialization failed for user:{i % 7}: Unsupported type"
            )
        elif i % 1999 == 9:
            lines.append(f"{stamp} INFO stats: cache hit rate 0.4, cache hits 12")
        elif i % 1499 == 8:
            lines.append(
                f"{stamp} WARN cache_kit: Cache ERROR for user:{i % 5}: Backend error: reset"
            )
        else:
            lines.append(f"{stamp} INFO http: GET /api/users/{i} status=200 latency_ms=3")
        if i % 501 == 0:
            lines.append("    continuation line without a timestamp: Cache HIT: user:0 took 1ms")
            minute = t.strftime("%Y-%m-%dT%H:%M:00Z")
            hist[minute] = hist.get(minute, 0) + 1
    write(path, lines)
    return path, hist


@pytest.mark.parametrize(
    "mode",
    [
        {},  # dense anchors counted with bytes.count / the hit-miss regex
        {"ENUM_BYTES_PER_HIT": 10},  # dense anchors enumerated with strstr, counted by bisect
        {"MAX_SEGMENTS": 2},  # too many minutes per chunk: per-line after all
    ],
)
def test_dense_counting_matches_line_by_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: dict[str, int]
) -> None:
    log, hist = debug_log(tmp_path / "debug.log")
    for name, value in mode.items():
        monkeypatch.setattr(scanner, name, value)
    dense = scan_logs([str(log)], chunk_size=256 << 10)
    assert dense["categories"]["hit"]["histogram"] == hist
    assert dense["counts"]["hit"] == sum(hist.values())
    # Force the per-line path (no bulk counting at all): the same report.
    monkeypatch.setattr(scanner, "BULK_LIMIT", 10**9)
    monkeypatch.setattr(scanner, "ENUM_BYTES_PER_HIT", 1)
    per_line = scan_logs([str(log)], chunk_size=256 << 10)
    assert stable(per_line) == stable(dense)


def test_dense_counting_with_time_filter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log, _ = debug_log(tmp_path / "debug.log")
    since, until = "2024-01-15T10:03:30Z", "2024-01-15T10:07:15.5Z"
    dense = scan_logs([str(log)], since=since, until=until, chunk_size=128 << 10)
    monkeypatch.setattr(scanner, "BULK_LIMIT", 10**9)
    monkeypatch.setattr(scanner, "ENUM_BYTES_PER_HIT", 1)
    per_line = scan_logs([str(log)], since=since, until=until, chunk_size=128 << 10)
    assert stable(per_line) == stable(dense)
    assert dense["categories"]["hit"]["first"] >= "2024-01-15T10:03:30"
    assert dense["categories"]["hit"]["last"] <= "2024-01-15T10:07:15.5"


def test_pure_python_search_gives_the_same_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log, _ = debug_log(tmp_path / "debug.log", minutes=3)
    fast = scan_logs([str(log)], chunk_size=64 << 10)
    monkeypatch.setattr(fastfind, "_STRSTR", None)
    slow = scan_logs([str(log)], chunk_size=64 << 10)
    assert slow["engine"]["search"] == "python"
    assert stable(slow) == stable(fast)


def test_parallel_ranges_give_the_same_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "debug.log"
    log, _ = debug_log(path, minutes=20)
    # untimed lines at the very start and a fallback right after a range boundary
    path.write_bytes(b"Serialization failed for user:0 (no time)\n" + path.read_bytes())
    one = scan_logs([str(log)], jobs=1, chunk_size=64 << 10)
    assert (one["engine"]["jobs"], one["engine"]["ranges"]) == (1, 1)
    monkeypatch.setattr(logscan_api, "PARALLEL_MIN_BYTES", 0)
    # Other tests leave server threads winding down; the fork path refuses a threaded
    # process (see test_no_fork_beside_other_threads), so say this one is not.
    monkeypatch.setattr(logscan_api, "_can_fork", lambda: True)
    for jobs in (2, 3, 7):
        many = scan_logs([str(log)], jobs=jobs, chunk_size=64 << 10)
        assert (many["engine"]["jobs"], many["engine"]["ranges"]) == (jobs, jobs + 1)
        assert stable(many) == stable(one), jobs
    # more ranges than processes, big ones first: each process takes the next when done
    monkeypatch.setattr(logscan_api, "MIN_RANGE_BYTES", 64 << 10)
    many = scan_logs([str(log)], jobs=2, chunk_size=64 << 10)
    assert many["engine"]["jobs"] == 2 and many["engine"]["ranges"] > 4
    assert stable(many) == stable(one)
    assert one["categories"]["serialization"]["untimed"] == 1


@pytest.mark.parametrize("probe_limit", [256, 3])
def test_cache_error_found_through_its_probe_or_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, probe_limit: int
) -> None:
    monkeypatch.setattr(scanner, "PROBE_LIMIT", probe_limit)
    lines = [f"2024-01-15 10:00:{i % 60:02d} INFO the error count is {i}" for i in range(50)]
    lines += ["2024-01-15 10:01:00 WARN Cache ERROR for user:1: Backend error: reset"]
    lines += ["2024-01-15 10:01:01 INFO cache errors: 0 (a counter, not an error)"]
    lines += ["2024-01-15 10:01:02 WARN Cache error: boom, using fallback"]
    report = scan_logs([str(write(tmp_path / "app.log", lines))])
    assert report["counts"]["cache_error"] == 2
    assert report["categories"]["cache_error"]["top_keys"] == [{"key": "user:1", "count": 1}]


def test_nul_bytes_do_not_hide_the_rest_of_a_chunk(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_bytes(
        b"2024-01-15 10:00:00 INFO \x00\x00 binary junk\n"
        b"2024-01-15 10:00:01 ERROR Serialization failed\n"
    )
    assert scan_logs([str(path)])["counts"]["serialization"] == 1


def test_a_huge_line_without_newline_is_cut_not_fatal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A line longer than MAX_LINE is judged on its first MAX_LINE bytes; the rest of it,
    # up to its newline, is dropped: scanned as a line of its own it would count the line
    # twice and could show the tail of a secret cut in half.
    monkeypatch.setattr(logscan_api, "MAX_LINE", 1 << 20)
    path = tmp_path / "app.log"
    path.write_bytes(
        b"Serialization failed for user:7 "
        + b"x" * (3 << 20)
        + b" Serialization failed password=TOPSECRET99\n"
        + b"2024-01-15 10:00:00 Cache HIT: a:1\n"
    )
    report = scan_logs([str(path)], chunk_size=256 << 10)
    assert report["counts"]["serialization"] == 1
    assert report["counts"]["hit"] == 1
    assert len(report["categories"]["serialization"]["samples"][0]["text"]) <= 501
    assert "TOPSECRET99" not in json.dumps(report)


def test_histogram_is_capped_to_recent_minutes() -> None:
    stats = CatStats()
    for minute in range(MAX_MINUTES + 100):
        stats.add(minute * 60.0)
    stats.cap_hist()
    assert len(stats.hist) == MAX_MINUTES
    assert min(stats.hist) == 100 * 60
    assert stats.hist_dropped == 100
    assert stats.count == MAX_MINUTES + 100


# --- streaming: memory stays bounded ----------------------------------------------------


def test_100mb_log_streams_in_bounded_memory(tmp_path: Path) -> None:
    block_lines = []
    for i in range(2000):
        kind = i % 20
        if kind == 0:
            block_lines.append(
                f"2024-01-15T10:{i % 60:02d}:00Z ERROR app: Serialization failed for user:{i}"
            )
        elif kind < 8:
            block_lines.append(
                f"2024-01-15T10:{i % 60:02d}:00Z DEBUG cache_kit: Cache HIT: user:{i} took 1ms"
            )
        else:
            block_lines.append(
                f"2024-01-15T10:{i % 60:02d}:00Z INFO http: GET /api/items/{i} 200 " + "y" * 40
            )
    block = ("\n".join(block_lines) + "\n").encode()
    path = tmp_path / "big.log"
    with open(path, "wb") as handle:
        written = 0
        while written < 100 << 20:
            handle.write(block)
            written += len(block)
    code = (
        "import json, resource, sys\n"
        "from cachediag.logscan import scan_logs\n"
        "r = scan_logs([sys.argv[1]], jobs=1)\n"
        "print(json.dumps({'rss_kb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,"
        " 'ser': r['counts']['serialization'], 'hit': r['counts']['hit']}))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    run = subprocess.run(
        [sys.executable, "-c", code, str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    blocks = written // len(block)
    assert result["ser"] == 100 * blocks
    assert result["hit"] == 700 * blocks
    assert result["rss_kb"] < 200 * 1024, result


# --- against a plain line-by-line reference -----------------------------------------------


def reference(data: bytes, since: float | None = None, until: float | None = None) -> dict:
    """What the scanner must find, computed the slow and obvious way."""
    from cachediag.logscan.patterns import CATEGORIES

    counts = {c.name: 0 for c in CATEGORIES}
    hists: dict[str, dict[int, int]] = {c.name: {} for c in CATEGORIES}
    spans: dict[str, list[float]] = {c.name: [] for c in CATEGORIES}
    keys: dict[bytes, int] = {}
    last: float | None = None
    for raw in data.split(b"\n")[:-1] if data.endswith(b"\n") else data.split(b"\n"):
        low = raw.lower()
        own = line_timestamp(low, 0, len(low))
        if own is not None:
            last = own
        ts = last
        if (since is not None or until is not None) and (
            ts is None or (since is not None and ts < since) or (until is not None and ts > until)
        ):
            continue
        matched = [c for c in CATEGORIES if c.matches(low)]
        for c in matched:
            counts[c.name] += 1
            if ts is not None:
                minute = int(ts // 60) * 60
                hists[c.name][minute] = hists[c.name].get(minute, 0) + 1
                spans[c.name].append(own if own is not None else ts)
        if any(c.keys for c in matched):
            for key in extract_keys(raw):
                keys[key] = keys.get(key, 0) + 1
    return {"counts": counts, "hists": hists, "spans": spans, "keys": keys}


def random_log(rnd: random.Random, lines: int) -> bytes:
    start = datetime(2024, 1, 15, 10, 0, tzinfo=timezone.utc).timestamp()
    messages = [
        "DEBUG Cache HIT: user:{i} took 1ms",
        "DEBUG cache hit for order:{i}",
        "DEBUG Cache MISS: user:{i} took 3ms",
        "DEBUG Cache miss, falling back to database",
        "INFO stats: cache hit rate 0.5, cache hits 7, cache misses 3",
        "ERROR Cache deserialization failed: unexpected end key=user:{k}",
        "WARN: Serialization failed for user:{k}: Unsupported type",
        "WARN Invalid cache entry: expected magic [67, 75, 73, 84] for product:p{k}",
        "ERROR Connection pool exhausted: 10 active, 3 waiting",
        "WARN Cache backend unavailable: Connection refused, using fallback",
        "WARN Cache ERROR for session:{k}: Timeout: operation timed out",
        "INFO config connection_timeout=5s",
        "WARN Redis FLUSHDB executed - all cache cleared!",
        "INFO GET /api/users/{i} 200",
        "    continuation without timestamp: Backend error for cart:{k}",
        "INFO the error count is {i}",
    ]
    out = []
    t = start
    for i in range(lines):
        t += rnd.choice([0.0, 0.01, 0.2, 1.5, 7.0])
        msg = rnd.choices(messages, weights=[30, 5, 20, 10, 1, 2, 2, 1, 1, 2, 2, 1, 1, 30, 2, 2])[0]
        msg = msg.format(i=i, k=rnd.randint(0, 9))
        if msg.startswith("    "):
            out.append(msg)
            continue
        stamp = datetime.fromtimestamp(t, tz=timezone.utc)
        style = rnd.random()
        if style < 0.8:
            head = stamp.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        else:
            head = stamp.strftime("%Y-%m-%d %H:%M:%S")
        out.append(f"{head} {msg}")
    return ("\n".join(out) + "\n").encode()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_matches_a_line_by_line_reference(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, utc: None, seed: int
) -> None:
    rnd = random.Random(seed)
    data = random_log(rnd, 30_000)
    path = tmp_path / "app.log"
    path.write_bytes(data)
    monkeypatch.setattr(logscan_api, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(logscan_api, "MIN_RANGE_BYTES", 64 << 10)
    monkeypatch.setattr(logscan_api, "_can_fork", lambda: True)
    window = [(None, None), ("2024-01-15T11:00:00Z", "2024-01-15T14:30:00Z")][seed % 2]
    since, until = (parse_when(w, "x") if w else None for w in window)
    want = reference(data, since, until)
    for jobs, chunk in ((1, 1 << 20), (1, 48 << 10), (3, 64 << 10)):
        got = scan_logs([str(path)], since=window[0], until=window[1], jobs=jobs, chunk_size=chunk)
        assert got["counts"] == want["counts"], (jobs, chunk)
        for name, cat in got["categories"].items():
            hist = {int(_minute(k)): n for k, n in cat["histogram"].items()}
            assert hist == want["hists"][name], (name, jobs, chunk)
            if want["spans"][name]:
                assert cat["first"] == iso(min(want["spans"][name])), (name, jobs, chunk)
                assert cat["last"] == iso(max(want["spans"][name])), (name, jobs, chunk)
        top = {k["key"].encode(): k["count"] for k in got["keys"]["top"]}
        assert all(want["keys"][k] == n for k, n in top.items())
        assert got["keys"]["mentions"] == sum(want["keys"].values())


def _minute(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()


def test_no_fork_beside_other_threads() -> None:
    import threading

    stop = threading.Event()
    worker = threading.Thread(target=stop.wait, daemon=True)
    worker.start()
    try:
        assert logscan_api._can_fork() is False
    finally:
        stop.set()
        worker.join()


def test_a_gz_that_ends_early_keeps_what_it_holds(tmp_path: Path) -> None:
    line = b"2024-01-15 10:00:00 ERROR Cache serialization failed for user:1\n"
    whole = gzip.compress(line * 5000)
    path = tmp_path / "app.log.1.gz"
    path.write_bytes(whole[: len(whole) // 2])  # still being written by logrotate
    report = scan_logs([str(path)])
    assert 0 < report["counts"]["serialization"] < 5000
    assert "ends early" in report["sources"][0]["problem"]


@pytest.mark.parametrize("seed", [4, 5])
def test_outage_chunks_list_fallbacks_with_the_same_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, utc: None, seed: int
) -> None:
    """Where backend errors are many, a chunk lists its fallbacks once instead of each error
    looking around itself: both ways must find the same fallbacks near the same errors."""
    rnd = random.Random(seed)
    start = datetime(2024, 1, 15, 10, 0, tzinfo=timezone.utc).timestamp()
    messages = [
        "WARN Cache ERROR for session:{k}: Backend error: Connection refused",
        "WARN Cache backend unavailable: Connection refused, using fallback",
        "WARN Timeout: operation timed out after 500ms key=product:p{k}",
        "DEBUG Cache miss, falling back to database",
        "INFO GET /api/users/{k} 200",
    ]
    lines, t = [], start
    for _ in range(40_000):
        t += rnd.choice([0.001, 0.01, 0.5, 9.0])
        stamp = datetime.fromtimestamp(t, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")
        msg = rnd.choices(messages, weights=[3, 1, 3, 2, 30])[0].format(k=rnd.randint(0, 99))
        lines.append(f"{stamp[:-3]}Z {msg}")
    path = tmp_path / "outage.log"
    path.write_bytes(("\n".join(lines) + "\n").encode())

    def fallbacks(list_at: int) -> dict:
        monkeypatch.setattr(scanner, "FALLBACK_LIST_AT", list_at)
        return scan_logs([str(path)], jobs=1, chunk_size=64 << 10)["fallback_proximity"]

    listed, looked_around = fallbacks(0), fallbacks(1 << 30)
    assert listed == looked_around
    assert 0 < listed["with_fallback_nearby"] < listed["backend_errors"]


def test_scanning_processes_do_not_outlive_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`main` leaves with os._exit (no multiprocessing clean-up at exit): when the parent's
    range fails, the children still scanning must be gone before the error propagates, or
    they would keep the caller's stdout open (and a blocked one would never end)."""
    import multiprocessing
    import os as _os

    path = tmp_path / "app.log"
    path.write_bytes(random_log(random.Random(9), 20_000))
    monkeypatch.setattr(logscan_api, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(logscan_api, "MIN_RANGE_BYTES", 64 << 10)
    monkeypatch.setattr(logscan_api, "_can_fork", lambda: True)
    parent = _os.getpid()
    real = logscan_api.scan_range

    def parent_fails(*args: object, **kwargs: object) -> object:
        if _os.getpid() == parent:
            raise LogScanError("simulated read error")
        time.sleep(5)  # a child still at work when the parent gives up
        return real(*args, **kwargs)

    monkeypatch.setattr(logscan_api, "scan_range", parent_fails)
    started = time.monotonic()
    with pytest.raises(LogScanError, match="simulated"):
        scan_logs([str(path)], jobs=3)
    assert multiprocessing.active_children() == []
    assert time.monotonic() - started < 4  # terminated, not waited for


# --- outage chunks: every line judged by its shape (logscan.dense) ------------------------

OUTAGE_MESSAGES = [
    "ERROR cache_kit::expander: Cache deserialization failed: unexpected end key=user:{k}",
    "WARN cache_kit::expander: Cache ERROR for session:{k}: Backend error: Connection refused",
    "WARN app::cache: Cache backend unavailable: Connection refused, using fallback",
    "WARN cache_kit::backend: Timeout: operation timed out after {n}ms key=product:p{k}",
    "DEBUG cache_kit::expander: Cache miss, falling back to database",
    "ERROR app::db: Connection pool exhausted: 10 active, {n} waiting",
    # case and digits vary within one shape; two keys, one of them twice
    "WARN app: Serialization failed for User:{k}, user:{k} and USER:{n}: Unsupported type",
    "ERROR Backend error for token:{k} refused (redis:6379)",  # a credential; a host:port
    "WARN Cache ERROR for order:{k}:items: Timeout: operation timed out",  # composite id
    "WARN Invalid cache entry: expected magic [67, 75, 73, 84] for product:p{k}",
    "INFO http: GET /api/users/{k} 500 request_id={hex}",  # never repeats, never matches
    "DEBUG Cache HIT: user:{k} took 1ms",
    "DEBUG Cache MISS: user:{k} took 2ms",
    "INFO stats: cache hit rate 0.5, cache hits {n}, cache misses {n}",
    "WARN Redis FLUSHDB executed - all cache cleared!",
    "WARN using fallback: fallback store, falling back again",  # three anchors, one line
    "INFO config connection_timeout=5s",
]


def outage_log(
    rnd: random.Random,
    lines: int,
    weights: list[int] | None = None,
    steps: tuple[float, ...] = (0.0, 0.002, 0.01, 0.03, 0.4, 3.0, 20.0),
) -> bytes:
    """A log where most lines are errors, in time order, in two timestamp formats, with
    continuation lines, bursts and pauses (`steps`: seconds between lines, picked at
    random)."""
    t = datetime(2024, 1, 15, 10, 0, tzinfo=timezone.utc).timestamp()
    weights = weights or [8, 8, 4, 8, 6, 3, 2, 1, 2, 1, 6, 2, 2, 1, 1, 1, 1]
    out = []
    for _ in range(lines):
        t += rnd.choice(steps)
        if rnd.random() < 0.01:
            out.append(f"    caused by: Backend error for cart:{rnd.randint(0, 50)}")
            continue
        msg = rnd.choices(OUTAGE_MESSAGES, weights=weights)[0].format(
            k=rnd.randint(0, 3000), n=rnd.randint(1, 999), hex=f"{rnd.getrandbits(32):08x}"
        )
        stamp = datetime.fromtimestamp(t, tz=timezone.utc)
        if rnd.random() < 0.9:
            head = stamp.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        else:  # in order too: `dense` counts by minute segments, like the bulk counting
            head = stamp.strftime("%Y-%m-%d %H:%M:%S,%f")[:-3]
        out.append(f"{head} {msg}")
    return ("\n".join(out) + "\n").encode()


@pytest.fixture
def count_dense(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many chunks went through `dense` (a test of it must see it run)."""
    from cachediag.logscan import dense

    calls = [0]
    real = dense.DenseChunk.scan

    def counting(self: dense.DenseChunk, *args: Any) -> None:
        calls[0] += 1
        real(self, *args)

    monkeypatch.setattr(dense.DenseChunk, "scan", counting)
    return calls


def line_by_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scanner, "DENSE_MIN_BYTES", 1 << 62)


@pytest.mark.parametrize(
    ("seed", "chunk", "window", "steps"),
    [
        (1, 256 << 10, (None, None), None),
        (2, 1 << 20, (None, None), None),
        (3, 160 << 10, ("2024-01-15T10:20:00Z", "2024-01-15T11:40:00.5Z"), None),
        # bursts 20 s apart, few enough minutes a chunk for fallbacks to be counted in
        # bulk: a fallback line is often near a backend error by lines and not in time
        (4, 256 << 10, (None, None), (0.0,) * 19 + (20.0,)),
        # lines over 5 s apart (too many minutes for bulk counting in a chunk)
        (5, 256 << 10, (None, None), (5.5, 6.0, 30.0)),
    ],
)
def test_outage_chunks_by_shape_match_line_by_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    utc: None,
    count_dense: list[int],
    seed: int,
    chunk: int,
    window: tuple[str | None, str | None],
    steps: tuple[float, ...] | None,
) -> None:
    path = tmp_path / "outage.log"
    data = outage_log(
        random.Random(seed), 60_000, steps=steps or (0.0, 0.002, 0.01, 0.03, 0.4, 3.0, 20.0)
    )
    path.write_bytes(b"Serialization failed for user:1 (before any time)\n" + data)
    shapes = scan_logs([str(path)], since=window[0], until=window[1], chunk_size=chunk)
    assert count_dense[0] > 0
    line_by_line(monkeypatch)
    before = count_dense[0]
    lines = scan_logs([str(path)], since=window[0], until=window[1], chunk_size=chunk)
    assert count_dense[0] == before
    assert stable(shapes) == stable(lines)
    # and against the obvious reference
    since, until = (parse_when(w, "x") if w else None for w in window)
    want = reference(data, since, until)
    counts = dict(shapes["counts"])
    if window == (None, None):
        counts["serialization"] -= 1  # the untimed first line, which `reference` skips
    # Where fallbacks are counted in bulk, a line with three fallback anchors counts three
    # times (as it always has): `reference` counts lines.
    triple = data.count(b"using fallback: fallback store, falling back again")
    lines_with = want["counts"]["fallback"]
    assert lines_with <= counts["fallback"] <= lines_with + 2 * triple
    assert {k: v for k, v in counts.items() if k != "fallback"} == {
        k: v for k, v in want["counts"].items() if k != "fallback"
    }
    assert shapes["keys"]["truncated"] is False
    top = {k["key"].encode(): k["count"] for k in shapes["keys"]["top"]}
    assert all(want["keys"][k] == n for k, n in top.items() if not k.endswith(b"***"))


def test_outage_chunks_by_shape_in_parallel_ranges(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, utc: None, count_dense: list[int]
) -> None:
    path = tmp_path / "outage.log"
    path.write_bytes(outage_log(random.Random(7), 80_000))
    monkeypatch.setattr(logscan_api, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(logscan_api, "MIN_RANGE_BYTES", 256 << 10)
    monkeypatch.setattr(logscan_api, "_can_fork", lambda: True)
    many = scan_logs([str(path)], jobs=3, chunk_size=256 << 10)
    assert many["engine"]["ranges"] > 3
    assert count_dense[0] > 0
    line_by_line(monkeypatch)
    # (not against jobs=1: how a chunk counts a line holding two fallback anchors, once
    # or twice, depends on where the chunks fall, as it always has)
    assert stable(scan_logs([str(path)], jobs=3, chunk_size=256 << 10)) == stable(many)


def test_outage_shapes_forgotten_and_long_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, utc: None, count_dense: list[int]
) -> None:
    """The bound on remembered shapes, lines long enough that NEAR_LINES of them span
    NEAR_WINDOW bytes, and the cap on distinct keys: still the line-by-line report."""
    from cachediag.logscan import dense

    rnd = random.Random(11)
    data = outage_log(rnd, 30_000).split(b"\n")
    for i in range(0, len(data) - 1, 997):  # a few 20 KB lines
        data[i] += b" " + b"y" * 20_000
    path = tmp_path / "outage.log"
    path.write_bytes(b"\n".join(data))
    monkeypatch.setattr(dense, "MAX_SHAPES", 64)
    monkeypatch.setattr(KeyCounter.__init__, "__defaults__", (300,))  # a cap this log passes
    shapes = scan_logs([str(path)], chunk_size=256 << 10)
    assert count_dense[0] > 0
    assert shapes["keys"]["truncated"] is True
    line_by_line(monkeypatch)
    assert stable(scan_logs([str(path)], chunk_size=256 << 10)) == stable(shapes)


class OneByOneKeyCounter:
    """The key counter as it was before batches: every mention added on its own, each
    namespace's mentions kept as they come. `KeyCounter` must agree with it exactly."""

    def __init__(self, max_keys: int) -> None:
        self.keys: dict[bytes, int] = {}
        self.namespaces: dict[bytes, list[int]] = {}
        self.mentions = 0
        self.truncated = False
        self.max_keys = max_keys

    def add(self, key: bytes) -> None:
        self.mentions += 1
        ns = key[: key.find(b":")]
        if key in self.keys:
            self.keys[key] += 1
            self.namespaces[ns][0] += 1
            return
        entry = self.namespaces.get(ns)
        if entry is None:
            if len(self.namespaces) >= self.max_keys:
                self.truncated = True
                return
            entry = self.namespaces[ns] = [0, 0]
        entry[0] += 1
        entry[1] += 1
        self.keys[key] = 1
        if len(self.keys) > self.max_keys:
            keep = sorted(self.keys.items(), key=lambda kv: kv[1], reverse=True)
            self.keys = dict(keep[: self.max_keys // 2])
            self.truncated = True

    def merge(self, other: OneByOneKeyCounter) -> None:
        self.mentions += other.mentions
        self.truncated = self.truncated or other.truncated
        for ns, (mentions, distinct) in other.namespaces.items():
            entry = self.namespaces.setdefault(ns, [0, 0])
            entry[0] += mentions
            entry[1] += distinct
        for key, count in other.keys.items():
            if key in self.keys:
                self.keys[key] += count
                self.namespaces[key.split(b":", 1)[0]][1] -= 1
            else:
                self.keys[key] = count
        if len(self.keys) > self.max_keys:
            keep = sorted(self.keys.items(), key=lambda kv: kv[1], reverse=True)
            self.keys = dict(keep[: self.max_keys // 2])
            self.truncated = True


@pytest.mark.parametrize("seed", range(40))
def test_key_counters_in_batches_count_as_one_by_one(seed: int) -> None:
    """Batches (`add_many`, C-level passes) prune where one-by-one adding prunes, keep the
    same insertion order (it breaks ties when pruning) and the same namespace figures."""
    from cachediag.logscan.keys import TopCounter

    rnd = random.Random(seed)
    cap = rnd.choice([6, 10, 40])
    ours = [KeyCounter(max_keys=cap) for _ in range(3)]
    theirs = [OneByOneKeyCounter(cap) for _ in range(3)]
    top_batched, top_single = TopCounter(cap), TopCounter(cap)
    for _ in range(rnd.randint(1, 25)):
        n = rnd.randrange(3)
        names = [b"u", b"s", b"n%d" % rnd.randint(0, cap)]  # sometimes past the namespace cap
        batch = [
            b"%s:%d" % (rnd.choice(names), rnd.randint(0, 3 * cap))
            for _ in range(rnd.randint(0, 4 * cap))
        ]
        ours[n].add_many(batch)
        top_batched.add_many(batch)
        for key in batch:
            theirs[n].add(key)
            top_single.add(key)
    for a, b in ((ours[0], ours[1]), (ours[0], ours[2])):
        a.merge(b)
    for c, d in ((theirs[0], theirs[1]), (theirs[0], theirs[2])):
        c.merge(d)
    for mine, ref in zip(ours, theirs, strict=True):
        assert list(mine.keys.items()) == list(ref.keys.items())
        assert mine.namespaces == ref.namespaces
        assert (mine.mentions, mine.truncated) == (ref.mentions, ref.truncated)
    assert list(top_batched.counts.items()) == list(top_single.counts.items())
    assert (
        top_batched.top(5) == sorted(top_single.counts.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    )


# --- .gz: ISA-L when installed, zlib otherwise, the same report ---------------------------


@pytest.fixture(params=["isal", "zlib"])
def inflater(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each .gz test runs with both inflaters (isal only where the wheel is installed)."""
    from cachediag.logscan import reader

    if request.param == "isal":
        if reader._IGZIP is None:
            pytest.skip("the isal wheel is not installed")
    else:
        monkeypatch.setattr(reader, "_IGZIP", None)
    return str(request.param)


def gz_log(tmp_path: Path, lines: int = 40_000) -> tuple[Path, bytes]:
    data = outage_log(random.Random(5), lines)
    path = tmp_path / "app.log.1.gz"
    # two members, as `cat a.gz b.gz` or a rotated file appended to makes
    half = data.index(b"\n", len(data) // 2) + 1
    path.write_bytes(gzip.compress(data[:half]) + gzip.compress(data[half:]))
    return path, data


def test_gz_reads_as_plain(tmp_path: Path, utc: None, inflater: str) -> None:
    path, data = gz_log(tmp_path)
    plain = tmp_path / "app.log"
    plain.write_bytes(data)
    zipped = scan_logs([str(path)], chunk_size=256 << 10)
    assert zipped["engine"]["gzip"] == inflater
    assert zipped["sources"][0]["scanned_bytes"] == len(data)
    assert stable(zipped) == stable(scan_logs([str(plain)], chunk_size=256 << 10, jobs=1))


@pytest.mark.parametrize("cut", [0.3, 0.97])
def test_gz_cut_short_reads_the_same_with_either_inflater(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, utc: None, cut: float
) -> None:
    """ISA-L hands out less of a truncated stream than zlib before it fails; the stdlib
    takes over at that byte, so both give zlib's report and zlib's words."""
    from cachediag.logscan import reader

    path, _ = gz_log(tmp_path)
    whole = path.read_bytes()
    path.write_bytes(whole[: int(len(whole) * cut)])
    reports = []
    for inflate in ([reader._IGZIP] if reader._IGZIP is not None else []) + [None]:
        monkeypatch.setattr(reader, "_IGZIP", inflate)
        reports.append(scan_logs([str(path)], chunk_size=256 << 10))
    for report in reports:
        assert "ends early" in report["sources"][0]["problem"]
        assert stable(report) == stable(reports[-1])
        assert report["sources"][0]["scanned_bytes"] == reports[-1]["sources"][0]["scanned_bytes"]


def test_corrupt_gz_says_so_the_same_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, inflater: str
) -> None:
    import threading

    path, _ = gz_log(tmp_path, 20_000)
    raw = bytearray(path.read_bytes())
    for i in range(len(raw) // 2, len(raw) // 2 + 64):
        raw[i] ^= 0x5A
    path.write_bytes(bytes(raw))
    with pytest.raises(LogScanError, match=r"app\.log\.1\.gz: cannot read \(") as caught:
        scan_logs([str(path)], chunk_size=256 << 10)
    assert all(t.name != "cachediag-read" for t in threading.enumerate())  # joined
    from cachediag.logscan import reader

    monkeypatch.setattr(reader, "_IGZIP", None)
    with pytest.raises(LogScanError) as with_zlib:
        scan_logs([str(path)], chunk_size=256 << 10)
    assert str(caught.value) == str(with_zlib.value)
