"""Small, pure readers over a target's facts, shared by the rules."""

from __future__ import annotations

import statistics
from typing import Any

from cachediag.checks.base import Facts

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


def number(mapping: dict[str, Any], name: str) -> float | None:
    value = mapping.get(name)
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def keyspace_totals(facts: Facts) -> tuple[float, float]:
    """Keys and keys with an expiry, summed over the databases of INFO keyspace."""
    keyspace = section(facts, "keyspace")
    dbs = [db for db in keyspace.values() if isinstance(db, dict)]
    return sum(db.get("keys", 0) for db in dbs), sum(db.get("expires", 0) for db in dbs)


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
