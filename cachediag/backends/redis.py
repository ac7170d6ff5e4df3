"""Redis: where each job is done for a Redis target."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from cachediag.backends.base import Backend, Facts, Row
from cachediag.targets.target import Target

if TYPE_CHECKING:
    from cachediag.bundle.files import BundleFile
    from cachediag.checks.judge import Judge
    from cachediag.clients.resp import RedisClient
    from cachediag.keyspace.bigkeys import BigkeysRequest
    from cachediag.keyspace.entities import Entities
    from cachediag.keyspace.inspect import SampleRequest
    from cachediag.keyspace.ttl import TtlSample
    from cachediag.probes.facts import TargetFacts
    from cachediag.scan.redis import Progress
    from cachediag.server.latency import Session


class RedisBackend(Backend):
    kind: ClassVar[str] = "redis"
    runtime_eviction_settings: ClassVar[bool] = True
    purge_backup: ClassVar[bool] = True
    purge_value_filters: ClassVar[bool] = True
    reads_nodes_as_one: ClassVar[bool] = True

    def nodes(self, target: Target, timeout: float) -> list[Target]:
        """Every node of the Redis Cluster `target` is a node of; else `target` alone."""
        if target.sentinel is not None and target.system is None:  # redis+sentinel://
            from cachediag.probes import sentinel

            return sentinel.discover(target, timeout)
        if target.system is not None:  # already a node of a system
            return [target]
        from cachediag.probes.cluster import discover

        return discover(target, timeout) or [target]

    def connect(self, target: Target, timeout: float) -> RedisClient:
        from cachediag.clients.resp import RedisClient

        return RedisClient(target, timeout).connect()

    def probe(
        self, target: Target, timeout: float, sample_keys: int, window: float = 0.0
    ) -> TargetFacts:
        from cachediag.probes import redis

        return redis.collect(target, timeout, sample_keys, window=window)

    def ping(self, target: Target, timeout: float, row: Row) -> None:
        from cachediag.probes.ping import ping_redis

        ping_redis(target, timeout, row)

    def local_server(self, facts: Mapping[str, Any]) -> dict[str, Any] | None:
        """The data directory and TCP backlog whose kernel settings the host checks judge."""
        if not facts.get("local") or facts.get("status") != "up":
            return None
        # Without CONFIG (ACLs, managed services) dir and tcp-backlog are unknown, but
        # the kernel settings that matter to a local Redis can still be judged.
        config = (facts.get("config") or {}).get("values") or {}
        backlog = config.get("tcp-backlog")
        return {
            "target": facts["target"],
            "dir": config.get("dir"),
            "tcp_backlog": int(backlog) if backlog and backlog.isdigit() else None,
        }

    def bundle_readings(
        self, target: Target, timeout: float, interval: float, facts_done: threading.Event
    ) -> tuple[list[BundleFile], dict[str, Any]]:
        from cachediag.bundle import redis_files

        return redis_files.collect(target, timeout, interval, facts_done)

    def bigkeys(
        self, target: Target, timeout: float, request: BigkeysRequest, progress: Progress | None
    ) -> Row:
        from cachediag.keyspace.bigkeys import redis_bigkeys

        return redis_bigkeys(target, timeout, request, progress)

    def bigkeys_nodes(
        self,
        nodes: list[Target],
        timeout: float,
        request: BigkeysRequest,
        progress: Progress | None,
    ) -> Row:
        from cachediag.keyspace.bigkeys import redis_nodes_bigkeys

        return redis_nodes_bigkeys(nodes, timeout, request, progress)

    def inspect_keys(
        self, target: Target, timeout: float, keys: list[bytes], delimiter: str
    ) -> Row:
        from cachediag.keyspace.inspect import redis_keys

        return redis_keys(target, timeout, keys, delimiter)

    def key_evidence(
        self,
        target: Target,
        timeout: float,
        named: list[tuple[bytes, dict[str, Any]]],
        entities: Entities | None,
        reads: Any,
        delimiter: str,
    ) -> None:
        from cachediag.keyspace.key_evidence import redis_evidence

        redis_evidence(target, timeout, named, entities, reads, delimiter)

    def inspect_sample(
        self, target: Target, timeout: float, request: SampleRequest, progress: Progress | None
    ) -> Row:
        from cachediag.keyspace.inspect import redis_sample

        return redis_sample(target, timeout, request, progress)

    def ttl_keys(self, target: Target, timeout: float, keys: list[str]) -> Row:
        from cachediag.keyspace.ttl import redis_keys_part

        return redis_keys_part(target, timeout, keys)

    def ttl_keys_nodes(self, nodes: list[Target], timeout: float, keys: list[str]) -> Row:
        from cachediag.keyspace.ttl import redis_nodes_keys_part

        return redis_nodes_keys_part(nodes, timeout, keys)

    def ttl_sample(
        self,
        target: Target,
        timeout: float,
        max_keys: int,
        pattern: str | None,
        progress: Progress | None,
    ) -> TtlSample:
        from cachediag.keyspace.ttl import redis_keyspace

        return redis_keyspace(target, timeout, max_keys, pattern, progress)

    def memory_facts(self, target: Target, timeout: float, sample_keys: int) -> Facts:
        from cachediag.server.memory import redis_facts

        return redis_facts(target, timeout, sample_keys)

    def memory_report(self, facts: Facts, judge: Judge) -> Row:
        from cachediag.server.memory import redis_report

        return redis_report(facts, judge)

    def eviction(self, target: Target, timeout: float, judge: Judge) -> Row:
        from cachediag.server.eviction import redis_row

        return redis_row(target, timeout, judge)

    def counters(self, client: Any) -> dict[str, float]:
        from cachediag.server.watch import redis_snapshot

        return redis_snapshot(client)

    def latency_session(self, target: Target, timeout: float) -> tuple[Session, dict[str, Any]]:
        from cachediag.server.latency import redis_session

        return redis_session(target, timeout)

    def purge(self, target: Target, timeout: float, request: Any, sinks: Any) -> Row:
        from cachediag.purge.redis import purge_redis

        return purge_redis(target, timeout, request, sinks)

    def restore(
        self, target: Target, timeout: float, handle: Any, name: str, replace: bool, apply: bool
    ) -> Row:
        from cachediag.purge.restore import restore_redis

        return restore_redis(target, timeout, handle, name, replace, apply)
