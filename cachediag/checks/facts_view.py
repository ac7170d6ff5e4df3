"""Small, pure readers over a target's facts, shared by the rules."""

from __future__ import annotations

import math
import statistics
from typing import Any

from cachediag.checks.base import Facts
from cachediag.errors import MalformedReading

# Sizes and durations are formatted in render/units (pure text, the one place for units);
# re-exported here for rules that still import them from facts_view.
from cachediag.render.units import human_bytes as human_bytes
from cachediag.render.units import human_seconds as human_seconds
from cachediag.render.units import human_us as human_us
from cachediag.render.units import plural as plural


def section(facts: Facts, name: str) -> dict[str, Any]:
    """An INFO section (Redis) or stats group (Memcached), {} when not collected."""
    info = facts.get("info") or {}
    return dict(info.get(name) or {})


def stats(facts: Facts, group: str = "stats") -> dict[str, Any]:
    return dict(facts.get(group) or {})


# No counter or setting of a real server is outside 64 bits.
INT_RANGE = range(-(2**63), 2**64)


def malformed(value: object) -> bool:
    """Is `value` text that only looks like a number (probes/info.to_number keeps 'nan',
    'inf', '1e400' and integers past 64 bits as the server's text)?"""
    if not isinstance(value, str):
        return False
    try:
        return int(value) not in INT_RANGE
    except ValueError:
        pass
    try:
        return not math.isfinite(float(value))
    except ValueError:
        return False


def number(mapping: dict[str, Any], name: str) -> float | None:
    """A reading as a number; None when it is missing or not numeric (a name, a word).

    A reading that only looks like a number ('nan', 'inf', '1e400': kept as the server's
    text by probes/info.to_number) is a MalformedReading: a rule reading it is an `error`
    saying what the server sent, never a pass on NaN.
    """
    value = mapping.get(name)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if isinstance(value, float) and not math.isfinite(value):  # facts from elsewhere
            raise MalformedReading(f"the server sent {name}:{value}, not a finite number")
        return value
    if malformed(value):
        raise MalformedReading(f"the server sent {name}:{value}, not a finite number")
    return None


def keyspace_totals(facts: Facts) -> tuple[float, float]:
    """Keys and keys with an expiry, summed over the databases of INFO keyspace."""
    keyspace = section(facts, "keyspace")
    dbs = [db for db in keyspace.values() if isinstance(db, dict)]
    return (
        sum(number(db, "keys") or 0 for db in dbs),
        sum(number(db, "expires") or 0 for db in dbs),
    )


def redis_failed_writes(facts: Facts) -> dict[str, Any]:
    """Writes the server refused: OOM errors and calls rejected before they ran.

    `oom` is errorstat_OOM (Redis 6.2+, INFO errorstats): every command refused because
    used memory is over maxmemory and nothing could be evicted. `rejected_calls` sums
    INFO commandstats' rejected_calls (OOM, but also wrong arity or ACL refusals).
    Either is None when the server does not report it. Both count since start or the
    last CONFIG RESETSTAT.
    """
    oom_stat = section(facts, "errorstats").get("errorstat_OOM")
    oom = number(oom_stat, "count") if isinstance(oom_stat, dict) else None
    if oom is None and "errorstats" in (facts.get("info") or {}):
        oom = 0  # the section is there (Redis 6.2+) and lists no OOM
    commands = [c for c in section(facts, "commandstats").values() if isinstance(c, dict)]
    rejected = (
        sum(number(c, "rejected_calls") or 0 for c in commands)
        if any("rejected_calls" in c for c in commands)
        else None
    )
    return {"oom": oom, "rejected_calls": rejected}


def replica_ignores_maxmemory(facts: Facts) -> bool | None:
    """Is this a read-only replica that ignores maxmemory (Redis 5+ default)?

    None when the server is not a replica. Such a replica takes no writes from
    clients and evicts nothing itself: its primary evicts and the deletions replicate,
    so its maxmemory and policy do not decide whether writes fail.
    """
    replication = section(facts, "replication")
    if replication.get("role") != "slave":
        return None
    if number(replication, "slave_read_only") == 0:
        return False  # clients may write to it: it is judged like a primary
    config = ((facts.get("config") or {}).get("values") or {}).get("replica-ignore-maxmemory")
    return str(config or "yes").lower() == "yes"  # unreadable CONFIG: the default, yes


def sample_keys(facts: Facts) -> list[dict[str, Any]]:
    return list((facts.get("sample") or {}).get("keys") or [])


def sample_problem(facts: Facts) -> str | None:
    """Why there is no key sample to judge, or None when there is one."""
    sample = facts.get("sample") or {}
    if sample.get("error"):
        return str(sample["error"])
    if not sample.get("keys"):
        return "the sample found no keys"
    return None


def saturation(facts: Facts) -> dict[str, Any] | None:
    """{limit, message} when the server was up but at its connection limit, else None."""
    saturated = facts.get("saturated")
    return dict(saturated) if isinstance(saturated, dict) else None


def percentile(values: list[int], pct: float) -> int:
    ordered = sorted(values)
    if not ordered:
        return 0
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def latency_summary(samples: list[int]) -> dict[str, Any]:
    return {
        "samples": len(samples),
        "min_us": min(samples),
        "p50_us": percentile(samples, 50),
        "p99_us": percentile(samples, 99),
        "max_us": max(samples),
        "avg_us": round(statistics.fmean(samples), 1),
    }


def pct(part: float, whole: float) -> float:
    return 100.0 * part / whole if whole else 0.0
