"""Rules for the checklist's Application Issues section: pure functions of the app facts.

The facts come from cachediag.probes.app (logs, metrics and health endpoint, and the
schema versions found in the targets' samples). A source that was not given is None:
its checks skip and say which option would make them run.
"""

from __future__ import annotations

from typing import Any

from cachediag.checks.base import Facts, Outcome, Thresholds, failed, passed, rule, skipped, warned
from cachediag.render.units import human_bytes

NO_LOG = "no application log given (--log FILE, or logs = [...] in cachediag.toml)"
_ERROR_CATEGORIES = ("serialization", "pool_exhausted")
_WARN_CATEGORIES = ("backend_unavailable", "timeout")
_LABELS = {
    "serialization": "serialization errors",
    "pool_exhausted": "pool exhausted",
    "backend_unavailable": "backend unavailable",
    "timeout": "timeouts",
    "cache_error": "other cache errors",
}


def _scan(facts: Facts) -> tuple[dict[str, Any] | None, Outcome | None]:
    """The log scan, or the outcome to return when there is none."""
    logs = facts.get("logs")
    if not logs:
        return None, skipped(NO_LOG)
    if logs.get("error"):
        return None, Outcome("error", f"the logs could not be read: {logs['error']}")
    scan = logs.get("scan")
    if not isinstance(scan, dict):
        return None, Outcome("error", "the log scan returned nothing")
    return scan, None


def _count(scan: dict[str, Any], category: str) -> int:
    entry = (scan.get("categories") or {}).get(category) or {}
    count = entry.get("count", 0)
    return int(count) if isinstance(count, (int, float)) else 0


def _first_sample(scan: dict[str, Any], category: str) -> str | None:
    entry = (scan.get("categories") or {}).get(category) or {}
    samples = entry.get("samples") or []
    if not samples:
        return None
    first = samples[0]
    return str(first.get("text", "") if isinstance(first, dict) else first)


def _scanned(scan: dict[str, Any]) -> str:
    sources = scan.get("sources") or []
    size = sum(s.get("scanned_bytes") or 0 for s in sources if isinstance(s, dict))
    return f"{human_bytes(size)} of logs in {len(sources)} file{'s' if len(sources) != 1 else ''}"


@rule("app.error_logs")
def error_logs(facts: Facts, th: Thresholds) -> Outcome:
    scan, outcome = _scan(facts)
    if outcome is not None or scan is None:
        return outcome or skipped(NO_LOG)
    order = (*_ERROR_CATEGORIES, *_WARN_CATEGORIES, "cache_error")
    counts = {c: _count(scan, c) for c in order}
    observed: dict[str, Any] = {
        "counts": counts,
        "paths": (facts.get("logs") or {}).get("paths", []),
    }
    top = ((scan.get("keys") or {}).get("namespaces") or [])[:3]
    if top:
        observed["namespaces"] = {n.get("namespace"): n.get("mentions") for n in top}
    worst = next((c for c in order if counts[c]), None)
    if worst is None:
        return passed(f"no cache errors in {_scanned(scan)}", **observed)
    found = ", ".join(f"{counts[c]} {_LABELS[c]}" for c in order if counts[c])
    sample = _first_sample(scan, worst)
    observed["example"] = sample
    text = found
    if top:
        text += (
            " (keys: " + ", ".join(f"{n.get('namespace')} ×{n.get('mentions')}" for n in top) + ")"
        )
    if sample:
        text += f"; e.g. {sample}"
    if any(counts[c] for c in _ERROR_CATEGORIES):
        return failed(text, **observed)
    return warned(text, **observed)


@rule("app.fallback")
def fallback(facts: Facts, th: Thresholds) -> Outcome:
    scan, outcome = _scan(facts)
    if outcome is not None or scan is None:
        return outcome or skipped(NO_LOG)
    near = scan.get("fallback_proximity") or {}
    backend_errors = int(near.get("backend_errors") or 0)
    covered = int(near.get("with_fallback_nearby") or 0)
    uncovered = int(near.get("without_fallback_nearby") or backend_errors - covered)
    observed: dict[str, Any] = {
        "backend_errors": backend_errors,
        "with_fallback_nearby": covered,
        "without_fallback_nearby": uncovered,
        "fallback_lines": _count(scan, "fallback"),
        "near_lines": near.get("near_lines"),
        "near_seconds": near.get("near_seconds"),
    }
    if not backend_errors:
        return skipped(
            "no backend errors in the logs: the fallback path was not exercised", **observed
        )
    lines, seconds = near.get("near_lines"), near.get("near_seconds")
    nearby = (
        f"within {lines} lines or {seconds:g} s"
        if isinstance(seconds, (int, float)) and lines
        else "nearby"
    )
    if uncovered > 0:
        return warned(
            f"{uncovered} of {backend_errors} backend errors have no fallback line {nearby}: "
            "errors may reach the callers instead of falling back to the database",
            **observed,
        )
    return passed(f"all {backend_errors} backend errors have a fallback line {nearby}", **observed)


def _first_metric(values: dict[str, Any], candidates: list[str]) -> tuple[str | None, float | None]:
    for name in candidates:
        value = values.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return name, float(value)
    return None, None


@rule("app.metrics")
def metrics(facts: Facts, th: Thresholds) -> Outcome:
    endpoint = facts.get("metrics")
    if not endpoint:
        return skipped(
            "no metrics endpoint given (--metrics-url URL, or metrics_url in cachediag.toml)"
        )
    if not endpoint.get("ok"):
        error = endpoint.get("error") or {}
        return failed(f"unreachable: {error.get('message', 'no answer')}", cause=error.get("kind"))
    status = endpoint.get("http_status")
    if status != 200:
        return failed(f"{endpoint.get('url')} answered HTTP {status}", http_status=status)
    values = endpoint.get("values") or {}
    names = endpoint.get("names") or {}
    found: dict[str, str] = {}
    readings: dict[str, float] = {}
    for role in ("hits", "misses", "errors", "hit_rate", "error_rate"):
        name, value = _first_metric(values, list(names.get(role) or []))
        if name is not None and value is not None:
            found[role], readings[role] = name, value
    observed: dict[str, Any] = {"metrics": found, "values": readings}
    hit_rate = readings.get("hit_rate")
    if "hits" in readings and "misses" in readings:
        lookups = readings["hits"] + readings["misses"]
        hit_rate = readings["hits"] / lookups if lookups else hit_rate
    error_rate = readings.get("error_rate")
    if error_rate is None and "errors" in readings and "hits" in readings and "misses" in readings:
        operations = readings["hits"] + readings["misses"] + readings["errors"]
        error_rate = readings["errors"] / operations if operations else None
    if hit_rate is None:
        wanted = ", ".join(n for role in ("hits", "misses") for n in (names.get(role) or [])[:1])
        return warned(
            f"no cache hit/miss metrics among {endpoint.get('metric_names_seen', 0)} metrics "
            f"(looked for {wanted}; name the application's own in [metrics] of cachediag.toml)",
            **observed,
        )
    observed["hit_rate"] = round(hit_rate, 4)
    text = f"hit rate {hit_rate:.1%}"
    if "hits" in readings and "misses" in readings:
        text += f" ({readings['hits']:.0f} hits, {readings['misses']:.0f} misses)"
    if error_rate is not None:
        observed["error_rate"] = round(error_rate, 4)
        text += f", error rate {error_rate:.1%}"
        limit = th.get("warn_error_rate_above", 0.05)
        if error_rate > limit:
            return warned(f"{text}: above {limit:.0%}", **observed)
    return passed(text, **observed)


@rule("app.health")
def health(facts: Facts, th: Thresholds) -> Outcome:
    endpoint = facts.get("health")
    if not endpoint:
        return skipped(
            "no health endpoint given (--health-url URL, or health_url in cachediag.toml)"
        )
    if not endpoint.get("ok"):
        error = endpoint.get("error") or {}
        return failed(f"unreachable: {error.get('message', 'no answer')}", cause=error.get("kind"))
    status = endpoint.get("http_status")
    body_status = endpoint.get("body_status")
    elapsed = endpoint.get("elapsed_ms") or 0.0
    observed = {
        "http_status": status,
        "status": body_status,
        "elapsed_ms": elapsed,
        "body": endpoint.get("body_json"),
    }
    said = (
        f"HTTP {status}"
        + (f", status {body_status}" if body_status else "")
        + f" in {elapsed:.0f} ms"
    )
    if status != 200 or (body_status or "").lower() in ("unhealthy", "down", "fail", "error"):
        return failed(f"unhealthy: {said}", **observed)
    slow = th.get("warn_slower_than_ms", 100)
    if elapsed > slow or (body_status or "").lower() == "degraded":
        return warned(f"degraded: {said} (slower than {slow} ms counts as degraded)", **observed)
    if body_status is None:
        return passed(f"{said} (the body carries no JSON status)", **observed)
    return passed(said, **observed)


@rule("app.schema_change")
def schema_change(facts: Facts, th: Thresholds) -> Outcome:
    versions = facts.get("schema_versions")
    if not versions or not versions.get("sampled_targets"):
        return skipped(
            "no key sample from any Redis or Memcached target to read schema versions from"
        )
    namespaces: dict[str, Any] = versions.get("namespaces") or {}
    if not versions.get("entries"):
        return skipped("no sampled value carries the cache-kit envelope")
    mixed = {ns: data for ns, data in namespaces.items() if len(data.get("versions") or {}) > 1}
    observed = {"namespaces": namespaces, "entries": versions["entries"]}
    if mixed:
        parts = []
        for ns, data in mixed.items():
            histogram = ", ".join(f"v{v} ×{n}" for v, n in data["versions"].items())
            examples = ", ".join(
                f"{keys[0]} (v{v})" for v, keys in data["sample_keys"].items() if keys
            )
            parts.append(f"{ns}: {histogram}; e.g. {examples}")
        return warned(
            "more than one schema version under a namespace: " + " | ".join(parts), **observed
        )
    listed = ", ".join(
        f"{ns} v{next(iter(d['versions']))}" for ns, d in list(namespaces.items())[:5]
    )
    return passed(
        f"{versions['entries']} sampled cache-kit entries, "
        f"one schema version per namespace ({listed})",
        **observed,
    )


@rule("app.database_load")
def database_load(facts: Facts, th: Thresholds) -> Outcome:
    return skipped(
        "not observable from here: cachediag sees the cache, not the database. "
        "Check the database's own metrics (connections, slow queries); "
        "a low hit rate sends the load there."
    )
