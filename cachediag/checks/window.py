"""Counters over the probe's window, and the lookups that are not the application's. Pure.

Since-boot counters answer "how has this cache done since it started", not "how is it
doing now": after a healthy morning, a deploy that makes most lookups miss barely moves
them. The Redis probe reads INFO twice, `window.seconds` apart (facts["window"]["first"]
and then facts["info"]), and both readings come before its own key sample.

Key-inspection commands are lookups too: every TYPE, PTTL, STRLEN, GETRANGE, length
command or OBJECT call counts as a keyspace hit (a miss when the key is gone), and
these are what key scanners send (cachediag's samples, bigkeys and inspect;
redis-cli --bigkeys; GUIs), not what a cache's readers send (GET, MGET, HGET...).
INFO commandstats counts their calls, so they can be left out of the hits: that is what
keeps one cachediag run from inflating the hit rate the next one reads.
"""

from __future__ import annotations

from typing import Any

from cachediag.checks.base import Facts
from cachediag.checks.facts_view import number, section

# The commands cachediag's scans send per key (MEMORY USAGE does not count as a lookup).
INSPECTION_COMMANDS = (
    "type",
    "pttl",
    "strlen",
    "getrange",
    "llen",
    "scard",
    "zcard",
    "hlen",
    "xlen",
    "object",
)


def inspection_calls(commandstats: dict[str, Any]) -> dict[str, int]:
    """Calls of each key-inspection command in an INFO commandstats section (not zeros)."""
    calls = {}
    for name in INSPECTION_COMMANDS:
        entry = commandstats.get(f"cmdstat_{name}")
        count = entry.get("calls") if isinstance(entry, dict) else None
        if isinstance(count, int) and count > 0:
            calls[name.upper()] = count
    return calls


def first_reading(facts: Facts) -> dict[str, Any] | None:
    """The window's first reading, or None when no window was taken (or it failed)."""
    window = facts.get("window") or {}
    first = window.get("first")
    return first if isinstance(first, dict) else None


def window_seconds(facts: Facts) -> float:
    return float((facts.get("window") or {}).get("seconds") or 0.0)


def window_delta(facts: Facts, group: str, name: str) -> float | None:
    """How much counter `name` of INFO section `group` grew over the window.

    None without a window, when either reading lacks it, or when it went down (a restart
    or CONFIG RESETSTAT inside the window: the difference means nothing).
    """
    first = first_reading(facts)
    if first is None:
        return None
    before = number(first.get(group) or {}, name)
    after = number(section(facts, group), name)
    if before is None or after is None or after < before:
        return None
    return after - before


def inspection_calls_in_window(facts: Facts) -> dict[str, int]:
    first = first_reading(facts) or {}
    before = inspection_calls(first.get("commandstats") or {})
    after = inspection_calls(section(facts, "commandstats"))
    return {
        name: count - before.get(name, 0)
        for name, count in after.items()
        if count > before.get(name, 0)
    }


def calls_text(calls: dict[str, int]) -> str:
    """ "GETRANGE 500, PTTL 500, STRLEN 500", the biggest first."""
    ranked = sorted(calls.items(), key=lambda kv: (-kv[1], kv[0]))
    return ", ".join(f"{name} {count:,}" for name, count in ranked)
