"""Facts as a probe records them, built by hand so rules can be tested without a server."""

from __future__ import annotations

import copy
from typing import Any

NOW = 1_795_000_000.0


def _merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value
    return base


def redis_facts(**overrides: Any) -> dict[str, Any]:
    facts: dict[str, Any] = {
        "kind": "redis",
        "target": "redis://127.0.0.1:6379/0",
        "source": "flag",
        "default": False,
        "local": True,
        "address": "127.0.0.1:6379",
        "collected_at": NOW,
        "status": "up",
        "connect": {
            "ok": True,
            "error": None,
            "addresses": ["127.0.0.1"],
            "tcp_us": 150,
            "tls_us": None,
            "auth_us": None,
        },
        "ping": {"ok": True, "samples_us": [100] * 19 + [300], "error": None},
        "info": {
            "server": {"redis_version": "7.0.15", "uptime_in_seconds": 86_400},
            "clients": {"connected_clients": 10, "maxclients": 10_000, "blocked_clients": 0},
            "memory": {
                "used_memory": 50 * 2**20,
                "used_memory_rss": 55 * 2**20,
                "maxmemory": 100 * 2**20,
                "maxmemory_policy": "allkeys-lru",
                "mem_fragmentation_ratio": 1.1,
            },
            "stats": {
                "keyspace_hits": 900,
                "keyspace_misses": 100,
                "evicted_keys": 0,
                "rejected_connections": 0,
            },
            "replication": {"role": "master"},
            "commandstats": {"cmdstat_get": {"calls": 1000}},
            "keyspace": {"db0": {"keys": 100, "expires": 100, "avg_ttl": 1000}},
        },
        "config": {
            "available": True,
            "reason": None,
            "values": {"maxmemory-policy": "allkeys-lru"},
        },
        "dbsize": 100,
        "sample": {"keys": [], "complete": True, "max_keys": 1000, "error": None},
        "errors": {},
    }
    return _merge(facts, copy.deepcopy(overrides))


def memcached_facts(**overrides: Any) -> dict[str, Any]:
    facts: dict[str, Any] = {
        "kind": "memcached",
        "target": "memcached://127.0.0.1:11211",
        "source": "flag",
        "default": False,
        "local": True,
        "address": "127.0.0.1:11211",
        "collected_at": NOW,
        "status": "up",
        "connect": {
            "ok": True,
            "error": None,
            "addresses": ["127.0.0.1"],
            "tcp_us": 150,
            "tls_us": None,
        },
        "ping": {"ok": True, "samples_us": [80] * 20, "error": None},
        "version": "1.6.18",
        "stats": {
            "uptime": 86_400,
            "curr_connections": 5,
            "rejected_connections": 0,
            "listen_disabled_num": 0,
            "get_hits": 900,
            "get_misses": 100,
            "bytes": 10 * 2**20,
            "limit_maxbytes": 64 * 2**20,
            "evictions": 0,
            "cmd_flush": 0,
        },
        "settings": {"maxconns": 1024, "evictions": "on", "lru_crawler": "yes"},
        "sample": {"keys": [], "complete": True, "max_keys": 1000, "crawler": True, "error": None},
        "errors": {},
    }
    return _merge(facts, copy.deepcopy(overrides))


def key(
    name: str,
    *,
    ttl_ms: int = 60_000,
    memory: int = 100,
    head: bytes | None = b"plain",
    length: int | None = None,
) -> dict[str, Any]:
    return {
        "key": name,
        "type": "string",
        "ttl_ms": ttl_ms,
        "memory": memory,
        "length": length if length is not None else (len(head) if head is not None else None),
        "head_hex": head.hex() if head is not None else None,
    }


def down(kind: str, error_kind: str, message: str, *, default: bool = False) -> dict[str, Any]:
    builder = redis_facts if kind == "redis" else memcached_facts
    facts = builder(
        status="skipped" if default and error_kind == "refused" else "down", default=default
    )
    error = {"kind": error_kind, "message": message}
    facts["connect"] = {
        "ok": error_kind in ("auth", "protocol"),
        "error": None if error_kind in ("auth", "protocol") else error,
        "addresses": ["127.0.0.1"],
    }
    facts["ping"] = {"ok": False, "samples_us": [], "error": error}
    for name in ("info", "stats", "settings", "sample"):
        facts.pop(name, None)
    return facts


# -- Memcached's slab allocator (stats slabs + stats items) ---------------------------


def slab_class(
    class_id: int,
    *,
    chunk_size: int,
    pages: int,
    free_chunks: int,
    items: int,
    evicted: int = 0,
    evicted_unfetched: int = 0,
    outofmemory: int = 0,
    age: int = 0,
    evicted_time: int = 0,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """One class's lines of `stats slabs` and of `stats items`, as the probe records them."""
    slabs = {
        f"{class_id}:chunk_size": chunk_size,
        f"{class_id}:total_pages": pages,
        f"{class_id}:free_chunks": free_chunks,
        f"{class_id}:free_chunks_end": 0,
    }
    items_ = {
        f"items:{class_id}:number": items,
        f"items:{class_id}:age": age,
        f"items:{class_id}:evicted": evicted,
        f"items:{class_id}:evicted_unfetched": evicted_unfetched,
        f"items:{class_id}:evicted_time": evicted_time,
        f"items:{class_id}:outofmemory": outofmemory,
    }
    return slabs, items_


def memcached_slab_facts(
    *classes: tuple[dict[str, Any], dict[str, Any]],
    malloced: int,
    limit: int = 16 * 2**20,
    **overrides: Any,
) -> dict[str, Any]:
    """memcached_facts with an allocator: `total_malloced` and the given slab classes."""
    slabs: dict[str, Any] = {"active_slabs": len(classes), "total_malloced": malloced}
    items_: dict[str, Any] = {}
    for class_slabs, class_items in classes:
        slabs.update(class_slabs)
        items_.update(class_items)
    facts = memcached_facts(
        stats={"limit_maxbytes": limit},
        settings={"slab_reassign": "yes", "slab_automove": 1},
    )
    facts["slabs"], facts["items"] = slabs, items_
    return _merge(facts, copy.deepcopy(overrides))


def full_slab_facts(*, evictions_off: bool = False, uptime: int = 3) -> dict[str, Any]:
    """Recorded from tests/servers.py's start_memcached_full (memcached 1.6.18, -m 16):
    100 small items, then 40,000 of 878 B; with -M the 26,725 that found no room were
    refused, without it they were evicted."""
    lost = 26_725
    return memcached_slab_facts(
        slab_class(2, chunk_size=120, pages=1, free_chunks=8638, items=100, age=2),
        slab_class(
            12,
            chunk_size=1184,
            pages=15,
            free_chunks=0,
            items=13_275,
            evicted=0 if evictions_off else lost,
            evicted_unfetched=0 if evictions_off else lost,
            outofmemory=lost if evictions_off else 0,
            age=1,
            evicted_time=1,
        ),
        malloced=16 * 2**20,
        stats={
            "bytes": 12_596_290,
            "curr_items": 13_375,
            "total_items": 13_375 if evictions_off else 40_100,
            "evictions": 0 if evictions_off else lost,
            "evicted_unfetched": 0 if evictions_off else lost,
            "expired_unfetched": 0,
            "uptime": uptime,
        },
        settings={"evictions": "off" if evictions_off else "on"},
    )


def saturated(kind: str) -> dict[str, Any]:
    """A server that answered our connection with its connection-limit error (maxclients / -c)."""
    builder = redis_facts if kind == "redis" else memcached_facts
    facts = builder()
    limit = "maxclients" if kind == "redis" else "memcached -c"
    message = f"up but saturated: at its connection limit ({limit}) it turns new connections away"
    facts["ping"] = {
        "ok": False,
        "samples_us": [],
        "error": {"kind": "saturated", "message": message, "limit": limit},
    }
    facts["saturated"] = {"limit": limit, "message": message}
    for name in ("info", "stats", "settings", "sample", "config", "dbsize"):
        facts.pop(name, None)
    return facts


def replica(**replication: Any) -> dict[str, Any]:
    """A read-only replica (INFO replication as a replica reports it), link up unless told."""
    return redis_facts(
        info={
            "replication": {
                "role": "slave",
                "master_host": "127.0.0.1",
                "master_port": 6380,
                "master_link_status": "up",
                "master_last_io_seconds_ago": 1,
                "master_sync_in_progress": 0,
                "slave_repl_offset": 1000,
                "slave_read_only": 1,
                "connected_slaves": 0,
                **replication,
            }
        }
    )


# -- the window's first reading and the stall readings (issue 10, cases 7, 8, 12) -------------


def window(
    stats: dict[str, Any], *, seconds: float = 2.0, commandstats: dict[str, Any] | None = None
) -> dict[str, Any]:
    """facts["window"]: INFO stats (and commandstats) `seconds` before facts["info"]."""
    return {
        "window": {
            "requested_s": 2.0,
            "seconds": seconds,
            "first": {"stats": stats, "commandstats": commandstats or {}},
            "error": None,
        }
    }


def slow_entry(
    command: str = "DEBUG SLEEP",
    *,
    duration_us: int = 30_000,
    age_s: float = 0.2,
    during: bool | None = True,
    keys: int | None = 0,
    args: int = 1,
) -> dict[str, Any]:
    """One masked SLOWLOG entry as probes/stalls.py records it."""
    return {
        "id": 1,
        "at": int(NOW - age_s),
        "age_s": age_s,
        "duration_us": duration_us,
        "command": command,
        "args": args,
        "keys": keys,
        "masked": command,
        "client": "127.0.0.1:50000",
        "during": during,
    }


def stalls(
    entries: tuple[dict[str, Any], ...] = (),
    events: tuple[dict[str, Any], ...] = (),
    *,
    threshold_ms: int | None = 0,
    log_slower_than_us: int | None = 10_000,
    measured_s: float = 0.5,
    truncated: int | None = None,
    slowlog_error: str | None = None,
    latency_error: str | None = None,
) -> dict[str, Any]:
    """facts["stalls"]: SLOWLOG and LATENCY LATEST read around the probe's round trips."""
    return {
        "stalls": {
            "slowlog": {
                "entries": list(entries),
                "length": len(entries),
                "log_slower_than_us": log_slower_than_us,
                "max_len": 128,
                "own_skipped": 0,
                "truncated": truncated,
                "error": slowlog_error,
            },
            "latency": {
                "events": list(events),
                "threshold_ms": threshold_ms,
                "error": latency_error,
            },
            "server_time": NOW,
            "since_id": 0,
            "measured_s": measured_s,
        }
    }
