"""A quick liveness probe: connect, a few round trips, version and role. Read-only."""

from __future__ import annotations

import statistics
from typing import Any

from cachediag.errors import ProbeError, ProtocolViolation
from cachediag.targets.target import Target

ROUND_TRIPS = 3
DEGRADED_US = 100_000  # the guide's health check calls anything slower than 100 ms degraded


def ping_one(target: Target, timeout: float) -> dict[str, Any]:
    row: dict[str, Any] = {
        "target": target.name,
        "kind": target.kind,
        "source": target.source,
        "status": "unhealthy",
        "latency_us": None,
        "connect_us": None,
        "version": None,
        "role": None,
        "error": None,
    }
    from cachediag.backends import backend_for

    try:
        backend_for(target).ping(target, timeout, row)
    except Exception as exc:  # noqa: BLE001 - ProbeError, or a reply we did not expect
        error = (
            exc if isinstance(exc, ProbeError) else ProtocolViolation(f"unexpected reply: {exc}")
        )
        row["error"] = error.to_dict()
        if target.is_default and error.kind == "refused":
            row["status"] = "skipped"
            row["error"]["message"] = (
                f"nothing listening at the default address; name one with --{target.kind}"
            )
        return row
    row["status"] = "degraded" if row["latency_us"] > DEGRADED_US else "healthy"
    return row


def ping_redis(target: Target, timeout: float, row: dict[str, Any]) -> None:
    from cachediag.clients.resp import RedisClient
    from cachediag.probes.info import parse_info

    with RedisClient(target, timeout).connect() as client:
        row["connect_us"] = client.info.tcp_us
        row["latency_us"] = int(statistics.median(client.timed_ping() for _ in range(ROUND_TRIPS)))
        server, replication = client.pipeline([("INFO", "server"), ("INFO", "replication")])
        if isinstance(server, bytes):
            row["version"] = parse_info(server).get("server", {}).get("redis_version")
        if isinstance(replication, bytes):
            row["role"] = parse_info(replication).get("replication", {}).get("role")


def ping_memcached(target: Target, timeout: float, row: dict[str, Any]) -> None:
    from cachediag.clients.memcache_text import MemcachedClient

    with MemcachedClient(target, timeout).connect() as client:
        row["connect_us"] = client.info.tcp_us
        row["version"] = client.version()
        row["latency_us"] = int(statistics.median(client.timed_noop() for _ in range(ROUND_TRIPS)))


def ping_all(targets: list[Target], timeout: float) -> list[dict[str, Any]]:
    from cachediag.probes.fanout import per_target

    return per_target(targets, lambda t: ping_one(t, timeout))
