"""Parsing of Redis INFO and Memcached stats text into plain typed dicts."""

from __future__ import annotations

import math
from typing import Any

from cachediag.checks.facts_view import INT_RANGE
from cachediag.errors import ProtocolViolation
from cachediag.safety.server_text import server_text


def to_number(text: str) -> Any:
    """'12' -> 12, '1.5' -> 1.5, anything else stays a string.

    What only looks like a number stays the server's text as well: 'nan', 'inf', '1e400'
    (float() reads them, as infinities or NaN) and integers past 64 bits. No real server
    sends them; kept as text, they never reach arithmetic, int() or JSON as NaN or
    Infinity, and the readers that need the number say what the server sent
    (checks/facts_view.number, `malformed`).
    """
    try:
        number = int(text)
    except ValueError:
        pass
    else:
        return number if number in INT_RANGE else text
    try:
        value = float(text)
    except ValueError:
        return text
    return value if math.isfinite(value) else text


# Lines whose value is itself a list of name=value pairs.
_FIELD_LINES = ("db", "cmdstat_", "errorstat_", "latency_percentiles_usec_")


def _fields(text: str) -> dict[str, Any]:
    """'keys=1,expires=0,avg_ttl=0' -> {'keys': 1, 'expires': 0, 'avg_ttl': 0}."""
    out: dict[str, Any] = {}
    for item in text.split(","):
        name, sep, value = item.partition("=")
        if sep:
            out[name] = _value(value)
    return out


def _value(text: str) -> Any:
    """A number, or the server's text escaped and masked (safety/server_text)."""
    value = to_number(text)
    return server_text(value) if isinstance(value, str) else value


def parse_info(raw: bytes | str) -> dict[str, dict[str, Any]]:
    """INFO output by section: {'memory': {'used_memory': 123, ...}, 'keyspace': {'db0': {...}}}."""
    if not isinstance(raw, (bytes, str)):
        raise ProtocolViolation(f"INFO answered {type(raw).__name__} {raw!r:.40}, not text")
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    sections: dict[str, dict[str, Any]] = {}
    current = sections.setdefault("server", {})
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith("#"):
            current = sections.setdefault(line[1:].strip().lower(), {})
            continue
        name, sep, value = line.partition(":")
        if not sep:
            continue
        if not name.isprintable():
            name = server_text(name)
        if "=" in value and name.startswith(_FIELD_LINES):
            current[name] = _fields(value)
        else:
            current[name] = _value(value)
    return sections


def parse_redis_info(raw: object) -> dict[str, dict[str, Any]]:
    """parse_info for a full INFO reply, which must name the server's version.

    Every Redis (and Valkey, KeyDB, Dragonfly) does; a reply without it comes from
    something else, and judging its empty counters would give false passes.
    """
    info = parse_info(raw)  # type: ignore[arg-type]  # it rejects non-text itself
    if not (info.get("server") or {}).get("redis_version"):
        raise ProtocolViolation(f"INFO answered {raw!r:.40}, with no redis_version")
    return info


def stats_numbers(stats: dict[str, str]) -> dict[str, Any]:
    return {name: to_number(value) for name, value in stats.items()}
