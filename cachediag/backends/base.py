"""The interface every server kind implements, so that command cores never branch on kind.

A backend is thin: for its kind it names the function that does each job (they live
beside their command's logic: keyspace/, server/, probes/) and adds nothing of its own
but the few facts only a kind knows. A core asks `backend_for(target)` and calls it.

A kind that expands into several nodes (a Redis Cluster, a Memcached pool) overrides
`nodes`; `backends.expand` turns the targets a user named into the nodes every core
then reads one at a time, so such a kind needs no core to change.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from cachediag.targets.target import Target

if TYPE_CHECKING:
    from cachediag.bundle.files import BundleFile
    from cachediag.checks.judge import Judge
    from cachediag.clients.connection import Connection
    from cachediag.keyspace.bigkeys import BigkeysRequest
    from cachediag.keyspace.entities import Entities
    from cachediag.keyspace.inspect import SampleRequest
    from cachediag.keyspace.ttl import TtlSample
    from cachediag.probes.facts import TargetFacts
    from cachediag.scan.redis import Progress
    from cachediag.server.latency import Session

Row = dict[str, Any]
Facts = dict[str, Any]


class Backend(ABC):
    kind: ClassVar[str]  # the targets' kind, the check ids' prefix ("redis.ttl")
    # Can the eviction settings be changed at runtime (CONFIG SET), or only at start-up?
    runtime_eviction_settings: ClassVar[bool] = False
    # Can purge --backup keep what it deletes (DUMP), and --restore put it back?
    purge_backup: ClassVar[bool] = False
    # Can purge filter on values and types (--invalid, --schema-*, --type), not only on
    # the metadata a listing gives (TTL, idle time)?
    purge_value_filters: ClassVar[bool] = False
    # Are a system's nodes scanned and read as one (a cluster: bigkeys_nodes...)? A
    # Memcached pool's servers are read one by one: the pool's hashing is the client's.
    reads_nodes_as_one: ClassVar[bool] = False

    def nodes(self, target: Target, timeout: float) -> list[Target]:
        """The servers behind `target`: itself, for a single server."""
        return [target]

    # -- connect and facts --------------------------------------------------------------
    @abstractmethod
    def connect(self, target: Target, timeout: float) -> Connection:
        """A connected (and authenticated) client; every failure is a ProbeError."""

    @abstractmethod
    def probe(
        self, target: Target, timeout: float, sample_keys: int, window: float = 0.0
    ) -> TargetFacts:
        """The facts `check` judges (see probes/redis.py, probes/memcached.py); `window`:
        seconds between the two counter readings that give rates of now, where the kind
        has them (Redis' INFO stats; Memcached reads its counters once)."""

    @abstractmethod
    def ping(self, target: Target, timeout: float, row: Row) -> None:
        """Fill `row`'s connect_us, latency_us, version and role (cachediag ping)."""

    def local_server(self, facts: Mapping[str, Any]) -> dict[str, Any] | None:
        """What the host probe needs of a server running on this machine, if anything."""
        return None

    def bundle_readings(
        self, target: Target, timeout: float, interval: float, facts_done: threading.Event
    ) -> tuple[list[BundleFile], dict[str, Any]]:
        """`gather`'s files of this server (bundle/), and facts to add to its own: none for
        a kind that has no bundle collector, which its one file then says."""
        from cachediag.bundle.files import BundleFile, target_folder

        path = f"{self.kind}/{target_folder(target.address)}/readings.txt"
        return [BundleFile(path, "gather", error=f"no bundle readings for {self.kind}")], {}

    # -- the keyspace (on the scan engine) ---------------------------------------------------
    @abstractmethod
    def bigkeys(
        self, target: Target, timeout: float, request: BigkeysRequest, progress: Progress | None
    ) -> Row: ...

    def bigkeys_nodes(
        self,
        nodes: list[Target],
        timeout: float,
        request: BigkeysRequest,
        progress: Progress | None,
    ) -> Row:
        """One system's nodes scanned at once and merged into one row (a cluster)."""
        raise NotImplementedError(f"{self.kind} has no system of nodes to scan as one")

    def check_keys(self, keys: list[bytes]) -> None:
        """Refuse (UsageError) key names this kind's protocol cannot carry: none, by default."""
        return None

    @abstractmethod
    def inspect_keys(
        self, target: Target, timeout: float, keys: list[bytes], delimiter: str
    ) -> Row: ...

    @abstractmethod
    def key_evidence(
        self,
        target: Target,
        timeout: float,
        named: list[tuple[bytes, dict[str, Any]]],
        entities: Entities | None,
        reads: Any,
        delimiter: str,
    ) -> None:
        """`inspect KEY`'s further readings: the namespace's neighbours, whole values to decode
        (keyspace/key_evidence.py), filed into `named` and counted in `reads`."""

    @abstractmethod
    def inspect_sample(
        self, target: Target, timeout: float, request: SampleRequest, progress: Progress | None
    ) -> Row: ...

    @abstractmethod
    def ttl_keys(self, target: Target, timeout: float, keys: list[str]) -> Row: ...

    def ttl_keys_nodes(self, nodes: list[Target], timeout: float, keys: list[str]) -> Row:
        """`ttl KEY...` over a system: each key read where it lives (a cluster's slot owner)."""
        raise NotImplementedError(f"{self.kind} has no system of nodes to route keys in")

    @abstractmethod
    def ttl_sample(
        self,
        target: Target,
        timeout: float,
        max_keys: int,
        pattern: str | None,
        progress: Progress | None,
    ) -> TtlSample: ...

    # -- one server's settings and counters -------------------------------------------------
    @abstractmethod
    def memory_facts(self, target: Target, timeout: float, sample_keys: int) -> Facts: ...

    @abstractmethod
    def memory_report(self, facts: Facts, judge: Judge) -> Row: ...

    @abstractmethod
    def eviction(self, target: Target, timeout: float, judge: Judge) -> Row: ...

    @abstractmethod
    def counters(self, client: Any) -> dict[str, float]:
        """One reading of the counters `watch` turns into rates, over `client`."""

    def pressure_counters(self) -> tuple[str, ...]:
        """The trouble counters `watch` reports as moved in each interval: none, by default."""
        return ()

    @abstractmethod
    def latency_session(self, target: Target, timeout: float) -> tuple[Session, dict[str, Any]]:
        """A connected socket for the lean round-trip loop, and the connect times."""

    # -- purge (writes: through cachediag.writes) ------------------------------------
    @abstractmethod
    def purge(self, target: Target, timeout: float, request: Any, sinks: Any) -> Row:
        """Delete what `request` names or matches (a dry run unless request.apply): the
        row's `purge` is a purge.report.PurgeReport; see purge/redis.py, purge/memcached.py."""

    @abstractmethod
    def restore(
        self, target: Target, timeout: float, handle: Any, name: str, replace: bool, apply: bool
    ) -> Row:
        """Put back what a purge --backup file holds (its records read from `handle`)."""
