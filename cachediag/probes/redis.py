"""Collect the facts of one Redis target. Read-only: no command here writes.

Facts (all JSON-serializable):
  kind, target, source, default, local, address, collected_at, status (up/down/skipped)
  connect: ok, addresses, tcp_us, tls_us, auth_us, error {kind, message}
  ping:    ok, samples_us [PING round trips], error
  info:    INFO all by section (numbers typed; keyspace/commandstats as dicts)
  config:  available, reason,
           values {maxmemory, maxmemory-policy, tcp-backlog, dir, save, appendonly;
                   on replicas replica-ignore-maxmemory}
  dbsize
  sample:  keys [{key, type, ttl_ms, memory, length, head_hex}], complete, max_keys,
           memory_available, memory_reason, error, own_lookups,
           lookups_added {hits, misses, exact}
  window:  (with window > 0) requested_s, seconds, first {stats, commandstats, keyspace,
           memory}, error: an INFO reading taken `seconds` before `info`, so rates are
           "now", not since boot (keyspace and memory: growth over the window, for diagnose)
  stalls:  SLOWLOG and LATENCY LATEST, masked (see probes/stalls.py), measured_s
  errors:  {step: message} for steps that failed while the server was up
  system:  (a node of a cluster) name, role, node_id
  cluster: (cluster_enabled:1) info {cluster_state, cluster_slots_assigned...}, nodes [as
           CLUSTER NODES shows them here: id, address, role, slots, health, migrating...]
"""

from __future__ import annotations

import time
from typing import Any

from cachediag.clients.resp import RedisClient, ReplyError, is_auth_error
from cachediag.errors import ProbeError, ScanRefused, ServerRefused, ServerSaturated
from cachediag.probes import stalls
from cachediag.probes.common import PING_SAMPLES, base_facts, mark_down, mark_saturated
from cachediag.probes.facts import RedisFacts
from cachediag.probes.info import parse_info, parse_redis_info
from cachediag.safety.server_text import server_text
from cachediag.scan.redis import scan_sample
from cachediag.targets.target import Target

CONFIG_PARAMS = ("maxmemory", "maxmemory-policy", "tcp-backlog", "dir", "save", "appendonly")


def collect(
    target: Target, timeout: float, sample_keys: int = 1000, window: float = 0.0
) -> RedisFacts:
    """The facts of one Redis; with `window` seconds, counters are read twice, that far apart.

    Both readings come before the key sample, whose own lookups (PTTL, STRLEN... count as
    keyspace hits) must not be judged as the application's.
    """
    facts = base_facts(target)
    if target.role == "unresolved":  # redis+sentinel:// and no sentinel named a primary
        from cachediag.errors import ServerRefused

        error = ServerRefused("no sentinel named a primary for this master (see redis.sentinel)")
        return mark_down(facts, error, "connect")
    client = RedisClient(target, timeout)
    try:
        client.connect()
    except ServerSaturated as error:  # AUTH or SELECT was answered with the limit
        facts["connect"].update(client.info.to_dict())
        return mark_saturated(facts, error)
    except ProbeError as error:
        if client.info.tcp_us is None:
            return mark_down(facts, error, "connect")
        # TCP (and TLS) worked; AUTH or SELECT did not: the network is not to blame.
        facts["connect"] = {"ok": True, "error": None, **client.info.to_dict()}
        return mark_down(facts, error, "ping")
    facts["connect"] = {
        "ok": True,
        "error": None,
        **client.info.to_dict(),
        "auth_us": client.auth_us,
    }
    try:
        with client:
            if target.role == "replica":
                # A cluster replica answers reads of its own keys (the key sample) only
                # after READONLY; without it every TYPE is a MOVED to the primary.
                client.call("READONLY")
            measured_from = time.monotonic()
            samples: list[int] = []
            facts["ping"]["samples_us"] = samples
            for _ in range(PING_SAMPLES):
                samples.append(client.timed_ping())
                # Up from the first PONG: a probe cut short later (its whole deadline)
                # is a server that answers, with what it told so far.
                facts["ping"]["ok"] = True
                facts["status"] = "up"
            first = _first_reading(client, window)
            _collect_state(client, facts)
            _collect_cluster(client, facts)
            _window_facts(facts, first, window)
            _collect_replica_config(client, facts)
            facts["stalls"] = stalls.read(client, first["stalls"], stalls.own_addresses(client))
            facts["stalls"]["measured_s"] = round(time.monotonic() - measured_from, 3)
            _collect_sample(client, facts, sample_keys)
    except ProbeError as error:
        if isinstance(error, ServerSaturated) and facts["status"] != "up":
            return mark_saturated(facts, error)
        if facts["status"] != "up":
            return mark_down(facts, error, "ping")
        facts["errors"]["probe"] = error.message
    return facts


def _collect_state(client: RedisClient, facts: dict[str, Any]) -> None:
    """INFO, CONFIG GET and DBSIZE in a single round trip."""
    commands: list[tuple[str, ...]] = [("INFO", "all"), ("DBSIZE",)]
    commands += [("CONFIG", "GET", name) for name in CONFIG_PARAMS]
    info_reply, dbsize, *config_replies = client.pipeline(commands)

    if isinstance(info_reply, bytes):
        try:
            facts["info"] = parse_redis_info(info_reply)
        except ProbeError as error:
            facts["info"] = None
            facts["errors"]["info"] = error.message
    else:
        facts["info"] = None
        facts["errors"]["info"] = (
            f"INFO failed: {info_reply.text}"
            if isinstance(info_reply, ReplyError)
            else f"INFO answered {type(info_reply).__name__} {info_reply!r:.40}, not text"
        )
    facts["dbsize"] = dbsize if isinstance(dbsize, int) else None

    values: dict[str, str] = {}
    refused: str | None = None
    for name, reply in zip(CONFIG_PARAMS, config_replies, strict=True):
        if isinstance(reply, ReplyError):
            refused = refused or reply.text
        elif isinstance(reply, list) and len(reply) == 2 and isinstance(reply[1], bytes):
            values[name] = server_text(reply[1])
    if refused and not values:
        # Managed services rename or forbid CONFIG; ACLs may deny it. Checks that
        # need it skip with this reason rather than fail.
        reason = f"CONFIG GET is unavailable: {refused}"
        facts["config"] = {"available": False, "reason": reason, "values": {}}
    else:
        facts["config"] = {"available": True, "reason": None, "values": values}


def _collect_cluster(client: RedisClient, facts: dict[str, Any]) -> None:
    """CLUSTER INFO and CLUSTER NODES as this node sees them, on a cluster node only.

    NODES, not SHARDS, even on 7.0+: only NODES shows the slots this node is migrating
    or importing (an open slot), which redis.cluster_state judges.
    """
    cluster_section = (facts.get("info") or {}).get("cluster") or {}
    if cluster_section.get("cluster_enabled") != 1:
        return
    from cachediag.probes.cluster import parse_nodes

    info_reply, nodes_reply = client.pipeline([("CLUSTER", "INFO"), ("CLUSTER", "NODES")])
    error = next(
        (reply.text for reply in (info_reply, nodes_reply) if isinstance(reply, ReplyError)),
        None,
    )
    facts["cluster"] = {
        "info": parse_info(info_reply).get("server", {}) if isinstance(info_reply, bytes) else {},
        "nodes": [node.to_fact() for node in parse_nodes(nodes_reply)]
        if isinstance(nodes_reply, bytes)
        else [],
        "error": f"CLUSTER INFO/NODES failed: {error}" if error else None,
    }


# Read on replicas only: whether the replica's own maxmemory and policy decide anything.
REPLICA_CONFIG_PARAMS = ("replica-ignore-maxmemory",)


def _collect_replica_config(client: RedisClient, facts: dict[str, Any]) -> None:
    """CONFIG GET of the replica settings, one round trip, on a replica only.

    A refused CONFIG leaves them out: the rules then assume Redis' defaults.
    """
    replication = (facts.get("info") or {}).get("replication") or {}
    config = facts.get("config") or {}
    if replication.get("role") != "slave" or not config.get("available"):
        return
    replies = client.pipeline([("CONFIG", "GET", name) for name in REPLICA_CONFIG_PARAMS])
    for name, reply in zip(REPLICA_CONFIG_PARAMS, replies, strict=True):
        if isinstance(reply, list) and len(reply) == 2 and isinstance(reply[1], bytes):
            config["values"][name] = server_text(reply[1])


def _first_reading(client: RedisClient, window: float) -> dict[str, Any]:
    """The counters at the window's start and the stall baseline, in one round trip; then
    the wait until `window` seconds have passed since this reading."""
    commands: list[tuple[str, ...]] = list(stalls.BEFORE_COMMANDS)
    if window > 0:
        # keyspace and memory too: whether keys and memory grow over the window (diagnose's
        # "unbounded growth" and "where do written keys go"), for two more short sections.
        commands += [
            ("INFO", "stats"),
            ("INFO", "commandstats"),
            ("INFO", "keyspace"),
            ("INFO", "memory"),
        ]
    started = time.monotonic()
    replies = client.pipeline(commands)
    first: dict[str, Any] = {
        "stalls": stalls.parse_before(replies[:2]),
        "started": started,
        "reading": None,
        "error": None,
    }
    if window > 0:
        try:
            reading: dict[str, Any] = {}
            for reply in replies[2:]:
                if isinstance(reply, ReplyError):
                    raise ServerRefused(f"INFO failed: {reply.text}")
                reading.update(parse_info(reply))
            first["reading"] = {
                "stats": reading.get("stats") or {},
                "commandstats": reading.get("commandstats") or {},
                "keyspace": reading.get("keyspace") or {},
                "memory": reading.get("memory") or {},
            }
        except ProbeError as error:
            first["error"] = error.message
        remaining = window - (time.monotonic() - started)
        if remaining > 0 and first["reading"] is not None:
            time.sleep(remaining)
    return first


def _window_facts(facts: dict[str, Any], first: dict[str, Any], window: float) -> None:
    """facts["window"]: the first reading, `seconds` before INFO all (the second one)."""
    if window <= 0:
        facts["window"] = None
        return
    facts["window"] = {
        "requested_s": window,
        # INFO all was answered just now: its counters are the window's end.
        "seconds": round(time.monotonic() - first["started"], 3),
        "first": first["reading"],
        "error": first["error"],
    }


def _collect_sample(client: RedisClient, facts: dict[str, Any], sample_keys: int) -> None:
    sample: dict[str, Any] = {"keys": [], "complete": False, "max_keys": sample_keys, "error": None}
    facts["sample"] = sample
    if sample_keys <= 0:
        return
    try:
        pings = facts["ping"].get("samples_us") or []
        result = scan_sample(
            client,
            max_keys=sample_keys,
            # The probe's own PINGs and DBSIZE, just read on this connection.
            baseline_us=min(pings) if pings else None,
            dbsize=facts.get("dbsize"),
        )
    except ScanRefused as exc:  # SCAN denied by an ACL, say
        sample["error"] = str(exc)
        return
    except ProbeError as exc:  # a timeout, a reply no Redis sends: the sample broke off
        sample["error"] = exc.message
        sample["error_kind"] = exc.kind
        return
    sample.update(
        keys=[info.to_fact() for info in result.keys],
        complete=result.complete,
        memory_available=result.memory_available,
        memory_reason=result.memory_reason,
        value_reason=result.head_reason,
        # Redis counts PTTL, STRLEN and GETRANGE as keyspace hits: there is no way to read
        # a TTL without it. INFO was read before the sample, so this run's reading is
        # clean; the next run's leaves these out by their commands (checks/window.py).
        own_lookups=result.lookups.total,
        lookups_added=result.lookups.to_dict(),
    )


__all__ = ["collect", "is_auth_error"]
