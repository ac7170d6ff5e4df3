"""The key readings of a report (hit rate, memory, latency, clients, evictions, app health).

Monitoring formats graph numbers, not verdicts. Nagios perfdata and Prometheus gauges
show the same readings, so they are picked out of the results' `observed` data once,
here, with the thresholds the verdict used.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cachediag.checks.evaluate import Report, Result


@dataclass(frozen=True)
class Reading:
    name: str  # hit_rate, memory_used, latency_p99, latency_p50, clients, evictions, ...
    target: str
    value: float
    unit: str  # "ratio" (0..1), "seconds", "count" or "bytes"
    warn: float | None = None
    crit: float | None = None
    low_is_bad: bool = False  # a hit rate warns *below* its threshold
    minimum: float | None = None
    maximum: float | None = None
    help: str = ""
    # A quantile of a distribution (latency_p50, latency_p99): how many observations it
    # was taken over and their sum, in `unit`, for a Prometheus summary's _count and _sum.
    count: int | None = None
    total: float | None = None


def _num(mapping: dict[str, Any], name: str) -> float | None:
    value = mapping.get(name)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _scaled(value: Any, factor: float) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) * factor


def _hit_rate(result: Result) -> list[Reading]:
    rate = _num(result.observed, "hit_rate")
    hits, misses = _num(result.observed, "hits"), _num(result.observed, "misses")
    if rate is None and hits is not None and misses is not None and hits + misses:
        rate = hits / (hits + misses)  # too few lookups to judge, still worth graphing
    if rate is None:
        return []
    th = result.thresholds
    return [
        Reading(
            "hit_rate",
            result.target,
            rate,
            "ratio",
            _scaled(th.get("warn_below"), 1),
            _scaled(th.get("fail_below"), 1),
            True,
            0,
            1,
            "Cache hit rate (hits / lookups).",
        )
    ]


def _memory(result: Result) -> list[Reading]:
    used_pct = _num(result.observed, "used_percent")
    if used_pct is None:
        return []
    th = result.thresholds
    return [
        Reading(
            "memory_used",
            result.target,
            used_pct / 100,
            "ratio",
            _scaled(th.get("warn_at_percent"), 0.01),
            _scaled(th.get("fail_at_percent"), 0.01),
            False,
            0,
            1,
            "Memory used as a share of the configured limit.",
        )
    ]


def _latency(result: Result) -> list[Reading]:
    out = []
    th = result.thresholds
    samples, avg = _num(result.observed, "samples"), _num(result.observed, "avg_us")
    count = int(samples) if samples is not None else None
    # The mean is kept to 0.1 µs, so the sum is within 0.05 µs per round trip.
    total = avg * samples / 1e6 if samples is not None and avg is not None else None
    p99 = _num(result.observed, "p99_us")
    if p99 is not None:
        out.append(
            Reading(
                "latency_p99",
                result.target,
                p99 / 1e6,
                "seconds",
                _scaled(th.get("warn_p99_us"), 1e-6),
                _scaled(th.get("fail_p99_us"), 1e-6),
                False,
                0,
                None,
                "99th percentile round trip of PING (or version) from this host.",
                count,
                total,
            )
        )
    p50 = _num(result.observed, "p50_us")
    if p50 is not None:
        out.append(
            Reading(
                "latency_p50",
                result.target,
                p50 / 1e6,
                "seconds",
                minimum=0,
                help="Median round trip of PING (or version) from this host.",
                count=count,
                total=total,
            )
        )
    return out


def _pool(result: Result) -> list[Reading]:
    connected = _num(result.observed, "connected")
    if connected is None:
        return []
    limit = _num(result.observed, "max") or None
    th = result.thresholds
    warn = (
        limit * th["warn_at_percent"] / 100
        if limit and isinstance(th.get("warn_at_percent"), (int, float))
        else None
    )
    crit = (
        limit * th["fail_at_percent"] / 100
        if limit and isinstance(th.get("fail_at_percent"), (int, float))
        else None
    )
    return [
        Reading(
            "clients",
            result.target,
            connected,
            "count",
            warn,
            crit,
            False,
            0,
            limit,
            "Connected clients (the server's connection limit is the maximum).",
        )
    ]


def _evictions(result: Result) -> list[Reading]:
    evicted = _num(result.observed, "evicted")
    if evicted is None:
        return []
    warn = _num(result.thresholds, "warn_above")
    return [
        Reading(
            "evictions",
            result.target,
            evicted,
            "count",
            warn,
            None,
            False,
            0,
            None,
            "Keys evicted since the server started.",
        )
    ]


def _app_metrics(result: Result) -> list[Reading]:
    out = []
    rate = _num(result.observed, "hit_rate")
    if rate is not None:
        out.append(
            Reading(
                "hit_rate",
                result.target,
                rate,
                "ratio",
                minimum=0,
                maximum=1,
                low_is_bad=True,
                help="Cache hit rate (hits / lookups).",
            )
        )
    errors = _num(result.observed, "error_rate")
    if errors is not None:
        out.append(
            Reading(
                "error_rate",
                result.target,
                errors,
                "ratio",
                _num(result.thresholds, "warn_error_rate_above"),
                None,
                False,
                0,
                1,
                "Share of the application's cache operations that failed.",
            )
        )
    return out


def _app_health(result: Result) -> list[Reading]:
    elapsed = _num(result.observed, "elapsed_ms")
    if elapsed is None:
        return []
    return [
        Reading(
            "health_latency",
            result.target,
            elapsed / 1000,
            "seconds",
            _scaled(result.thresholds.get("warn_slower_than_ms"), 0.001),
            None,
            False,
            0,
            None,
            "Time the application's health endpoint took to answer.",
        )
    ]


_EXTRACTORS: dict[str, Callable[[Result], list[Reading]]] = {
    "hit_rate": _hit_rate,
    "memory": _memory,
    "latency": _latency,
    "pool": _pool,
    "evictions": _evictions,
}
_APP_EXTRACTORS: dict[str, Callable[[Result], list[Reading]]] = {
    "app.metrics": _app_metrics,
    "app.health": _app_health,
}


def readings(report: Report) -> list[Reading]:
    """Every key reading in the report, in result order."""
    out: list[Reading] = []
    for result in report.results:
        kind, _, name = result.id.partition(".")
        if kind in ("redis", "memcached"):
            extractor = _EXTRACTORS.get(name)
        else:
            extractor = _APP_EXTRACTORS.get(result.id)
        if extractor is not None:
            out.extend(extractor(result))
    return out
