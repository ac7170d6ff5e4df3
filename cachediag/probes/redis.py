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
           memory_available, memory_reason, error
  errors:  {step: message} for steps that failed while the server was up
"""

from __future__ import annotations

from typing import Any

from cachediag.clients.resp import RedisClient, ReplyError, is_auth_error
from cachediag.errors import ProbeError, ScanRefused, ServerSaturated
from cachediag.probes.common import PING_SAMPLES, base_facts, mark_down, mark_saturated
from cachediag.probes.facts import RedisFacts
from cachediag.probes.info import parse_info, parse_redis_info
from cachediag.scan.redis import scan_sample
from cachediag.targets.target import Target

CONFIG_PARAMS = ("maxmemory", "maxmemory-policy", "tcp-backlog", "dir", "save", "appendonly")


def collect(target: Target, timeout: float, sample_keys: int = 1000) -> RedisFacts:
    facts = base_facts(target)
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
            facts["ping"]["samples_us"] = [client.timed_ping() for _ in range(PING_SAMPLES)]
            facts["ping"]["ok"] = True
            facts["status"] = "up"
            _collect_state(client, facts)
            _collect_replica_config(client, facts)
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
            values[name] = reply[1].decode("utf-8", "replace")
    if refused and not values:
        # Managed services rename or forbid CONFIG; ACLs may deny it. Checks that
        # need it skip with this reason rather than fail.
        reason = f"CONFIG GET is unavailable: {refused}"
        facts["config"] = {"available": False, "reason": reason, "values": {}}
    else:
        facts["config"] = {"available": True, "reason": None, "values": values}


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
            config["values"][name] = reply[1].decode("utf-8", "replace")


def _collect_sample(client: RedisClient, facts: dict[str, Any], sample_keys: int) -> None:
    sample: dict[str, Any] = {"keys": [], "complete": False, "max_keys": sample_keys, "error": None}
    facts["sample"] = sample
    if sample_keys <= 0:
        return
    try:
        result = scan_sample(client, max_keys=sample_keys)
    except ScanRefused as exc:  # SCAN denied by an ACL, say
        sample["error"] = str(exc)
        return
    sample.update(
        keys=[info.to_fact() for info in result.keys],
        complete=result.complete,
        memory_available=result.memory_available,
        memory_reason=result.memory_reason,
        value_reason=result.head_reason,
        own_lookups=_own_lookups(client, facts),
    )


def _lookups(info: dict[str, Any] | None) -> int | None:
    stats = (info or {}).get("stats") or {}
    hits, misses = stats.get("keyspace_hits"), stats.get("keyspace_misses")
    return hits + misses if isinstance(hits, int) and isinstance(misses, int) else None


def _own_lookups(client: RedisClient, facts: dict[str, Any]) -> int | None:
    """About how many keyspace lookups our own sample just added to the hit/miss counters.

    Redis counts PTTL, STRLEN and GETRANGE as hits; there is no way to read a TTL
    without it. INFO was read before the sample, so this run's reading is clean, but
    the next run's includes these: the hit_rate check says so when it matters.
    """
    before = _lookups(facts.get("info"))
    try:
        reply = client.call("INFO", "stats")
    except ProbeError:
        return None
    after = _lookups(parse_info(reply)) if isinstance(reply, bytes) else None
    return after - before if before is not None and after is not None else None


__all__ = ["collect", "is_auth_error"]
