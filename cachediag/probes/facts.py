"""The facts document `cachediag.facts/v1` as types: what the probes return, what rules judge.

These are the static face of cachediag/schemas/facts-v1.json: a bundle carries this
document and `check --from BUNDLE` reads it back, so it is a public contract. The probes
still build plain dicts (JSON as they go); these TypedDicts name the shape at the
boundary, `collect_facts` and each probe's entry point, and the tests hold the runtime
truth to the JSON Schema. Fields may be added within v1; none is renamed or retyped.

Python 3.10 has no NotRequired: a key that not every run records lives in a
`total=False` class that extends the class of the keys that are always there.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

Kind = Literal["redis", "memcached"]
Source = Literal["flag", "env", "config", "default"]
TargetStatus = Literal["up", "down", "skipped"]

# INFO (Redis) or a `stats` group (Memcached), typed by probes/info.py: numbers where the
# text was a number, strings otherwise; `db0`, `cmdstat_*`... lines as dicts of their own.
InfoSection = dict[str, Any]


class _ErrorAlways(TypedDict):
    kind: str
    message: str


class ErrorFacts(_ErrorAlways, total=False):
    """Why a step failed: `kind` is a ProbeError kind (refused, timeout, auth...)."""

    limit: str  # saturated: the connection limit reached (maxclients, memcached -c)


# -- every target -------------------------------------------------------------------------


class _ConnectAlways(TypedDict):
    ok: bool
    error: ErrorFacts | None


class ConnectFacts(_ConnectAlways, total=False):
    """TCP (and TLS) set-up; the times are there once a socket was opened."""

    addresses: list[str]
    tcp_us: int | None
    tls_us: int | None
    auth_us: int | None


class PingFacts(TypedDict):
    ok: bool
    samples_us: list[int]
    error: ErrorFacts | None


class _TargetAlways(TypedDict):
    target: str  # masked: never a password
    source: Source
    default: bool
    local: bool
    address: str
    collected_at: float
    status: TargetStatus
    connect: ConnectFacts
    ping: PingFacts
    errors: dict[str, str]  # step -> message, for steps that failed while the server was up


class SaturatedFacts(TypedDict):
    """A server up but at its connection limit, that turned our connection away."""

    limit: str  # maxclients, memcached -c
    message: str


class SystemFacts(TypedDict):
    """The system a node belongs to (added within v1): a Redis Cluster, a Memcached pool."""

    name: str  # the system's name: redis-cluster://SEED, memcached-pool://...
    role: str | None  # primary, replica (a cluster), server (a pool)
    node_id: str | None  # the cluster's id of the node


class _TargetSometimes(_TargetAlways, total=False):
    established: int  # TCP connections from this host to the target, other than ours
    saturated: SaturatedFacts  # only when the server refused us at its connection limit
    system: SystemFacts  # only for a node of a cluster or pool


# -- Redis --------------------------------------------------------------------------------


class ConfigFacts(TypedDict):
    available: bool
    reason: str | None
    values: dict[str, str]  # maxmemory, maxmemory-policy, tcp-backlog, dir, save, appendonly


class _PayloadAlways(TypedDict):
    entity: str
    state: Literal["ok", "broken", "trailing", "no_layout", "not_read"]


class PayloadFacts(_PayloadAlways, total=False):
    """A payload decoded against its [entities] layout (keyspace.entities.decode_entry)."""

    version: int | None
    fields: int
    field: int  # broken: the first field that does not decode, from 1
    field_name: str | None
    field_type: str
    offset: int  # byte offset in the value: the broken field's, or the trailing bytes'
    at: int  # where the error was found
    reason: str
    trailing_bytes: int


class SamplePayloads(TypedDict):
    """With [entities] layouts: the layouts, and the values read whole to decode them."""

    entities: dict[str, Any]
    values_read_whole: int
    read_bound_bytes: int
    read_error: str | None


class _RedisKeyAlways(TypedDict):
    key: str  # escaped text (textsafe)
    type: str
    ttl_ms: int  # -1: no expiry
    memory: int | None  # MEMORY USAGE, None when refused
    length: int | None
    head_hex: str | None  # the first bytes of a string value


class RedisKeySample(_RedisKeyAlways, total=False):
    payload: PayloadFacts  # with a layout for the key, its header valid
    key_bytes: int  # a name past textsafe.KEY_TEXT_BYTES: its whole length, `key` its start
    key_truncated: bool


class LookupsFacts(TypedDict):
    """What a scan's own reads added to the server's hit and miss counters (scan/lookups)."""

    hits: int
    misses: int
    exact: bool  # false: SCAN TYPE also looked keys up, uncounted


class _WindowReadingAlways(TypedDict):
    stats: InfoSection
    commandstats: InfoSection


class WindowReading(_WindowReadingAlways, total=False):
    # Added within v1: growth of keys and memory over the window (diagnose).
    keyspace: InfoSection
    memory: InfoSection


class WindowFacts(TypedDict):
    """INFO read `seconds` before `info` (check --window): rates of now, not since boot."""

    requested_s: float
    seconds: float
    first: WindowReading | None  # None: the first reading failed (error)
    error: str | None


class SlowEntryFacts(TypedDict):
    """One SLOWLOG entry, masked: the command, its argument and key counts, no value."""

    id: int
    at: int
    age_s: float | None
    duration_us: int
    command: str
    args: int
    keys: int | None
    masked: str
    client: str | None
    during: bool | None  # logged while cachediag measured (newer than the baseline)


class _SlowlogAlways(TypedDict):
    entries: list[SlowEntryFacts]
    length: int | None
    error: str | None


class SlowlogFacts(_SlowlogAlways, total=False):
    log_slower_than_us: int | None
    max_len: int | None
    own_skipped: int
    truncated: int | None  # entries read of a longer log: counts are lower bounds


class LatencyEventFacts(TypedDict):
    event: str
    at: int
    latest_ms: int
    max_ms: int
    age_s: float | None
    during: bool | None


class LatencyMonitorFacts(TypedDict):
    events: list[LatencyEventFacts]
    threshold_ms: int | None  # 0: the latency monitor is off
    error: str | None


class _StallsAlways(TypedDict):
    slowlog: SlowlogFacts
    latency: LatencyMonitorFacts
    server_time: float | None
    since_id: int | None


class StallFacts(_StallsAlways, total=False):
    """SLOWLOG GET and LATENCY LATEST read around the probe's round trips (probes/stalls)."""

    measured_s: float


class _RedisSampleAlways(TypedDict):
    keys: list[RedisKeySample]
    complete: bool
    max_keys: int
    error: str | None


class RedisSample(_RedisSampleAlways, total=False):
    memory_available: bool
    memory_reason: str | None
    value_reason: str | None  # why value heads could not be read
    own_lookups: int | None  # keyspace lookups the sample itself added to INFO's counters
    payloads: SamplePayloads
    lookups_added: LookupsFacts
    error_kind: str  # the sample broke off (timeout, protocol), not refused: the checks err


class ClusterNodeFacts(TypedDict):
    """One line of CLUSTER NODES, as the node probed sees the cluster."""

    id: str
    address: str
    role: str  # primary, replica
    primary_id: str | None
    slots: list[list[int]]  # inclusive [start, end] ranges
    health: str  # online, pfail, failed, handshake
    flags: list[str]
    migrating: list[int]  # open slots: only the node itself knows and shows them
    importing: list[int]


class ClusterFacts(TypedDict):
    info: InfoSection  # CLUSTER INFO: cluster_state, cluster_slots_assigned...
    nodes: list[ClusterNodeFacts]
    error: str | None


class MemoryDoctorFacts(TypedDict):
    available: bool
    text: str | None
    reason: str | None


class MemoryStatsFacts(TypedDict):
    available: bool
    values: dict[str, Any]
    reason: str | None


class _RedisAlways(_TargetSometimes):
    kind: Literal["redis"]


class RedisFacts(_RedisAlways, total=False):
    """Up and unbroken (no errors['probe']): info, dbsize, config and sample are all there."""

    info: dict[str, InfoSection] | None
    dbsize: int | None
    config: ConfigFacts
    sample: RedisSample
    # Added within v1 (a bundle written before them lacks them):
    window: WindowFacts | None  # None: --window 0
    stalls: StallFacts
    cluster: ClusterFacts  # only on a node with cluster_enabled:1
    # In a bundle only (gather reads them for `memory --from`):
    memory_doctor: MemoryDoctorFacts
    memory_stats: MemoryStatsFacts


# -- Memcached ----------------------------------------------------------------------------


class _MemcachedKeyAlways(TypedDict):
    key: str
    exp: int | None  # absolute expiry (server clock), -1: never
    la: int | None  # last access
    cls: int | None  # slab class
    size: int | None
    head_hex: str | None  # the first bytes of the value, when it was fetched
    length: int | None


class MemcachedKeySample(_MemcachedKeyAlways, total=False):
    """One `lru_crawler metadump` line, and the head of its value."""

    cas: int | None
    fetch: bool  # fetched since it was stored
    payload: PayloadFacts


KeySample = RedisKeySample | MemcachedKeySample


class _MemcachedSampleAlways(TypedDict):
    keys: list[MemcachedKeySample]
    complete: bool
    max_keys: int
    crawler: bool
    error: str | None


class MemcachedSample(_MemcachedSampleAlways, total=False):
    own_lookups: int
    payloads: SamplePayloads
    lookups_added: LookupsFacts


class _MemcachedAlways(_TargetSometimes):
    kind: Literal["memcached"]


class MemcachedFacts(_MemcachedAlways, total=False):
    """Up and unbroken: version, the four stats groups and sample are all there."""

    version: str
    stats: InfoSection
    settings: InfoSection | None
    slabs: InfoSection | None
    items: InfoSection | None
    sample: MemcachedSample


TargetFacts = RedisFacts | MemcachedFacts


# -- the host -----------------------------------------------------------------------------
# Every section maps each value it could not read to the reason in `unavailable`.


class CpuFacts(TypedDict):
    percent: float | None
    cores: int | None
    unavailable: dict[str, str]


class HostMemoryFacts(TypedDict):
    total_bytes: int | None
    available_bytes: int | None
    available_percent: float | None
    swap_total_bytes: int | None
    swap_used_bytes: int | None
    unavailable: dict[str, str]


class DiskFacts(TypedDict):
    mountpoint: str | None
    paths: list[str]
    targets: list[str]
    total_bytes: int | None
    used_bytes: int | None
    free_bytes: int | None
    used_percent: float | None
    unavailable: dict[str, str]


class LoadFacts(TypedDict):
    load1: float | None
    load5: float | None
    load15: float | None
    cores: int | None
    load1_per_core: float | None
    load5_per_core: float | None
    load15_per_core: float | None
    unavailable: dict[str, str]


class OomFacts(TypedDict):
    oom_kill: int | None
    log_source: str | None  # /dev/kmsg or dmesg
    log_lines: list[str] | None
    log_records_scanned: int
    log_truncated: bool
    unavailable: dict[str, str]


class InterfaceFacts(TypedDict):
    loopback: bool
    rx_drops: int
    tx_drops: int
    rx_errors: int
    tx_errors: int
    total: int
    delta: int | None


class NetFacts(TypedDict):
    interfaces: dict[str, InterfaceFacts] | None
    unavailable: dict[str, str]


class TcpFacts(TypedDict):
    out_segs: int | None
    retrans_segs: int | None
    retrans_percent_since_boot: float | None
    out_segs_run: int | None
    retrans_segs_run: int | None
    retrans_percent_run: float | None
    unavailable: dict[str, str]


class KernelFacts(TypedDict):
    thp_enabled: str | None
    overcommit_memory: int | None
    somaxconn: int | None
    unavailable: dict[str, str]


class LocalRedis(TypedDict):
    target: str
    dir: str | None
    tcp_backlog: int | None


class _JitterAlways(TypedDict):
    target: str
    samples: int
    p50_us: int | None
    p99_us: int | None
    jitter_us: int | None
    stdev_us: float | None
    min_us: int | None
    max_us: int | None
    unavailable: dict[str, str]


class JitterFacts(_JitterAlways, total=False):
    server_stalls: str | None  # the slow commands Redis ran while its PINGs were timed


class HostFacts(TypedDict):
    platform: str
    interval_s: float
    cpu: CpuFacts
    memory: HostMemoryFacts
    disks: list[DiskFacts]
    load: LoadFacts
    oom: OomFacts
    net: NetFacts
    tcp: TcpFacts
    kernel: KernelFacts
    local_redis: list[LocalRedis]
    jitter: list[JitterFacts]


# -- the application ----------------------------------------------------------------------


class _EndpointAlways(TypedDict):
    url: str  # masked
    ok: bool
    http_status: int | None
    elapsed_ms: float | None
    error: ErrorFacts | None


class _Endpoint(_EndpointAlways, total=False):
    truncated: bool  # the body was longer than cachediag reads


class _MetricsAlways(_Endpoint):
    names: dict[str, list[str]]  # role -> candidate metric names
    values: dict[str, float]  # name -> sum over label sets
    types: dict[str, str]
    series: dict[str, int]
    unparsed_lines: int


class MetricsFacts(_MetricsAlways, total=False):
    metric_names_seen: int


class _HealthAlways(_Endpoint):
    body_status: str | None
    body: str  # an excerpt


class HealthFacts(_HealthAlways, total=False):
    body_json: dict[str, str | int | float | bool]


class LogsFacts(TypedDict):
    paths: list[str]
    scan: dict[str, Any] | None  # a cachediag.logs/v1 document (logs-v1.json)
    error: str | None


class NamespaceVersions(TypedDict):
    versions: dict[str, int]  # schema version -> entries
    sample_keys: dict[str, list[str]]
    targets: list[str]


class SchemaVersions(TypedDict):
    sampled_targets: list[str]
    entries: int
    namespaces: dict[str, NamespaceVersions]


class AppEndpoints(TypedDict):
    metrics: MetricsFacts | None  # None: no metrics URL was given
    health: HealthFacts | None


class AppFacts(AppEndpoints):
    logs: LogsFacts | None  # None: no log was given
    schema_versions: SchemaVersions


# -- the document -------------------------------------------------------------------------


class _SentinelAlways(TypedDict):
    address: str
    reachable: bool
    error: str | None  # why it could not be asked, or its refusal


class SentinelAnswer(_SentinelAlways, total=False):
    """What one sentinel said of the master (the rest only when it answered)."""

    primary: str | None  # host:port it names as the primary
    flags: str
    failover_in_progress: bool
    other_sentinels: int | None
    quorum: int | None
    replicas: list[dict[str, Any]]
    ckquorum: dict[str, Any]  # {ok, message}


class SystemDocument(TypedDict):
    """A system's own facts beyond its nodes' (added within v1): a Sentinel set's answers."""

    name: str
    kind: str  # redis-sentinel
    master: str
    sentinels: list[SentinelAnswer]


class _FactsAlways(TypedDict):
    schema: str  # "cachediag.facts/v1"
    collected_at: float  # epoch seconds
    timeout: float
    targets: list[TargetFacts]
    host: HostFacts | None
    app: AppFacts | None


class FactsDocument(_FactsAlways, total=False):
    systems: list[SystemDocument]  # added within v1: only when a system has facts of its own
