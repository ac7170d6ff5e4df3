"""Memcached: where each job is done for a Memcached target."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, ClassVar

from cachediag.backends.base import Backend, Facts, Row
from cachediag.targets.target import Target

if TYPE_CHECKING:
    from cachediag.bundle.files import BundleFile
    from cachediag.checks.judge import Judge
    from cachediag.clients.memcache_text import MemcachedClient
    from cachediag.keyspace.bigkeys import BigkeysRequest
    from cachediag.keyspace.entities import Entities
    from cachediag.keyspace.inspect import SampleRequest
    from cachediag.keyspace.ttl import TtlSample
    from cachediag.probes.facts import TargetFacts
    from cachediag.scan.redis import Progress
    from cachediag.server.latency import Session


class MemcachedBackend(Backend):
    kind: ClassVar[str] = "memcached"
    # Memcached fixes its memory limit and eviction mode at start-up (-m, -M).
    runtime_eviction_settings: ClassVar[bool] = False

    def connect(self, target: Target, timeout: float) -> MemcachedClient:
        from cachediag.clients.memcache_text import MemcachedClient

        return MemcachedClient(target, timeout).connect()

    def probe(
        self, target: Target, timeout: float, sample_keys: int, window: float = 0.0
    ) -> TargetFacts:
        from cachediag.probes import memcached

        return memcached.collect(target, timeout, sample_keys)

    def ping(self, target: Target, timeout: float, row: Row) -> None:
        from cachediag.probes.ping import ping_memcached

        ping_memcached(target, timeout, row)

    def bundle_readings(
        self, target: Target, timeout: float, interval: float, facts_done: threading.Event
    ) -> tuple[list[BundleFile], dict[str, Any]]:
        from cachediag.bundle import memcached_files

        # No SLOWLOG to disturb: the stats are read beside the probe, at once.
        return memcached_files.collect(target, timeout), {}

    def bigkeys(
        self, target: Target, timeout: float, request: BigkeysRequest, progress: Progress | None
    ) -> Row:
        from cachediag.keyspace.bigkeys import memcached_bigkeys

        return memcached_bigkeys(target, timeout, request, progress)

    def check_keys(self, keys: list[bytes]) -> None:
        from cachediag.keyspace.inspect import check_memcached_key

        for key in keys:
            check_memcached_key(key)

    def inspect_keys(
        self, target: Target, timeout: float, keys: list[bytes], delimiter: str
    ) -> Row:
        from cachediag.keyspace.inspect import memcached_keys

        return memcached_keys(target, timeout, keys, delimiter)

    def key_evidence(
        self,
        target: Target,
        timeout: float,
        named: list[tuple[bytes, dict[str, Any]]],
        entities: Entities | None,
        reads: Any,
        delimiter: str,
    ) -> None:
        from cachediag.keyspace.key_evidence import memcached_evidence

        memcached_evidence(target, timeout, named, entities, reads, delimiter)

    def inspect_sample(
        self, target: Target, timeout: float, request: SampleRequest, progress: Progress | None
    ) -> Row:
        from cachediag.keyspace.inspect import memcached_sample

        return memcached_sample(target, timeout, request, progress)

    def ttl_keys(self, target: Target, timeout: float, keys: list[str]) -> Row:
        from cachediag.keyspace.ttl import memcached_keys_part

        return memcached_keys_part(target, timeout, keys)

    def ttl_sample(
        self,
        target: Target,
        timeout: float,
        max_keys: int,
        pattern: str | None,
        progress: Progress | None,
    ) -> TtlSample:
        from cachediag.keyspace.ttl import memcached_keyspace

        return memcached_keyspace(target, timeout, max_keys, pattern, progress)

    def memory_facts(self, target: Target, timeout: float, sample_keys: int) -> Facts:
        return dict(self.probe(target, timeout, sample_keys))  # `stats` holds the memory

    def memory_report(self, facts: Facts, judge: Judge) -> Row:
        from cachediag.server.memory import memcached_report

        return memcached_report(facts, judge)

    def eviction(self, target: Target, timeout: float, judge: Judge) -> Row:
        from cachediag.server.eviction import memcached_row

        return memcached_row(target, timeout, judge)

    def counters(self, client: Any) -> dict[str, float]:
        from cachediag.server.watch import memcached_snapshot

        return memcached_snapshot(client)

    def pressure_counters(self) -> tuple[str, ...]:
        from cachediag.server.watch import PRESSURE_NAMES

        return PRESSURE_NAMES

    def latency_session(self, target: Target, timeout: float) -> tuple[Session, dict[str, Any]]:
        from cachediag.server.latency import memcached_session

        return memcached_session(target, timeout)
