"""Probe every target (concurrently) and the host: the one place that gathers facts.

The result is the facts document: plain JSON data that the rules judge and that a
bundle can carry, so the same verdicts can be reached later, offline.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from cachediag.errors import ProbeError, ProtocolViolation
from cachediag.probes.facts import (
    AppFacts,
    FactsDocument,
    HostFacts,
    SystemDocument,
    TargetFacts,
)
from cachediag.targets.target import Target

if TYPE_CHECKING:
    from cachediag.keyspace.entities import Entities
    from cachediag.probes.app import AppSources

FACTS_SCHEMA = "cachediag.facts/v1"


def probe_target(
    target: Target,
    timeout: float,
    sample_keys: int,
    window: float = 0.0,
    since: float | None = None,
) -> TargetFacts:
    from cachediag.backends import backend_for
    from cachediag.clients.probe_deadline import whole_probe

    try:
        # One deadline for the whole probe (PROBE_TIMEOUTS x --timeout, and the window):
        # past it, the target's remaining facts are missing and its checks say why.
        with whole_probe(timeout, window, since):
            return backend_for(target).probe(target, timeout, sample_keys, window=window)
    except Exception as exc:  # noqa: BLE001 - one odd server must not abort the whole run
        from cachediag.probes.common import base_facts, mark_down

        facts = base_facts(target)
        facts["connect"] = {"ok": True, "error": None, "addresses": []}
        if isinstance(exc, ProbeError):  # a malformed reading, named where it was read
            return mark_down(facts, exc, "ping")
        message = f"the server answered something unexpected ({type(exc).__name__}: {exc})"
        return mark_down(facts, ProtocolViolation(message), "ping")


def probe_targets(
    targets: list[Target],
    timeout: float,
    sample_keys: int,
    window: float = 0.0,
    since: float | None = None,
) -> list[TargetFacts]:
    """Probe all targets at once, so a dead one costs its timeout (and the window) once."""
    from cachediag.probes.fanout import per_target

    return per_target(
        targets,
        lambda t: probe_target(t, timeout, sample_keys, window, since),
        processes=True,
    )


def count_established(facts_list: Sequence[TargetFacts]) -> None:
    """Established TCP connections from this host to each target (other than ours)."""
    try:
        import psutil

        connections = psutil.net_connections(kind="tcp")
    except Exception:
        return
    me = os.getpid()
    for facts in facts_list:
        addresses = set((facts.get("connect") or {}).get("addresses") or [])
        port = facts["address"].rsplit(":", 1)[-1]
        if not addresses or not port.isdigit():
            continue
        facts["established"] = sum(
            1
            for conn in connections
            if conn.status == psutil.CONN_ESTABLISHED
            and conn.raddr
            and conn.raddr.ip in addresses
            and conn.raddr.port == int(port)
            and conn.pid != me
        )


def local_redis_of(facts_list: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """What the host checks need of the servers on this machine (a local Redis' dir, backlog)."""
    from cachediag.backends import backend_for

    views = (backend_for(facts["kind"]).local_server(facts) for facts in facts_list)
    return [view for view in views if view is not None]


def _server_stalls(facts: TargetFacts) -> str | None:
    """The slow commands Redis ran while its round trips were timed, named: jitter they
    cause is the server's, not the network's (host.congestion says so)."""
    from cachediag.checks.stalls import during_measurement, stall_clause

    if not facts.get("stalls"):  # only a Redis probe reads SLOWLOG
        return None
    return stall_clause(during_measurement(facts, STALL_JITTER_US))


# A stall this long while PINGs were timed shows up as jitter (host.congestion's 10 ms).
STALL_JITTER_US = 10_000


def collect_facts(
    targets: list[Target],
    timeout: float,
    sample_keys: int = 1000,
    host: bool = True,
    app: AppSources | None = None,
    entities: Entities | None = None,
    window: float = 0.0,
    since: float | None = None,
) -> FactsDocument:
    """The facts document; `window` > 0 reads each Redis's counters twice, that far apart."""
    started = time.time()
    host_probe = None
    if host:
        from cachediag.probes.host import HostProbe

        host_probe = HostProbe.start()
    app_pool = app_future = None
    if app is not None:
        from cachediag.probes import app as app_probe

        # The HTTP endpoints are read while the targets are probed, not after them.
        app_pool = ThreadPoolExecutor(max_workers=1)
        app_future = app_pool.submit(app_probe.collect_endpoints, app, timeout)
    target_facts = probe_targets(targets, timeout, sample_keys, window, since)
    systems = system_facts(targets, timeout)
    if entities:  # layouts configured: the sampled payloads are decoded in full
        from cachediag.probes.payloads import decode_sampled_payloads

        decode_sampled_payloads(target_facts, targets, entities, timeout)
    count_established(target_facts)
    host_facts: HostFacts | None = None
    if host_probe is not None:
        latency = [
            {
                "target": f["target"],
                "samples_us": f["ping"]["samples_us"],
                "server_stalls": _server_stalls(f),
            }
            for f in target_facts
            if f["ping"]["samples_us"]
        ]
        host_facts = host_probe.finish(local_redis_of(target_facts), latency)
    app_facts: AppFacts | None = None
    if app is not None and app_pool is not None and app_future is not None:
        # Logs are scanned after the host snapshot: a big log's CPU must not read as host load.
        app_facts = {
            **app_future.result(),
            "logs": app_probe.collect_logs(app.logs) if app.logs else None,
            "schema_versions": app_probe.schema_versions(target_facts),
        }
        app_pool.shutdown()
    document: FactsDocument = {
        "schema": FACTS_SCHEMA,
        "collected_at": started,
        "timeout": timeout,
        "targets": target_facts,
        "host": host_facts,
        "app": app_facts,
    }
    if systems:
        document["systems"] = systems
    return document


def system_facts(targets: list[Target], timeout: float) -> list[SystemDocument]:
    """What a system says of itself beyond its nodes: each Sentinel-managed set's sentinels
    (who they name as primary, quorum, failover), asked once per set."""
    from cachediag.probes import sentinel

    sets = {t.system: t for t in targets if t.sentinel is not None and t.system}
    return [sentinel.read_all(target, timeout) for target in sets.values()]
