"""cachediag.toml: targets, threshold overrides and disabled checks, read and validated once."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cachediag.checks.checklist import read_toml
from cachediag.errors import UsageError
from cachediag.keyspace.entities import Entities, parse_entities
from cachediag.targets.inventory import Entry, parse_entries

DEFAULT_CONFIG = Path("cachediag.toml")
MAX_TIMEOUT = 3600.0  # the bound --timeout has

# Keys a cachediag.toml may hold; anything else is a typo we would rather report.
KNOWN_KEYS = {
    "redis": "list of Redis URLs",
    "memcached": "list of Memcached addresses",
    "memcached_pool": "list of Memcached addresses one application hashes its keys over",
    "timeout": "seconds",
    "disabled": "list of check ids, globs or sections",
    "thresholds": "table of check id -> {threshold = value}",
    "logs": "list of application log files",
    "metrics_url": "the application's Prometheus endpoint",
    "health_url": "the application's health endpoint",
    "metrics": "table of metric names",
    "targets": "[[targets]] name, url, tags, password_env or password_file",
    "entities": 'cache-kit entity layouts, [entities."user"] fields = ["u64", "string"]',
}


@dataclass(frozen=True)
class Config:
    path: str | None = None
    redis: tuple[str, ...] = ()
    memcached: tuple[str, ...] = ()
    memcached_pool: tuple[str, ...] = ()
    timeout: float | None = None
    disabled: tuple[str, ...] = ()
    thresholds: dict[str, dict[str, Any]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    entities: Entities = field(default_factory=Entities)
    inventory: tuple[Entry, ...] = ()


def _strings(path: Path, data: dict[str, Any], name: str) -> tuple[str, ...]:
    value = data.get(name, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise UsageError(f"config {path}: '{name}' must be a list of strings")
    return tuple(value)


def load_config(explicit: Path | None) -> Config:
    """Read --config FILE (must exist) or ./cachediag.toml (optional)."""
    path = explicit or DEFAULT_CONFIG
    if explicit is None and not path.exists():
        return Config()
    data = read_toml(path, "config file")
    unknown = sorted(set(data) - set(KNOWN_KEYS))
    if unknown:
        raise UsageError(
            f"config {path}: unknown key '{unknown[0]}' (known: {', '.join(sorted(KNOWN_KEYS))})"
        )
    timeout = data.get("timeout")
    if timeout is not None and (
        isinstance(timeout, bool)  # TOML's true is no number of seconds
        or not isinstance(timeout, (int, float))
        or not math.isfinite(timeout)
        or not 0 < timeout <= MAX_TIMEOUT
    ):
        raise UsageError(
            f"config {path}: 'timeout' must be a number of seconds above 0 and at most "
            f"{MAX_TIMEOUT:g} (as --timeout)"
        )
    thresholds = data.get("thresholds", {})
    if not isinstance(thresholds, dict) or not all(
        isinstance(v, dict) for v in thresholds.values()
    ):
        raise UsageError(
            f"config {path}: 'thresholds' must be tables like [thresholds.\"redis.hit_rate\"]"
        )
    return Config(
        path=str(path),
        redis=_strings(path, data, "redis"),
        memcached=_strings(path, data, "memcached"),
        memcached_pool=_strings(path, data, "memcached_pool"),
        timeout=float(timeout) if timeout is not None else None,
        disabled=_strings(path, data, "disabled"),
        thresholds=thresholds,
        extra={
            k: v for k, v in data.items() if k in ("logs", "metrics_url", "health_url", "metrics")
        },
        entities=parse_entities(data.get("entities"), f"config {path}"),
        inventory=parse_entries(path, data.get("targets")),
    )
