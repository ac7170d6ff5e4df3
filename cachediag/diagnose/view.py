"""One target's facts read the way the cause readers need them. Pure.

The readers ask the same few questions of every target: how many lookups missed, how
many keys were written, and where the written keys went (kept, expired, evicted,
flushed) over the window, or since start without one. `Churn` answers them once, from
the two INFO readings of the window (Redis) or the counters since start (Memcached).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from cachediag.checks.base import Facts
from cachediag.checks.facts_view import keyspace_totals, number, section, stats
from cachediag.checks.window import first_reading, inspection_calls, window_delta, window_seconds

# Commands that store a cache entry (one call may store several: MSET counts once).
WRITE_COMMANDS = (
    "set",
    "setex",
    "psetex",
    "setnx",
    "mset",
    "msetnx",
    "getset",
    "hset",
    "hmset",
    "hsetnx",
    "sadd",
    "zadd",
    "rpush",
    "lpush",
    "xadd",
)
FLUSH_COMMANDS = ("flushdb", "flushall")


def _calls(commandstats: dict[str, Any], names: tuple[str, ...]) -> int | None:
    """Calls of `names` in an INFO commandstats section; None when there is no section."""
    if not commandstats:
        return None
    total = 0
    for name in names:
        entry = commandstats.get(f"cmdstat_{name}")
        count = entry.get("calls") if isinstance(entry, dict) else None
        if isinstance(count, int):
            total += count
    return total


def _keys_in(keyspace: dict[str, Any]) -> float:
    return float(sum(db.get("keys", 0) for db in keyspace.values() if isinstance(db, dict)))


@dataclass(frozen=True)
class Churn:
    """Lookups and writes over one basis: the window, or since start."""

    basis: str  # "window" or "lifetime"
    seconds: float | None  # the window's length; None since start
    hits: float
    misses: float
    writes: float | None  # None: commandstats not readable
    expired: float | None
    evicted: float | None
    keys_before: float | None  # None since start (or a window without keyspace)
    keys_after: float | None
    flushes: float | None

    @property
    def lookups(self) -> float:
        return self.hits + self.misses

    @property
    def rate(self) -> float | None:
        return self.hits / self.lookups if self.lookups else None

    @property
    def kept(self) -> float | None:
        """Keys the keyspace gained: over the window, or all of them since start."""
        if self.keys_after is None:
            return None
        return self.keys_after - (self.keys_before or 0.0)

    @property
    def during(self) -> str:
        return f"in the last {self.seconds:.1f} s" if self.seconds is not None else "since start"


class TargetView:
    """A target's facts, with the application's and the host's beside them."""

    def __init__(self, facts: Facts, app: Facts | None, host: Facts | None) -> None:
        self.facts = facts
        self.app = app
        self.host = host

    @property
    def kind(self) -> str:
        return str(self.facts.get("kind"))

    @property
    def name(self) -> str:
        return str(self.facts.get("target"))

    @property
    def redis(self) -> bool:
        return self.kind == "redis"

    @property
    def up(self) -> bool:
        return self.facts.get("status") == "up" and not self.facts.get("saturated")

    @property
    def readable(self) -> bool:
        """Up, with the server's counters read (INFO, or stats)."""
        if not self.up:
            return False
        return bool(self.facts.get("info")) if self.redis else bool(self.facts.get("stats"))

    @property
    def collected_at(self) -> float:
        return float(self.facts.get("collected_at") or 0.0)

    # -- counters -------------------------------------------------------------------------

    def info(self, name: str) -> dict[str, Any]:
        return section(self.facts, name) if self.redis else stats(self.facts, name)

    def counter(self, group: str, name: str) -> float | None:
        return number(self.info(group), name)

    @property
    def uptime(self) -> float | None:
        if self.redis:
            return self.counter("server", "uptime_in_seconds")
        return self.counter("stats", "uptime")

    @property
    def has_window(self) -> bool:
        return self.redis and first_reading(self.facts) is not None

    def delta(self, group: str, name: str) -> float | None:
        return window_delta(self.facts, group, name) if self.redis else None

    def commandstats_delta(self, names: tuple[str, ...]) -> float | None:
        first = first_reading(self.facts)
        if first is None:
            return None
        before = _calls(first.get("commandstats") or {}, names)
        after = _calls(section(self.facts, "commandstats"), names)
        if before is None or after is None or after < before:
            return None
        return float(after - before)

    def flushes_since_start(self) -> float | None:
        if self.redis:
            calls = _calls(section(self.facts, "commandstats"), FLUSH_COMMANDS)
            return float(calls) if calls is not None else None
        return self.counter("stats", "cmd_flush")

    @cached_property
    def churn(self) -> Churn | None:
        """The window's churn when there is a usable one, else since start; None unread."""
        if not self.readable:
            return None
        if self.redis:
            return self._window_churn() or self._redis_lifetime()
        return self._memcached_lifetime()

    def _window_churn(self) -> Churn | None:
        first = first_reading(self.facts)
        hits = window_delta(self.facts, "stats", "keyspace_hits")
        misses = window_delta(self.facts, "stats", "keyspace_misses")
        if first is None or hits is None or misses is None:
            return None
        before_inspect = inspection_calls(first.get("commandstats") or {})
        after_inspect = inspection_calls(section(self.facts, "commandstats"))
        own = sum(max(n - before_inspect.get(k, 0), 0) for k, n in after_inspect.items())
        keyspace_before = first.get("keyspace")
        return Churn(
            basis="window",
            seconds=window_seconds(self.facts),
            hits=max(hits - own, 0.0),
            misses=misses,
            writes=self.commandstats_delta(WRITE_COMMANDS),
            expired=window_delta(self.facts, "stats", "expired_keys"),
            evicted=window_delta(self.facts, "stats", "evicted_keys"),
            keys_before=_keys_in(keyspace_before) if isinstance(keyspace_before, dict) else None,
            keys_after=keyspace_totals(self.facts)[0] if keyspace_before is not None else None,
            flushes=self.commandstats_delta(FLUSH_COMMANDS),
        )

    def _redis_lifetime(self) -> Churn:
        commandstats = section(self.facts, "commandstats")
        own = sum(inspection_calls(commandstats).values())
        writes = _calls(commandstats, WRITE_COMMANDS)
        return Churn(
            basis="lifetime",
            seconds=None,
            hits=max((self.counter("stats", "keyspace_hits") or 0) - own, 0.0),
            misses=self.counter("stats", "keyspace_misses") or 0.0,
            writes=float(writes) if writes is not None else None,
            expired=self.counter("stats", "expired_keys"),
            evicted=self.counter("stats", "evicted_keys"),
            keys_before=None,
            keys_after=keyspace_totals(self.facts)[0],
            flushes=self.flushes_since_start(),
        )

    def _memcached_lifetime(self) -> Churn:
        # Memcached counts no expiries as such: `reclaimed` (a write reusing the memory of
        # an expired item) and expired_unfetched are the expiries it saw.
        reclaimed = self.counter("stats", "reclaimed")
        return Churn(
            basis="lifetime",
            seconds=None,
            hits=self.counter("stats", "get_hits") or 0.0,
            misses=self.counter("stats", "get_misses") or 0.0,
            writes=self.counter("stats", "cmd_set"),
            expired=reclaimed,
            evicted=self.counter("stats", "evictions"),
            keys_before=None,
            keys_after=self.counter("stats", "curr_items"),
            flushes=self.counter("stats", "cmd_flush"),
        )

    @cached_property
    def lifetime_rate(self) -> float | None:
        """The hit rate since start (inspection lookups left out on Redis)."""
        if not self.readable:
            return None
        churn = self._redis_lifetime() if self.redis else self._memcached_lifetime()
        return churn.rate

    # -- the key sample -------------------------------------------------------------------

    @property
    def sample(self) -> dict[str, Any] | None:
        sample = self.facts.get("sample")
        return sample if isinstance(sample, dict) else None

    @property
    def sample_keys(self) -> list[dict[str, Any]]:
        return list((self.sample or {}).get("keys") or [])

    def ttl_seconds(self, item: dict[str, Any]) -> float | None:
        """Seconds left before the sampled key expires; None when it never does."""
        if self.redis:
            ttl_ms = item.get("ttl_ms")
            return ttl_ms / 1000 if isinstance(ttl_ms, int) and ttl_ms >= 0 else None
        exp = item.get("exp")
        if not isinstance(exp, int) or exp < 0:
            return None
        # metadump's exp is the server's clock; the server's time is uptime after start.
        now = self.counter("stats", "time")
        return float(exp - now) if now is not None else None

    # -- the application ------------------------------------------------------------------

    @property
    def log_scan(self) -> dict[str, Any] | None:
        logs = (self.app or {}).get("logs")
        if not isinstance(logs, dict) or logs.get("error"):
            return None
        scan = logs.get("scan")
        return scan if isinstance(scan, dict) else None

    def log_count(self, category: str) -> int | None:
        """Lines of a category in the application's log; None without a log."""
        scan = self.log_scan
        if scan is None:
            return None
        entry = (scan.get("categories") or {}).get(category) or {}
        count = entry.get("count", 0)
        return int(count) if isinstance(count, (int, float)) else 0

    def log_samples(self, category: str) -> list[str]:
        scan = self.log_scan or {}
        entry = (scan.get("categories") or {}).get(category) or {}
        return [
            str(s.get("text", "") if isinstance(s, dict) else s) for s in entry.get("samples") or []
        ]
