"""Collect the application's facts: its logs, its metrics endpoint, its health endpoint.

Facts (all JSON-serializable; a source that was not given is None):
  logs:    paths, scan (the cachediag.logs/v1 document of scan_logs) or error
  metrics: url (masked), ok, http_status, elapsed_ms, error {kind, message}, names
           {role: [candidate metric names]}, values {name: sum over label sets},
           types, series, unparsed_lines
  health:  url (masked), ok, http_status, elapsed_ms, error, body_status, body (excerpt)
  schema_versions: cache-kit schema versions per namespace over every target's sample
           (built by `schema_versions`, a pure function of the targets' facts)

Read-only like every probe: one GET per endpoint, bodies read up to a bound, the
whole exchange bounded by the timeout.
"""

from __future__ import annotations

import json
import re
import socket
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from cachediag import __version__
from cachediag.errors import UsageError
from cachediag.keyspace import envelope
from cachediag.keyspace.namespaces import namespace_of
from cachediag.probes.facts import (
    AppEndpoints,
    HealthFacts,
    LogsFacts,
    MetricsFacts,
    SchemaVersions,
)
from cachediag.safety.secrets import mask_secrets

METRICS_LIMIT = 16 * 2**20  # bytes of /metrics read at most
HEALTH_LIMIT = 64 * 2**10
# A whole fetch may take its timeout and this much more (thread start, the last read).
FETCH_MARGIN_S = 0.25
SAMPLE_KEYS_PER_VERSION = 3
MAX_METRIC_NAMES = 200

# Metric roles and the names cache-kit applications export for them (cache-kit-facts.md);
# `[metrics]` in cachediag.toml names the application's own.
DEFAULT_METRIC_NAMES: dict[str, tuple[str, ...]] = {
    "hits": ("cache_hits_total", "cache_hits"),
    "misses": ("cache_misses_total", "cache_misses"),
    "errors": ("cache_errors_total", "cache_errors"),
    "hit_rate": ("cache_hit_rate",),
    "error_rate": ("cache_error_rate",),
}
_SECRET_QUERY = re.compile(
    r"(?i)([?&](?:[a-z_]*token|[a-z_]*key|secret|password|passwd|auth[a-z_]*)=)[^&#]*"
)


@dataclass(frozen=True)
class AppSources:
    logs: tuple[str, ...] = ()
    metrics_url: str | None = None
    health_url: str | None = None
    metric_names: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: dict(DEFAULT_METRIC_NAMES)
    )


def mask_url(url: str) -> str:
    """The URL as reports show it: password and token-like query values masked."""
    return _SECRET_QUERY.sub(r"\1***", mask_secrets(url))


def _check_url(option: str, url: str | None) -> str | None:
    if url is None or url == "":
        return None
    try:
        parsed = urllib.parse.urlsplit(url)
        hostname = parsed.hostname
    except ValueError as exc:  # "Invalid IPv6 URL" and friends
        raise UsageError(f"{option} {mask_url(url)}: not a valid URL ({exc})") from None
    if parsed.scheme not in ("http", "https") or not hostname:
        raise UsageError(f"{option} {mask_url(url)}: expected an http:// or https:// URL")
    return url


def _metric_names(config: Mapping[str, Any], where: str) -> dict[str, tuple[str, ...]]:
    names = dict(DEFAULT_METRIC_NAMES)
    for role, value in config.items():
        if role not in DEFAULT_METRIC_NAMES:
            raise UsageError(
                f"{where}: unknown metric role '{role}' in [metrics] "
                f"(known: {', '.join(DEFAULT_METRIC_NAMES)})"
            )
        values = [value] if isinstance(value, str) else value
        if (
            not isinstance(values, list)
            or not values
            or not all(isinstance(v, str) and v for v in values)
        ):
            raise UsageError(f"{where}: [metrics] {role} must be a metric name or a list of them")
        names[role] = tuple(values)
    return names


def sources_from(
    log_flags: list[str],
    metrics_url: str | None,
    health_url: str | None,
    extra: Mapping[str, Any],
    config_path: str | None,
) -> AppSources:
    """Flags first, cachediag.toml (`logs`, `metrics_url`, `health_url`, `[metrics]`) second."""
    where = f"config {config_path}" if config_path else "config"
    config_logs = extra.get("logs", [])
    if isinstance(config_logs, str):
        config_logs = [config_logs]
    if not isinstance(config_logs, list) or not all(isinstance(p, str) for p in config_logs):
        raise UsageError(f"{where}: 'logs' must be a list of paths")
    base = Path(config_path).parent if config_path else Path()
    # Relative paths in the config are relative to the config file, like a Makefile's.
    logs = list(log_flags) if log_flags else [p if p == "-" else str(base / p) for p in config_logs]
    if logs:
        from cachediag.logscan.reader import expand_inputs

        expand_inputs(logs)  # a missing file or an empty glob is a usage error, before any probing
    for key in ("metrics_url", "health_url"):
        if key in extra and not isinstance(extra[key], str):
            raise UsageError(f"{where}: '{key}' must be a URL")
    metrics_config = extra.get("metrics", {})
    if not isinstance(metrics_config, dict):
        raise UsageError(
            f"{where}: 'metrics' must be a table like [metrics] hits = \"myapp_cache_hits_total\""
        )
    return AppSources(
        logs=tuple(logs),
        metrics_url=_check_url("--metrics-url", metrics_url or extra.get("metrics_url")),
        health_url=_check_url("--health-url", health_url or extra.get("health_url")),
        metric_names=_metric_names(metrics_config, where),
    )


def _error_kind(reason: object) -> str:
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return "timeout"
    if isinstance(reason, ConnectionRefusedError):
        return "refused"
    if isinstance(reason, socket.gaierror):
        return "dns"
    if isinstance(reason, ssl.SSLError):
        return "tls"
    if isinstance(reason, OSError):
        return "unreachable"
    return "error"


def _describe(kind: str, reason: object, url: str, timeout: float) -> str:
    if kind == "timeout":
        return f"{url} did not answer within {timeout:g} s"
    if kind == "refused":
        return f"connection to {url} refused (nothing listening)"
    if kind == "dns":
        return f"cannot resolve the host of {url}"
    text = getattr(reason, "strerror", None) or str(reason)
    return f"{url}: {text}"


def fetch(url: str, timeout: float, limit: int) -> dict[str, Any]:
    """GET `url` within `timeout` for the whole fetch; errors as data, never raised.

    urllib bounds each socket read, not the request: a server dripping one byte at a
    time keeps every read under the timeout for as long as it likes. So the fetch runs
    in a daemon thread that is abandoned at the deadline (cachediag leaves through
    os._exit, which never waits for it).
    """
    outcome: list[dict[str, Any]] = []
    worker = threading.Thread(
        target=lambda: outcome.append(_fetch(url, timeout, limit)),
        name=f"fetch {mask_url(url)}",
        daemon=True,
    )
    worker.start()
    worker.join(timeout + FETCH_MARGIN_S)
    if outcome:
        return outcome[0]
    shown = mask_url(url)
    return {
        "url": shown,
        "ok": False,
        "http_status": None,
        "elapsed_ms": None,
        "error": {
            "kind": "timeout",
            "message": f"{shown} did not send a complete answer within {timeout:g}s",
        },
    }


def _fetch(url: str, timeout: float, limit: int) -> dict[str, Any]:
    """GET `url`: status, body (up to `limit` bytes), time taken; errors as data, never raised."""
    shown = mask_url(url)
    request = urllib.request.Request(
        url,
        headers={
            "User-Agent": f"cachediag/{__version__}",
            "Accept": "text/plain, application/json, */*",
        },
    )
    started = time.monotonic()
    deadline = started + timeout
    result: dict[str, Any] = {
        "url": shown,
        "ok": False,
        "http_status": None,
        "elapsed_ms": None,
        "error": None,
    }
    try:
        try:
            response = urllib.request.urlopen(request, timeout=timeout)
        except urllib.error.HTTPError as exc:
            response = exc  # 503 and friends still carry the body we want to read
        with response:
            result["http_status"] = (
                response.status if hasattr(response, "status") else response.getcode()
            )
            chunks: list[bytes] = []
            size = 0
            while size <= limit:
                if time.monotonic() > deadline:
                    raise TimeoutError
                chunk = response.read(min(65536, limit + 1 - size))
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
        body = b"".join(chunks)
    except urllib.error.URLError as exc:
        kind = _error_kind(exc.reason)
        result["error"] = {"kind": kind, "message": _describe(kind, exc.reason, shown, timeout)}
        return result
    except Exception as exc:
        kind = _error_kind(exc)
        result["error"] = {"kind": kind, "message": _describe(kind, exc, shown, timeout)}
        return result
    result["elapsed_ms"] = round((time.monotonic() - started) * 1000, 1)
    result["ok"] = True
    result["truncated"] = len(body) > limit
    result["body"] = body[:limit]
    return result


def collect_metrics(url: str, timeout: float, names: Mapping[str, tuple[str, ...]]) -> MetricsFacts:
    from cachediag.probes import promtext

    facts = fetch(url, timeout, METRICS_LIMIT)
    body: bytes = facts.pop("body", b"")
    facts["names"] = {role: list(candidates) for role, candidates in names.items()}
    facts["values"], facts["types"], facts["series"], facts["unparsed_lines"] = {}, {}, {}, 0
    if not facts["ok"]:
        return cast("MetricsFacts", facts)
    parsed = promtext.parse(body.decode("utf-8", errors="replace"))
    wanted = {name for candidates in names.values() for name in candidates}
    # Keep the named metrics and anything about caching; a busy app exports thousands.
    kept = sorted(n for n in parsed.values if n in wanted or "cache" in n.lower())[
        :MAX_METRIC_NAMES
    ]
    facts["values"] = {n: parsed.values[n] for n in kept}
    facts["series"] = {n: parsed.series[n] for n in kept}
    facts["types"] = {
        n: t for n, t in parsed.types.items() if n in kept or n.removesuffix("_total") in kept
    }
    facts["metric_names_seen"] = len(parsed.values)
    facts["unparsed_lines"] = parsed.unparsed
    return cast("MetricsFacts", facts)  # fetch's dict, now with every metrics key


def collect_health(url: str, timeout: float) -> HealthFacts:
    facts = fetch(url, timeout, HEALTH_LIMIT)
    body: bytes = facts.pop("body", b"")
    facts["body_status"] = None
    facts["body"] = body[:500].decode("utf-8", errors="replace")
    if facts["ok"]:
        try:
            document = json.loads(body)
        except ValueError:
            document = None
        if isinstance(document, dict) and isinstance(document.get("status"), str):
            facts["body_status"] = document["status"]
            facts["body_json"] = {
                k: v for k, v in document.items() if isinstance(v, (str, int, float, bool))
            }
    return cast("HealthFacts", facts)  # fetch's dict, now with every health key


def collect_logs(paths: tuple[str, ...]) -> LogsFacts:
    facts: LogsFacts = {"paths": list(paths), "scan": None, "error": None}
    try:
        from cachediag.logscan import scan_logs

        facts["scan"] = scan_logs(list(paths))
    except Exception as exc:
        facts["error"] = f"{type(exc).__name__}: {exc}"
    return facts


def collect_endpoints(sources: AppSources, timeout: float) -> AppEndpoints:
    """The metrics and health endpoints (logs and schema versions are collected apart)."""
    return {
        "metrics": collect_metrics(sources.metrics_url, timeout, sources.metric_names)
        if sources.metrics_url
        else None,
        "health": collect_health(sources.health_url, timeout) if sources.health_url else None,
    }


def schema_versions(target_facts: Sequence[Mapping[str, Any]]) -> SchemaVersions:
    """cache-kit schema versions per key namespace, over the value samples of all targets.

    Only entries whose envelope decodes count: corrupt ones are redis.serialization's
    business. A namespace holding two versions is the trace of a schema change.
    """
    versions: dict[str, Counter[int]] = defaultdict(Counter)
    samples: dict[str, dict[int, list[str]]] = defaultdict(lambda: defaultdict(list))
    where: dict[str, set[str]] = defaultdict(set)
    sampled_targets: list[Any] = []
    entries = 0
    for facts in target_facts:
        sample = facts.get("sample") or {}
        keys = sample.get("keys") or []
        if facts.get("status") != "up" or not keys:
            continue
        sampled_targets.append(facts.get("target"))
        for item in keys:
            head = item.get("head_hex")
            if not head or not isinstance(item.get("key"), str):
                continue
            try:
                decoded = envelope.decode(bytes.fromhex(head), item.get("length"))
            except ValueError:
                continue
            if decoded.state != envelope.VALID or decoded.version is None:
                continue
            namespace = namespace_of(item["key"])
            entries += 1
            versions[namespace][decoded.version] += 1
            where[namespace].add(str(facts.get("target")))
            keys_of_version = samples[namespace][decoded.version]
            if len(keys_of_version) < SAMPLE_KEYS_PER_VERSION:
                keys_of_version.append(item["key"])
    return {
        "sampled_targets": sampled_targets,
        "entries": entries,
        "namespaces": {
            ns: {
                "versions": {str(v): n for v, n in sorted(counts.items())},
                "sample_keys": {str(v): samples[ns][v] for v in sorted(counts)},
                "targets": sorted(where[ns]),
            }
            for ns, counts in sorted(versions.items())
        },
    }
