"""What a purge is asked to delete, checked before anything is sent."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cachediag.errors import UsageError

# Redis types SCAN TYPE and the guarded delete know.
TYPES = ("string", "list", "set", "zset", "hash", "stream")


@dataclass(frozen=True)
class Filters:
    """Conditions that narrow a pattern; a key must meet all of them."""

    invalid: bool = False  # values without a valid cache-kit envelope
    schema_version: int | None = None  # cache-kit entries of exactly this schema version
    schema_below: int | None = None  # cache-kit entries of a schema version below this
    no_ttl: bool = False
    ttl_above_s: float | None = None
    idle_above_s: int | None = None
    type: str | None = None

    @property
    def any(self) -> bool:
        return (
            self.reads_value or self.reads_ttl or self.idle_above_s is not None or bool(self.type)
        )

    @property
    def reads_value(self) -> bool:
        return self.invalid or self.schema_version is not None or self.schema_below is not None

    @property
    def reads_ttl(self) -> bool:
        return self.no_ttl or self.ttl_above_s is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "invalid": self.invalid,
            "schema_version": self.schema_version,
            "schema_below": self.schema_below,
            "no_ttl": self.no_ttl,
            "ttl_above_s": self.ttl_above_s,
            "idle_above_s": self.idle_above_s,
            "type": self.type,
        }


@dataclass(frozen=True)
class Limits:
    rate: float | None = None  # keys per second
    max_keys: int = 0  # 0: no limit
    max_latency_ms: float = 10.0


@dataclass(frozen=True)
class PurgeRequest:
    keys: tuple[bytes, ...] = ()
    patterns: tuple[str, ...] = ()
    all_keys: bool = False
    filters: Filters = field(default_factory=Filters)
    limits: Limits = field(default_factory=Limits)
    apply: bool = False  # False: a dry run
    sync: bool = False  # DEL instead of UNLINK
    count: int = 1000  # SCAN COUNT
    samples: int = 10  # key names shown
    delimiter: str = ":"
    cursor: int = 0  # resume the scan of `patterns[pattern_index]` from here
    pattern_index: int = 0

    @property
    def scans(self) -> tuple[str | None, ...]:
        """The SCAN MATCH of each pass: the patterns, or one pass over everything."""
        if self.patterns:
            return self.patterns
        return (None,) if self.all_keys else ()

    def what(self) -> str:
        if self.keys and not self.scans:
            return "named"
        parts = [f"matching {', '.join(repr(p) for p in self.patterns)}"] if self.patterns else []
        if self.all_keys and not self.patterns:
            parts.append("(all keys)")
        if self.keys:
            parts.append(f"and {len(self.keys):,} named")
        return " ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        from cachediag.safety.textsafe import safe_text

        return {
            "keys": [safe_text(k) for k in self.keys[:100]],
            "key_count": len(self.keys),
            "patterns": list(self.patterns),
            "all_keys": self.all_keys,
            "filters": self.filters.to_dict(),
            "rate": self.limits.rate,
            "max_keys": self.limits.max_keys,
            "max_latency_ms": self.limits.max_latency_ms,
            "sync": self.sync,
        }


def _bare(pattern: str) -> bool:
    """A pattern that matches every key: empty, or nothing but `*`."""
    return pattern.strip("*") == ""


def validate(request: PurgeRequest) -> PurgeRequest:
    """One clear sentence for a request that must not run; the request otherwise."""
    if not request.keys and not request.patterns and not request.all_keys:
        raise UsageError("nothing to purge: name KEYs, or --pattern GLOB (repeatable)")
    for pattern in request.patterns:
        if _bare(pattern) and not request.all_keys:
            shown = "an empty pattern" if pattern == "" else f"--pattern {pattern!r}"
            raise UsageError(
                f"{shown} matches every key: refused; add --all-keys if you mean to "
                "delete the whole database (a dry run first shows how many)"
            )
        if "\n" in pattern or "\r" in pattern:
            raise UsageError("--pattern cannot hold a line break")
    if request.filters.any and not request.scans:
        raise UsageError(
            "--invalid, --schema-*, --no-ttl, --ttl-above, --idle-above and --type narrow a "
            "--pattern; named KEYs are deleted as named"
        )
    f = request.filters
    if f.type is not None and f.type not in TYPES:
        raise UsageError(f"--type {f.type!r}: one of {', '.join(TYPES)}")
    if f.no_ttl and f.ttl_above_s is not None:
        raise UsageError("--no-ttl and --ttl-above exclude each other: pick one")
    if f.schema_version is not None and f.schema_below is not None:
        raise UsageError("--schema-version and --schema-below exclude each other: pick one")
    if f.reads_value and f.type not in (None, "string"):
        raise UsageError("--invalid and --schema-* judge string values: --type string or none")
    return request
