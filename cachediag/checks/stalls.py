"""Server-side stalls, read from the SLOWLOG and LATENCY LATEST facts. Pure.

Redis runs commands on one thread: while a slow command (or a fork, an eviction cycle)
runs, every other client waits, and its round trips look like a slow network. The
probe reads SLOWLOG (masked) and LATENCY LATEST around its own round trips
(probes/stalls.py); these readers tell which stalls happened while it measured, which
recently, and which are history, so the rules can name the slow commands and say
whether slow round trips were spent in Redis or on the way to it.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from cachediag.checks.base import Facts
from cachediag.checks.facts_view import human_us

# SLOWLOG timestamps are whole seconds: an entry this close to the measurement counts as in it.
DURING_SLACK_S = 1.0


def stall_facts(facts: Facts) -> dict[str, Any] | None:
    stalls = facts.get("stalls")
    return stalls if isinstance(stalls, dict) else None


def _during(item: dict[str, Any], measured_s: float | None) -> bool:
    """Whether a slowlog entry or latency event happened while cachediag measured."""
    if item.get("during") is True:
        return True
    age = item.get("age_s")
    return (
        measured_s is not None
        and isinstance(age, (int, float))
        and age <= measured_s + DURING_SLACK_S
    )


def slow_entries(stalls: dict[str, Any], min_us: float) -> list[dict[str, Any]]:
    entries = (stalls.get("slowlog") or {}).get("entries") or []
    return [e for e in entries if (e.get("duration_us") or 0) >= min_us]


def slow_events(stalls: dict[str, Any], min_us: float) -> list[dict[str, Any]]:
    events = (stalls.get("latency") or {}).get("events") or []
    return [e for e in events if (e.get("latest_ms") or 0) * 1000 >= min_us]


def by_command(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Slow entries grouped by command, the most time spent first."""
    groups: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"count": 0, "max_us": 0, "total_us": 0, "keys": None, "latest_age_s": None}
    )
    for entry in entries:
        group = groups[entry.get("command") or "?"]
        group["count"] += 1
        duration = int(entry.get("duration_us") or 0)
        group["max_us"] = max(group["max_us"], duration)
        group["total_us"] += duration
        if group["keys"] is None:
            group["keys"] = entry.get("keys")
        age = entry.get("age_s")
        if isinstance(age, (int, float)) and (
            group["latest_age_s"] is None or age < group["latest_age_s"]
        ):
            group["latest_age_s"] = age
    ranked = sorted(groups.items(), key=lambda kv: (-kv[1]["total_us"], kv[0]))
    return [{"command": name, **group} for name, group in ranked]


def commands_text(groups: list[dict[str, Any]], limit: int = 3) -> str:
    """ "DEBUG SLEEP ×25 (up to 30.1 ms), KEYS ×1 (up to 212 ms)"."""
    parts = [
        f"{g['command']} ×{g['count']} (up to {human_us(g['max_us'])})" for g in groups[:limit]
    ]
    if len(groups) > limit:
        parts.append(f"{len(groups) - limit} more")
    return ", ".join(parts)


def events_text(events: list[dict[str, Any]], limit: int = 3) -> str:
    """ "fork 120 ms (max 340 ms), command 31 ms"."""
    ranked = sorted(events, key=lambda e: -(e.get("latest_ms") or 0))
    parts = []
    for event in ranked[:limit]:
        text = f"{event['event']} {event['latest_ms']} ms"
        if (event.get("max_ms") or 0) > (event.get("latest_ms") or 0):
            text += f" (max {event['max_ms']} ms)"
        parts.append(text)
    return ", ".join(parts)


def monitor_note(stalls: dict[str, Any]) -> str | None:
    """Why a stall may be invisible: the latency monitor off, the slowlog off or coarse."""
    notes = []
    threshold = (stalls.get("latency") or {}).get("threshold_ms")
    if threshold == 0:
        notes.append(
            "the latency monitor is off (latency-monitor-threshold 0): forks, evictions and "
            "expiry cycles are not recorded"
        )
    slower = (stalls.get("slowlog") or {}).get("log_slower_than_us")
    if isinstance(slower, int) and slower < 0:
        notes.append("SLOWLOG is off (slowlog-log-slower-than -1)")
    return "; ".join(notes) or None


def during_measurement(facts: Facts, min_us: float) -> dict[str, Any]:
    """The slow commands and latency events (at least `min_us`) while cachediag measured."""
    stalls = stall_facts(facts) or {}
    measured = stalls.get("measured_s")
    measured_s = float(measured) if isinstance(measured, (int, float)) else None
    entries = [e for e in slow_entries(stalls, min_us) if _during(e, measured_s)]
    events = [e for e in slow_events(stalls, min_us) if _during(e, measured_s)]
    return {"commands": by_command(entries), "events": events, "truncated": _truncated(stalls)}


def _truncated(stalls: dict[str, Any]) -> int | None:
    """How many entries were read, when SLOWLOG held more (the counts are lower bounds)."""
    read = (stalls.get("slowlog") or {}).get("truncated")
    return read if isinstance(read, int) and read > 0 else None


def truncation_note(found: dict[str, Any]) -> str:
    """Said after counts taken from a SLOWLOG longer than the entries read."""
    read = found.get("truncated")
    return f" (in the latest {read} SLOWLOG entries)" if read else ""


def recent(facts: Facts, min_us: float, recent_s: float) -> dict[str, Any]:
    """Slow commands and latency events of the last `recent_s` seconds, and the older ones."""
    stalls = stall_facts(facts) or {}
    measured = stalls.get("measured_s")
    measured_s = float(measured) if isinstance(measured, (int, float)) else None

    def is_recent(item: dict[str, Any]) -> bool:
        age = item.get("age_s")
        return _during(item, measured_s) or (isinstance(age, (int, float)) and age <= recent_s)

    entries = slow_entries(stalls, min_us)
    events = slow_events(stalls, min_us)
    return {
        "commands": by_command([e for e in entries if is_recent(e)]),
        "events": [e for e in events if is_recent(e)],
        "older_commands": by_command([e for e in entries if not is_recent(e)]),
        "older_events": [e for e in events if not is_recent(e)],
        "truncated": _truncated(stalls),
    }


def stall_clause(during: dict[str, Any]) -> str | None:
    """What Redis was busy with while cachediag measured, or None when nothing was logged."""
    parts = []
    if during["commands"]:
        parts.append(f"slow commands {commands_text(during['commands'])}{truncation_note(during)}")
    if during["events"]:
        parts.append(f"latency events {events_text(during['events'])}")
    return " and ".join(parts) or None
