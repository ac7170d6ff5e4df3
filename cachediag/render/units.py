"""Units in one place: sizes, durations and timestamps as every output prints them."""

from __future__ import annotations

from datetime import datetime, timezone


def utc_stamp(at: float | None = None) -> str:
    moment = datetime.now(timezone.utc) if at is None else datetime.fromtimestamp(at, timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
