"""Units in one place (cachediag.render.units): the exact text every output prints."""

from __future__ import annotations

import pytest

from cachediag.render.units import (
    compact_duration,
    human_bytes,
    human_bytes_iec,
    human_duration,
    human_seconds,
    human_us,
    limit_text,
    plural,
    utc_stamp,
)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (1536, "1.5 KiB"),
        (128 * 1024**2, "128.0 MiB"),
        (3 * 1024**3, "3.0 GiB"),
        (5 * 1024**5, "5120.0 TiB"),  # no unit past TiB: the number grows instead
        (-2048, "-2.0 KiB"),
    ],
)
def test_sizes(value: float, text: str) -> None:
    assert human_bytes(value) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (1, "1 s"),
        (62, "62 s"),
        (119, "119 s"),
        (600, "10 min"),
        (9000, "2.5 h"),
        (2 * 86400, "2.0 days"),
    ],
)
def test_spans_as_said(seconds: float, text: str) -> None:
    assert human_seconds(seconds) == text


def test_counts_and_their_nouns() -> None:
    assert [plural(n, "key") for n in (0, 1, 2, 1234)] == [
        "0 keys",
        "1 key",
        "2 keys",
        "1,234 keys",
    ]
    assert (
        plural(1, "entry", "entries") == "1 entry" and plural(3, "entry", "entries") == "3 entries"
    )


def test_host_sizes_use_iec_names_and_say_when_unknown() -> None:
    assert human_bytes_iec(1536) == "1.5 KiB"
    assert human_bytes_iec(8 * 1024**3) == "8.0 GiB"
    assert human_bytes_iec(None) == "?"


def test_limits() -> None:
    assert limit_text(0) == "0 (no limit)"
    assert limit_text(134217728) == "134217728 (128.0 MiB)"


@pytest.mark.parametrize(
    ("value", "text"), [(0, "0 µs"), (999, "999 µs"), (1000, "1.00 ms"), (12_345, "12.35 ms")]
)
def test_microseconds(value: float, text: str) -> None:
    assert human_us(value) == text


@pytest.mark.parametrize(
    ("seconds", "text", "compact"),
    [
        (0, "0s", "0s"),
        (59.9, "59s", "59s"),
        (60, "1m 0s", "1m00s"),
        (3599, "59m 59s", "59m59s"),
        (3600, "1h 0m", "1h00m"),
        (86399, "23h 59m", "23h59m"),
        (86400 + 7200, "1d 2h", "26h00m"),
    ],
)
def test_durations(seconds: float, text: str, compact: str) -> None:
    assert human_duration(seconds) == text
    assert compact_duration(seconds) == compact


def test_utc_stamp() -> None:
    assert utc_stamp(0) == "1970-01-01T00:00:00Z"
