"""Timestamps in log lines, `--since`/`--until` values, and how they are printed.

A line's timestamp is the first one found in its first 64 bytes, in one of the formats
applications commonly write:

    ISO 8601 / RFC 3339   2024-01-15T10:23:45.123Z, 2024-01-15T10:23:45+01:00
    date and time         2024-01-15 10:23:45, 2024-01-15 10:23:45,123
    syslog                Jan 15 10:23:45 (no year: the current one, or the previous one
                          when that would put the line more than a day in the future)

Timestamps without a zone are local time (like `date` and journalctl). Internally a time
is a float of seconds since the epoch; it is printed in UTC, ISO 8601 with a `Z`.
Lines are matched lowercased, hence the lowercase `t`, `z` and month names below.
"""

from __future__ import annotations

import calendar
import re
import time
from datetime import datetime, timedelta, timezone

_MONTHS = {
    m: i + 1
    for i, m in enumerate(
        (
            b"jan",
            b"feb",
            b"mar",
            b"apr",
            b"may",
            b"jun",
            b"jul",
            b"aug",
            b"sep",
            b"oct",
            b"nov",
            b"dec",
        )
    )
}

_ZONE = rb"(?: ?(z|utc|gmt|[+-]\d\d:?\d\d)\b)?"
_ISO = rb"(\d{4})-(\d\d)-(\d\d)[t ](\d\d):(\d\d):(\d\d)(?:[.,](\d{1,9}))?" + _ZONE
_SYSLOG = (
    rb"(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec) {1,2}(\d{1,2})"
    rb" (\d\d):(\d\d):(\d\d)(?:[.,](\d{1,9}))?"
)
ISO_RE = re.compile(_ISO)
ANY_RE = re.compile(rb"(?<![\d.])(?:" + _ISO + rb"|" + _SYSLOG + rb")")

SEARCH_BYTES = 64

_minute_cache: dict[tuple[bytes, ...], float | None] = {}
_cached_zone: tuple[object, ...] = ()


def check_zone() -> None:
    """Forget cached local-time conversions if the process's time zone changed (tzset)."""
    global _cached_zone
    zone = (time.timezone, time.altzone, time.daylight, time.tzname)
    if zone != _cached_zone:
        _cached_zone = zone
        _minute_cache.clear()
        _fast_cache.clear()


def _minute_epoch(
    key: tuple[bytes, ...], build: tuple[int, int, int, int, int], tz: bytes | None
) -> float | None:
    if key in _minute_cache:
        return _minute_cache[key]
    year, month, day, hour, minute = build
    value: float | None
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour <= 23 and minute <= 59 and year >= 1970):
        value = None
    elif tz is None:
        try:
            value = time.mktime((year, month, day, hour, minute, 0, 0, 0, -1))
        except (OverflowError, ValueError):
            value = None
    else:
        value = float(calendar.timegm((year, month, day, hour, minute, 0, 0, 0, 0)))
        if tz[:1] in (b"+", b"-"):
            digits = tz[1:].replace(b":", b"")
            offset = int(digits[:2]) * 3600 + int(digits[2:4]) * 60
            value -= offset if tz[:1] == b"+" else -offset
    if len(_minute_cache) > 4096:
        _minute_cache.clear()
    _minute_cache[key] = value
    return value


def _fraction(digits: bytes | None) -> float:
    return int(digits) / 10 ** len(digits) if digits else 0.0


def _from_iso(m: re.Match[bytes]) -> float | None:
    y, mo, d, h, mi, s, frac, tz = m.groups()[:8]
    base = _minute_epoch(
        (y, mo, d, h, mi, tz or b""), (int(y), int(mo), int(d), int(h), int(mi)), tz
    )
    return _in_minute(base, s, frac)


def _from_syslog(m: re.Match[bytes], now: float | None = None) -> float | None:
    mon, d, h, mi, s, frac = m.groups()[-6:]
    key = (b"syslog", mon, d, h, mi)
    if key in _minute_cache:
        base = _minute_cache[key]
    else:
        current = now if now is not None else time.time()
        year = time.localtime(current).tm_year
        build = (year, _MONTHS[mon], int(d), int(h), int(mi))
        base = _minute_epoch((*key, b"%d" % year), build, None)
        if base is not None and base > current + 86400:
            year -= 1
            build = (year, _MONTHS[mon], int(d), int(h), int(mi))
            base = _minute_epoch((*key, b"%d" % year), build, None)
        _minute_cache[key] = base
    return _in_minute(base, s, frac)


def _in_minute(base: float | None, sec: bytes, frac: bytes | None) -> float | None:
    """The instant `sec`.`frac` seconds into the minute starting at `base` (60: a leap
    second); None for an impossible minute or second."""
    if base is None or int(sec) > 60:
        return None
    return base + int(sec) + _fraction(frac)


# The common case, a line starting with an ISO-like stamp, with fewer groups to convert.
_FAST_ISO = re.compile(
    rb"(\d{4}-\d\d-\d\d[t ]\d\d:\d\d):(\d\d)(?:[.,](\d{1,9}))?(?: ?(z|utc|gmt|[+-]\d\d:?\d\d)\b)?"
)
_fast_cache: dict[tuple[bytes, bytes | None], float | None] = {}


def line_timestamp(low: bytes, start: int, end: int) -> float | None:
    """Timestamp of the (lowercased) line low[start:end], or None."""
    limit = min(end, start + SEARCH_BYTES)
    m = _FAST_ISO.match(low, start, limit)
    if m is not None:
        minute, sec, frac, tz = m.groups()
        key = (minute, tz)
        base = _fast_cache.get(key, -1.0)
        if base == -1.0:
            base = _minute_epoch(
                (minute, tz or b""),
                (
                    int(minute[:4]),
                    int(minute[5:7]),
                    int(minute[8:10]),
                    int(minute[11:13]),
                    int(minute[14:16]),
                ),
                tz,
            )
            if len(_fast_cache) > 4096:
                _fast_cache.clear()
            _fast_cache[key] = base
        if base is None or sec > b"60":
            return None
        if frac:
            return base + int(sec) + int(frac) / 10 ** len(frac)
        return base + int(sec)
    m = ANY_RE.search(low, start, limit)
    if m is None:
        return None
    if m.group(1) is not None:
        return _from_iso(m)
    return _from_syslog(m)


def iso_prefix_end(low: bytes, start: int, end: int) -> int:
    """Where an ISO-like timestamp at the very start of the line ends, or -1."""
    m = _FAST_ISO.match(low, start, min(end, start + SEARCH_BYTES))
    return -1 if m is None else m.end()


def parse_timestamp_text(text: str) -> float | None:
    """A whole user-given timestamp (ISO 8601, `YYYY-MM-DD HH:MM[:SS]`, a date) or None."""
    value = text.strip()
    raw = value.lower().encode("ascii", "replace")
    m = ISO_RE.fullmatch(raw)
    if m is not None:
        return _from_iso(m)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return time.mktime(parsed.timetuple()) + parsed.microsecond / 1e6
    return parsed.timestamp()


# re.ASCII: \d would read "٣h" (Arabic-Indic three) as three hours.
_DURATION_PART = re.compile(
    r"(\d+(?:\.\d+)?)\s*(weeks?|w|days?|d|hours?|hrs?|h|minutes?|mins?|m|seconds?|secs?|s)",
    re.I | re.ASCII,
)
_UNIT = {"w": 604800.0, "d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}


def parse_duration(text: str) -> float | None:
    """Seconds in `30m`, `2h`, `1d`, `1h30m`, `45s`, `1w`; None if it is not a duration."""
    value = text.strip().replace(" ", "")
    if not value:
        return None
    total = 0.0
    pos = 0
    for m in _DURATION_PART.finditer(value):
        if m.start() != pos:
            return None
        unit = m.group(2).lower()
        key = "m" if unit.startswith("min") or unit == "m" else unit[0]
        total += float(m.group(1)) * _UNIT[key]
        pos = m.end()
    return total if pos == len(value) else None


# journalctl's words for a day (systemd.time(7)): the local midnight that starts it.
_DAYS = {"today": 0, "yesterday": -1, "tomorrow": 1}


def _journal_form(text: str, current: float) -> float | None:
    """journalctl's --since forms (systemd.time(7)) beyond a bare duration and ISO:
    `now`, `today`, `yesterday`, `tomorrow`, `-2h` / `+30m` (before / after now),
    `2h ago`, `2 hours ago`, and `@EPOCH`. None if `text` is none of them."""
    value = text.strip().lower()
    if value == "now":
        return current
    if value in _DAYS:
        day = datetime.fromtimestamp(current).date() + timedelta(days=_DAYS[value])
        return time.mktime(datetime.combine(day, datetime.min.time()).timetuple())
    if value.startswith("@") and value[1:].isascii() and value[1:].isdigit():
        return float(value[1:])
    sign = 0
    if value.startswith(("-", "+")):
        sign, value = (-1 if value[0] == "-" else 1), value[1:]
    elif value.endswith(" ago"):
        sign, value = -1, value[: -len(" ago")]
    if sign == 0:
        return None
    duration = parse_duration(value)
    if duration is None or duration > current:  # not before 1970, nor infinite
        return None
    return current + sign * duration


def parse_when(text: str, option: str, now: float | None = None) -> float:
    """`--since`/`--until` value as epoch seconds; ValueError with the sentence to show."""
    current = time.time() if now is None else now
    duration = parse_duration(text)
    if duration is not None and duration <= current:  # not before 1970, nor infinite
        return current - duration
    journal = _journal_form(text, current)
    if journal is not None:
        return journal
    stamp = parse_timestamp_text(text)
    if stamp is not None:
        return stamp
    raise ValueError(
        f"invalid {option} value {text!r}: expected a duration like 30m, 2h or 1d "
        "(also -2h or '2h ago'), today, yesterday, or a timestamp like 2024-01-15T10:23:45Z "
        "or a date like 2024-01-15"
    )


def iso(ts: float | None) -> str | None:
    """UTC ISO 8601 with a Z; milliseconds only when the time has them."""
    if ts is None:
        return None
    moment = datetime.fromtimestamp(ts, tz=timezone.utc)
    spec = "milliseconds" if moment.microsecond else "seconds"
    return moment.isoformat(timespec=spec).replace("+00:00", "Z")


def minute_iso(minute: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:00Z", time.gmtime(minute))
