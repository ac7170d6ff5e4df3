"""`cachediag watch`: counters polled every interval and turned into rates, like `redis-cli --stat`.

Polling (one INFO, or `stats` and `stats items`, per target and interval) is I/O; the rates and the
summary are pure functions of two snapshots, tested without a server.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from cachediag.checks.facts_view import number
from cachediag.errors import AuthFailed, ProbeError, ServerRefused
from cachediag.targets.target import Target

# Memcached has no total command counter: these are the commands it counts.
MEMCACHED_OPS = (
    "cmd_get",
    "cmd_set",
    "cmd_touch",
    "cmd_flush",
    "delete_hits",
    "delete_misses",
    "incr_hits",
    "incr_misses",
    "decr_hits",
    "decr_misses",
    "cas_hits",
    "cas_misses",
    "cas_badval",
)


# Memcached counters of trouble, shown per interval when they move (issue 10, case 12):
# the guide's Issue 2 Step 3 (connections turned away at -c, connections made to yield
# at -R) and Issue 3 Step 1 (writes refused for memory, items gone before any read).
MEMCACHED_PRESSURE = {
    "rejected_connections": "rejected_connections",
    "listen_disabled": "listen_disabled_num",
    "conn_yields": "conn_yields",
    "evicted_unfetched": "evicted_unfetched",
    "expired_unfetched": "expired_unfetched",
}
# From `stats items`, summed over the slab classes: writes answered SERVER_ERROR out of memory.
REFUSED_WRITES = "refused_writes"
PRESSURE_NAMES = (REFUSED_WRITES, *MEMCACHED_PRESSURE)


def _num(mapping: dict[str, Any], name: str) -> float:
    """A counter, 0 when missing; one that only looks like a number ('nan', '1e400') is a
    MalformedReading naming it, not a NaN that int() and the rates would trip on."""
    return float(number(mapping, name) or 0.0)


def redis_counters(info: dict[str, dict[str, Any]]) -> dict[str, float]:
    stats, memory, clients = info.get("stats", {}), info.get("memory", {}), info.get("clients", {})
    keyspace = info.get("keyspace", {})
    return {
        "ops": _num(stats, "total_commands_processed"),
        "hits": _num(stats, "keyspace_hits"),
        "misses": _num(stats, "keyspace_misses"),
        "evicted": _num(stats, "evicted_keys"),
        "expired": _num(stats, "expired_keys"),
        "used_memory": _num(memory, "used_memory"),
        "clients": _num(clients, "connected_clients"),
        "keys": sum(_num(db, "keys") for db in keyspace.values() if isinstance(db, dict)),
        "uptime": _num(info.get("server", {}), "uptime_in_seconds"),
    }


def memcached_counters(stats: dict[str, Any]) -> dict[str, float]:
    return {
        "ops": sum(_num(stats, name) for name in MEMCACHED_OPS),
        "hits": _num(stats, "get_hits"),
        "misses": _num(stats, "get_misses"),
        "evicted": _num(stats, "evictions"),
        # Items freed because they had expired: reused on write, or found by the crawler.
        "expired": _num(stats, "reclaimed") + _num(stats, "crawler_reclaimed"),
        "used_memory": _num(stats, "bytes"),
        "clients": _num(stats, "curr_connections"),
        "keys": _num(stats, "curr_items"),
        "uptime": _num(stats, "uptime"),
        **{name: _num(stats, counter) for name, counter in MEMCACHED_PRESSURE.items()},
    }


def redis_connection_counters(info: dict[str, Any]) -> dict[str, float | None]:
    """What `redis-cli --stat` adds to ops and memory: blocked clients, new connections,
    rejected ones (maxclients). `info` is INFO parsed."""
    stats, clients = info.get("stats", {}), info.get("clients", {})
    return {
        "blocked": _num(clients, "blocked_clients"),
        "connections": _num(stats, "total_connections_received"),
        "rejected": _num(stats, "rejected_connections"),
    }


def memcached_connection_counters(stats: dict[str, Any]) -> dict[str, float | None]:
    """New and rejected connections (`-c`) from `stats`; Memcached has no blocking
    commands, so its blocked count is None."""
    return {
        "blocked": None,
        "connections": _num(stats, "total_connections"),
        "rejected": _num(stats, "rejected_connections"),
    }


def connection_rates(
    before: dict[str, Any], after: dict[str, Any], seconds: float
) -> dict[str, Any]:
    """New and rejected connections over one interval; None where a counter is missing or
    went down (a restart). Our own poll reuses its connection: it adds none."""
    out: dict[str, Any] = {"blocked_clients": after.get("blocked")}
    if after.get("blocked") is not None:
        out["blocked_clients"] = int(after["blocked"])
    for name, key in (("connections", "new_connections"), ("rejected", "rejected_connections")):
        first, last = before.get(name), after.get(name)
        out[key] = (
            int(last - first) if first is not None and last is not None and last >= first else None
        )
    new = out["new_connections"]
    out["connections_per_sec"] = round(new / max(seconds, 1e-6), 1) if new is not None else None
    return out


def redis_snapshot(client: Any) -> dict[str, Any]:
    """One INFO, as counters."""
    from cachediag.clients.resp import ReplyError, is_auth_error
    from cachediag.probes.info import parse_redis_info

    reply = client.call("INFO")
    if isinstance(reply, ReplyError):
        failure = AuthFailed if is_auth_error(reply) else ServerRefused
        raise failure(f"INFO failed: {reply.text}")
    info = parse_redis_info(reply)
    return {**redis_counters(info), **redis_connection_counters(info)}


def memcached_snapshot(client: Any) -> dict[str, Any]:
    """`stats` and `stats items` (for outofmemory, which only the classes count)."""
    from cachediag.checks.slab_view import refused_writes
    from cachediag.probes.info import stats_numbers

    numbers = stats_numbers(client.stats())
    counters = {**memcached_counters(numbers), **memcached_connection_counters(numbers)}
    items = stats_numbers(client.stats("items"))
    counters[REFUSED_WRITES] = float(refused_writes({"items": items}) or 0)
    return counters


def pressure(kind: str, before: dict[str, float], after: dict[str, float]) -> dict[str, Any]:
    """How much each trouble counter of the kind (Memcached's) moved in the interval (None
    after a reset)."""
    from cachediag.backends import backend_for

    names = backend_for(kind).pressure_counters()
    if not names:
        return {}
    moved = {name: after.get(name, 0.0) - before.get(name, 0.0) for name in names}
    if after["uptime"] < before["uptime"] or any(delta < 0 for delta in moved.values()):
        return dict.fromkeys(names)
    return {name: int(delta) for name, delta in moved.items()}


# The poll itself is a command Redis counts in total_commands_processed: not the app's.
OWN_COMMANDS_PER_POLL = {"redis": 1, "memcached": 0}


def rates(
    kind: str, before: dict[str, float], after: dict[str, float], seconds: float
) -> dict[str, Any]:
    """Rates over one interval; a counter that went down (restart, RESETSTAT) reads as reset."""
    reset = after["uptime"] < before["uptime"] or any(
        after[n] < before[n] for n in ("ops", "hits", "misses", "evicted", "expired")
    )
    seconds = max(seconds, 1e-6)
    out: dict[str, Any] = {
        "used_memory": int(after["used_memory"]),
        "clients": int(after["clients"]),
        "keys": int(after["keys"]),
        "reset": reset,
    }
    if reset:
        return {
            **out,
            "ops_per_sec": None,
            "hit_rate": None,
            "lookups": 0,
            "evictions_per_sec": None,
            "expired_per_sec": None,
            "ops": 0,
            "hits": 0,
            "misses": 0,
            "evicted": 0,
            "expired": 0,
        }
    ops = max(0.0, after["ops"] - before["ops"] - OWN_COMMANDS_PER_POLL[kind])
    hits, misses = after["hits"] - before["hits"], after["misses"] - before["misses"]
    evicted, expired = after["evicted"] - before["evicted"], after["expired"] - before["expired"]
    lookups = hits + misses
    return {
        **out,
        "ops_per_sec": round(ops / seconds, 1),
        "hit_rate": round(hits / lookups, 4) if lookups else None,
        "lookups": int(lookups),
        "evictions_per_sec": round(evicted / seconds, 1),
        "expired_per_sec": round(expired / seconds, 1),
        "ops": int(ops),
        "hits": int(hits),
        "misses": int(misses),
        "evicted": int(evicted),
        "expired": int(expired),
    }


@dataclass
class Totals:
    """What a watch saw of one target, for the summary printed on exit."""

    intervals: int = 0
    seconds: float = 0.0
    ops: int = 0
    hits: int = 0
    misses: int = 0
    evicted: int = 0
    expired: int = 0
    peak_ops_per_sec: float = 0.0
    memory: list[int] = field(default_factory=list)
    errors: int = 0
    new_connections: int = 0
    rejected_connections: int = 0
    peak_blocked: int | None = None
    pressure: dict[str, int] = field(default_factory=dict)

    def add(self, row: dict[str, Any], seconds: float) -> None:
        if row.get("status") != "up":
            self.errors += 1
            return
        self.memory.append(row["used_memory"])
        if row.get("reset") or row.get("ops_per_sec") is None:
            return
        self.intervals += 1
        self.seconds += seconds
        self.ops += row["ops"]
        self.hits += row["hits"]
        self.misses += row["misses"]
        self.evicted += row["evicted"]
        self.expired += row["expired"]
        self.peak_ops_per_sec = max(self.peak_ops_per_sec, row["ops_per_sec"])
        for name in PRESSURE_NAMES:
            if row.get(name) is not None:
                self.pressure[name] = self.pressure.get(name, 0) + row[name]
        self._add_connections(row)

    def _add_connections(self, row: dict[str, Any]) -> None:
        self.new_connections += row.get("new_connections") or 0
        self.rejected_connections += row.get("rejected_connections") or 0
        blocked = row.get("blocked_clients")
        if blocked is not None:
            self.peak_blocked = max(self.peak_blocked or 0, blocked)

    def to_dict(self) -> dict[str, Any]:
        lookups = self.hits + self.misses
        return {
            "intervals": self.intervals,
            "seconds": round(self.seconds, 2),
            "ops": self.ops,
            "avg_ops_per_sec": round(self.ops / self.seconds, 1) if self.seconds else None,
            "peak_ops_per_sec": self.peak_ops_per_sec,
            "hit_rate": round(self.hits / lookups, 4) if lookups else None,
            "lookups": lookups,
            "evicted": self.evicted,
            "expired": self.expired,
            "memory_first": self.memory[0] if self.memory else None,
            "memory_last": self.memory[-1] if self.memory else None,
            "memory_max": max(self.memory) if self.memory else None,
            "failed_polls": self.errors,
            "new_connections": self.new_connections,
            "rejected_connections": self.rejected_connections,
            "peak_blocked_clients": self.peak_blocked,
            **({"pressure": dict(self.pressure)} if self.pressure else {}),
        }


class Poller:
    """One target's connection, kept across polls and reopened after a failure."""

    def __init__(self, target: Target, timeout: float) -> None:
        self.target = target
        self.timeout = timeout
        self.client: Any = None
        self.last: tuple[float, dict[str, Any]] | None = None

    def snapshot(self) -> dict[str, Any]:
        from cachediag.backends import backend_for

        backend = backend_for(self.target)
        if self.client is None:
            self.client = backend.connect(self.target, self.timeout)
        try:
            return backend.counters(self.client)
        except ProbeError:
            self.close()
            raise

    def poll(self) -> dict[str, Any]:
        """The row for the interval since the previous poll (the first poll only primes)."""
        row: dict[str, Any] = {
            "target": self.target.name,
            "kind": self.target.kind,
            "status": "up",
            "error": None,
        }
        now = time.monotonic()
        try:
            counters = self.snapshot()
        except ProbeError as error:
            self.last = None  # the next good poll primes again
            return {**row, "status": "down", "error": error.to_dict()}
        previous, self.last = self.last, (now, counters)
        if previous is None:
            return {**row, "status": "priming"}
        seconds = now - previous[0]
        return {
            **row,
            "seconds": round(seconds, 3),
            **rates(self.target.kind, previous[1], counters, seconds),
            **connection_rates(previous[1], counters, seconds),
            **pressure(self.target.kind, previous[1], counters),
        }

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None
