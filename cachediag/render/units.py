"""Units in one place: sizes, durations and timestamps as every output prints them."""

from __future__ import annotations

from datetime import datetime, timezone


def utc_stamp(at: float | None = None) -> str:
    moment = datetime.now(timezone.utc) if at is None else datetime.fromtimestamp(at, timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# Powers of 1024 under their IEC names (issue 10, case 11): 1536 -> '1.5 KiB'.
_IEC_BYTES = ("B", "KiB", "MiB", "GiB", "TiB")


def human_bytes_iec(value: float | None) -> str:
    """1536 -> '1.5 KiB'; whole bytes stay whole ('512 B'); '?' when the size is not known."""
    if value is None:
        return "?"
    scaled = float(value)
    for unit in _IEC_BYTES:
        if abs(scaled) < 1024 or unit == _IEC_BYTES[-1]:
            return f"{scaled:.0f} {unit}" if unit == "B" else f"{scaled:.1f} {unit}"
        scaled /= 1024
    raise AssertionError("unreachable: the last unit always returns")  # pragma: no cover


def human_duration(seconds: float) -> str:
    """Whole seconds in the two largest units: '45s', '5m 3s', '2h 10m', '3d 4h'."""
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60}s"
    if seconds < 86400:
        return f"{seconds // 3600}h {seconds % 3600 // 60}m"
    return f"{seconds // 86400}d {seconds % 86400 // 3600}h"
