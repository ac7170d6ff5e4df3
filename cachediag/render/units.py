"""Units in one place: sizes, durations and timestamps as every output prints them.

Pure text on the standard library only (no rich): the checks under checks/ build their
summaries with these too, and must stay free of I/O and of the terminal.
"""

from __future__ import annotations

from datetime import datetime, timezone

MINUTE = 60
HOUR = 3600
DAY = 86400

# Powers of 1024, so under their IEC names (Redis' own "M" means the same; "MB" would not).
_IEC_BYTES = ("B", "KiB", "MiB", "GiB", "TiB")


def _scaled(value: float, names: tuple[str, ...]) -> str:
    for unit in names:
        if abs(value) < 1024 or unit == names[-1]:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable: the last unit always returns")  # pragma: no cover


def human_bytes(value: float) -> str:
    """1536 -> '1.5 KiB' (powers of 1024); bytes are whole: '512 B'."""
    return _scaled(value, _IEC_BYTES)


def human_bytes_iec(value: float | None) -> str:
    """1536 -> '1.5 KiB'; '?' when the size is not known."""
    return "?" if value is None else _scaled(float(value), _IEC_BYTES)


def limit_text(value: float) -> str:
    """A configured memory limit, exact and readable: '134217728 (128.0 MiB)'; 0 is none."""
    return "0 (no limit)" if value == 0 else f"{value} ({human_bytes(value)})"


def human_us(value: float) -> str:
    """A duration in microseconds: '850 µs', '1.25 ms'."""
    return f"{value / 1000:.2f} ms" if value >= 1000 else f"{value:.0f} µs"


def human_seconds(seconds: float) -> str:
    """A span as a person says it: '45 s', '12 min', '5.5 h', '3.2 days'."""
    if seconds < 2 * MINUTE:
        return f"{seconds:.0f} s"
    if seconds < 2 * HOUR:
        return f"{seconds / MINUTE:.0f} min"
    if seconds < 2 * DAY:
        return f"{seconds / HOUR:.1f} h"
    return f"{seconds / DAY:.1f} days"


def human_duration(seconds: float) -> str:
    """Whole seconds in the two largest units: '45s', '5m 3s', '2h 10m', '3d 4h'."""
    seconds = int(seconds)
    if seconds < MINUTE:
        return f"{seconds}s"
    if seconds < HOUR:
        return f"{seconds // MINUTE}m {seconds % MINUTE}s"
    if seconds < DAY:
        return f"{seconds // HOUR}h {seconds % HOUR // MINUTE}m"
    return f"{seconds // DAY}d {seconds % DAY // HOUR}h"


def compact_duration(seconds: float) -> str:
    """As a progress line's ETA, without spaces: '45s', '5m03s', '1h02m'."""
    seconds = int(seconds)
    if seconds >= HOUR:
        return f"{seconds // HOUR}h{seconds % HOUR // MINUTE:02d}m"
    if seconds >= MINUTE:
        return f"{seconds // MINUTE}m{seconds % MINUTE:02d}s"
    return f"{seconds}s"


def plural(count: float, word: str, many: str | None = None) -> str:
    """'1 key', '2 keys', '1,024 keys': a count and its noun, in the right number."""
    noun = word if count == 1 else (many or f"{word}s")
    return f"{count:,.0f} {noun}"


def utc_stamp(at: float | None = None) -> str:
    moment = datetime.now(timezone.utc) if at is None else datetime.fromtimestamp(at, timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
