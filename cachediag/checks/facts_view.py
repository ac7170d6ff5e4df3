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
