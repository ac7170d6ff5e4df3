"""`cachediag ttl`: the guide's "Check TTL configuration" step, per key or over a bounded sample.

Per key (like `redis-cli TTL KEY`): seconds remaining, -1 no expiration set (cached
forever), -2 key does not exist, plus type and memory. Over the keyspace: INFO
keyspace per database, and a bounded sample on the scan engine (Redis: SCAN with PTTL
only, pipelined per batch; Memcached: the crawler's metadump, each slab class its share)
bucketed by remaining TTL and grouped by namespace.
"""

from __future__ import annotations

import fnmatch
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cachediag.checks.facts_view import plural
from cachediag.checks.judge import Judge
from cachediag.errors import (
    CrawlerUnavailable,
    ProbeError,
    ProtocolViolation,
    ScanRefused,
    ServerRefused,
)
from cachediag.keyspace.namespaces import namespace_of
from cachediag.probes.rows import mark_error, target_row
from cachediag.render.units import human_duration
from cachediag.safety.textsafe import key_text, safe_text
from cachediag.scan.lookups import Lookups
from cachediag.targets.target import Target

if TYPE_CHECKING:
    from cachediag.keyspace.fleet import Group
    from cachediag.scan.redis import Progress

HOUR = 3600
DAY = 86400
NO_EXPIRY = "no expiry"
# (label, upper bound in seconds, exclusive); the last bucket is everything longer.
BUCKETS: tuple[tuple[str, float], ...] = (
    ("< 1 h", HOUR),
    ("1–4 h", 4 * HOUR),
    ("4–12 h", 12 * HOUR),
    ("12–24 h", DAY),
    ("1–7 d", 7 * DAY),
    ("> 7 d", float("inf")),
)
BUCKET_NAMES = (NO_EXPIRY, *(label for label, _ in BUCKETS))
SCAN_COUNT = 1000
SCAN_CALLS_MIN = 100


# -- pure ------------------------------------------------------------------------------


def bucket_of(ttl_seconds: float) -> str:
    """The bucket of a remaining TTL; a negative one (-1) means no expiry."""
    if ttl_seconds < 0:
        return NO_EXPIRY
    for label, upper in BUCKETS:
        if ttl_seconds < upper:
            return label
    return BUCKETS[-1][0]  # pragma: no cover - the last bound is infinite


def reading(ttl: int) -> str:
    """The guide's reading of a `TTL` reply."""
    if ttl == -2:
        return "key does not exist"
    if ttl == -1:
        return "no expiration set: cached forever"
    # The number as TTL itself prints it (no thousands separator), in the right number.
    return f"{ttl} {'second' if ttl == 1 else 'seconds'} remaining ({human_duration(ttl)})"


def summarize(items: list[tuple[str, float]]) -> dict[str, Any]:
    """Buckets overall and per namespace; namespaces with most keys without TTL first."""
    overall: Counter[str] = Counter()
    per_namespace: dict[str, Counter[str]] = {}
    for key, ttl in items:
        name = bucket_of(ttl)
        overall[name] += 1
        per_namespace.setdefault(namespace_of(key), Counter())[name] += 1
    namespaces: list[dict[str, Any]] = [
        {
            "namespace": namespace,
            "keys": sum(counts.values()),
            "without_ttl": counts[NO_EXPIRY],
            "buckets": {name: counts[name] for name in BUCKET_NAMES},
        }
        for namespace, counts in per_namespace.items()
    ]
    namespaces.sort(key=lambda ns: (-ns["without_ttl"], -ns["keys"], ns["namespace"]))
    return {
        "sampled": len(items),
        "buckets": {name: overall[name] for name in BUCKET_NAMES},
        "namespaces": namespaces,
    }


def databases(info_keyspace: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for name, db in sorted(
        info_keyspace.items(), key=lambda kv: int(kv[0][2:]) if kv[0][2:].isdigit() else 0
    ):
        if isinstance(db, dict):
            out.append(
                {
                    "db": name,
                    "keys": _count(db, "keys", name),
                    "expires": _count(db, "expires", name),
                    "avg_ttl_ms": _count(db, "avg_ttl", name),
                }
            )
    return out


def _count(db: dict[str, Any], field: str, name: str) -> int:
    """A whole number of INFO keyspace, or a ProtocolViolation naming what was sent."""
    value = db.get(field, 0)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise ProtocolViolation(f"INFO keyspace sent {name}:{field}={value}, not a whole number")


def merged_databases(per_node: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """INFO keyspace of several nodes as one: keys and expires summed, the average TTL
    weighted by each node's keys with an expiry."""
    merged: dict[str, dict[str, Any]] = {}
    for dbs in per_node:
        for db in dbs:
            row = merged.setdefault(db["db"], {"db": db["db"], "keys": 0, "expires": 0, "w": 0})
            row["keys"] += db["keys"]
            row["expires"] += db["expires"]
            row["w"] += db["avg_ttl_ms"] * db["expires"]
    out = []
    for row in merged.values():
        weight = row.pop("w")
        row["avg_ttl_ms"] = round(weight / row["expires"]) if row["expires"] else 0
        out.append(row)
    return out


# -- per key ---------------------------------------------------------------------------


def _key_lookups(ttls: list[Any], per_key: int) -> dict[str, Any]:
    """Lookups added by `per_key` reads of each key, from its TTL/PTTL reply: -2 (gone) is
    a miss each time; an error (an ACL rejected the commands) none; anything else hits."""
    from cachediag.clients.resp import ReplyError
    from cachediag.scan.lookups import Lookups

    lookups = Lookups()
    for ttl in ttls:
        if isinstance(ttl, ReplyError):
            continue
        if ttl == -2:
            lookups.add(misses=per_key)
        else:
            lookups.add(hits=per_key)
    return lookups.to_dict()


def redis_keys(
    client: Any, keys: list[str], lookups_added: dict[str, Any] | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    """TTL, TYPE and MEMORY USAGE of each key in one round trip, and why MEMORY was refused.

    `lookups_added` receives what TTL and TYPE added to keyspace_hits/misses.
    """

    lookups_added = {} if lookups_added is None else lookups_added

    raw = [key.encode("utf-8", "surrogateescape") for key in keys]
    commands: list[tuple[Any, ...]] = []
    for key in raw:
        commands += key_commands(key)
    replies = client.pipeline(commands)
    rows, memory_reason = [], None
    lookups_added.update(_key_lookups([replies[i * 3] for i in range(len(raw))], per_key=2))
    for index, key in enumerate(raw):
        row, refused = key_row(key, replies[index * 3 : index * 3 + 3])
        memory_reason = memory_reason or refused
        rows.append(row)
    return rows, memory_reason


def key_commands(key: bytes) -> list[tuple[Any, ...]]:
    """What `ttl KEY` asks of a key: TTL, TYPE and MEMORY USAGE."""
    return [("TTL", key), ("TYPE", key), ("MEMORY", "USAGE", key)]


def key_row(key: bytes, replies: list[Any]) -> tuple[dict[str, Any], str | None]:
    """A key's row from the replies to key_commands, and why MEMORY USAGE was refused."""
    from cachediag.clients.resp import ReplyError

    ttl, kind, memory = replies
    if isinstance(ttl, ReplyError):
        raise ServerRefused(f"TTL failed: {ttl.text}")
    memory_reason = None
    if isinstance(memory, ReplyError):
        memory_reason = memory.text
        memory = None
    ttl = int(ttl)
    row = {
        "key": safe_text(key),
        "ttl": ttl,
        "type": kind.decode() if isinstance(kind, bytes) and ttl != -2 else None,
        "memory_bytes": memory if isinstance(memory, int) else None,
        "reading": reading(ttl),
    }
    return row, memory_reason


def redis_nodes_keys_part(nodes: list[Target], timeout: float, keys: list[str]) -> dict[str, Any]:
    """`ttl KEY...` over a cluster: each key asked of the node owning its slot (MOVED and
    ASK followed), each row naming that node."""
    from cachediag.keyspace.routing import SlotRouter

    rows, memory_reason, ttls = [], None, []
    with SlotRouter(nodes, timeout) as router:
        for key in keys:
            raw = key.encode("utf-8", "surrogateescape")
            node, replies = router.pipeline(raw, key_commands(raw))
            row, refused = key_row(raw, replies)
            memory_reason = memory_reason or refused
            ttls.append(replies[0])
            rows.append({**row, "node": node.address})
        redirects = router.redirects
    part: dict[str, Any] = {"keys": rows, "lookups_added": _key_lookups(ttls, per_key=2)}
    notes = []
    if memory_reason:
        notes.append(f"MEMORY USAGE is unavailable: {memory_reason}")
    if redirects:
        notes.append(
            f"{redirects} MOVED/ASK redirection(s) followed: slots are moving between nodes"
        )
    if notes:
        part["notes"] = notes
    return part


def keys_report_group(group: Group, timeout: float, keys: list[str]) -> dict[str, Any]:
    if group.system is None:
        return keys_report(group.nodes[0], timeout, keys)
    return keys_report_nodes(group, timeout, keys)


def keyspace_report_group(
    group: Group, timeout: float, max_keys: int, pattern: str | None, judge: Judge
) -> dict[str, Any]:
    if group.system is None:
        return keyspace_report(group.nodes[0], timeout, max_keys, pattern, judge)
    return keyspace_report_nodes(group, timeout, max_keys, pattern, judge)


def keys_report_nodes(group: Group, timeout: float, keys: list[str]) -> dict[str, Any]:
    """`ttl KEY...` for a cluster, as one row."""
    from cachediag.backends import backend_for

    target = group.target
    row = target_row(target)
    row["mode"] = "keys"
    try:
        row.update(backend_for(target).ttl_keys_nodes(group.nodes, timeout, keys))
    except ProbeError as error:
        return mark_error(row, target, error)
    return row


def memcached_key(client: Any, key: str) -> dict[str, Any]:
    """`mg KEY t s`: remaining TTL and value length (a get in the server's stats); `me KEY`:
    the item's size in its slab."""
    from cachediag.clients.memcache_text import is_text_key

    raw = key.encode("utf-8", "surrogateescape")
    row: dict[str, Any] = {"key": safe_text(key), "ttl": None, "type": None, "memory_bytes": None}
    if not is_text_key(raw):
        row["reading"] = "not a valid Memcached key (1-250 bytes, no spaces or control characters)"
        return row
    found = client.meta_ttl(raw)
    if found is None:
        row.update(ttl=-2, reading=reading(-2))
        return row
    ttl, size = found
    row.update(ttl=ttl, type="item", value_bytes=size, reading=reading(ttl))
    row.update(memcached_item_size(client, raw))
    return row


def memcached_item_size(client: Any, raw: bytes) -> dict[str, Any]:
    """The item's bytes in its slab chunk and its class (`me`), the size bigkeys shows.

    `mg ... s` gives the value's length only; what the item takes is key, value and
    header, as metadump reports it. `memory_bytes` carries that one meaning for both
    kinds (MEMORY USAGE on Redis). A server without `me` leaves it unknown, said so.
    """
    try:
        item = client.meta_debug(raw)
    except ServerRefused as error:
        return {"memory_bytes": None, "slab_class": None, "size_note": error.message}
    if item is None:  # gone between the two commands
        return {"memory_bytes": None, "slab_class": None}
    return {"memory_bytes": item.get("size"), "slab_class": item.get("cls")}


def redis_keys_part(target: Target, timeout: float, keys: list[str]) -> dict[str, Any]:
    """The Redis part of a keys row: the keys, and a note when MEMORY USAGE was refused."""
    from cachediag.clients.resp import RedisClient

    part: dict[str, Any] = {"lookups_added": {"hits": 0, "misses": 0, "exact": True}}
    with RedisClient(target, timeout).connect() as client:
        client.timed_ping()
        part["keys"], memory_reason = redis_keys(client, keys, part["lookups_added"])
    if memory_reason:
        part["notes"] = [f"MEMORY USAGE is unavailable: {memory_reason}"]
    return part


def memcached_keys_part(target: Target, timeout: float, keys: list[str]) -> dict[str, Any]:
    from cachediag.clients.memcache_text import MemcachedClient

    with MemcachedClient(target, timeout).connect() as mc:
        mc.version()
        part: dict[str, Any] = {"keys": [memcached_key(mc, key) for key in keys]}
    # Each mg is a get: a hit, or a miss for a key that is not there (ttl -2).
    part["lookups_added"] = _key_lookups(
        [k["ttl"] for k in part["keys"] if k.get("ttl") is not None], per_key=1
    )
    size_notes = {note for key in part["keys"] if (note := key.pop("size_note", None))}
    if size_notes:
        part["notes"] = [f"item sizes are unavailable ({'; '.join(sorted(size_notes))})"]
    return part


def keys_report(target: Target, timeout: float, keys: list[str]) -> dict[str, Any]:
    from cachediag.backends import backend_for

    row = target_row(target)
    row["mode"] = "keys"
    try:
        row.update(backend_for(target).ttl_keys(target, timeout, keys))
    except ProbeError as error:
        return mark_error(row, target, error)
    return row


# -- over the keyspace -----------------------------------------------------------------


def redis_sample(
    client: Any,
    max_keys: int,
    pattern: str | None,
    progress: Progress | None = None,
    lookups: Lookups | None = None,
) -> tuple[list[tuple[str, float]], bool]:
    """(key, remaining seconds or -1) of at most `max_keys` keys; did SCAN go all the way?

    `lookups` receives what the PTTLs added to keyspace_hits/misses, even when the scan
    ends in an error.
    """
    from cachediag.scan.redis import KeyInfo, ScanOptions, scan_keyspace

    items: list[tuple[str, float]] = []
    if max_keys <= 0:
        return items, False
    options = ScanOptions(
        count=SCAN_COUNT,
        match=pattern,
        max_keys=max_keys,
        exact_sample=True,
        # PTTL is all a TTL report needs: one command a key, no MEMORY USAGE, no types.
        use_memory=False,
        with_type=False,
        # With a sparse MATCH most SCAN calls return nothing: bound the calls too, not just
        # the keys kept, so a pattern over a huge keyspace still ends (about 1M keys looked
        # at for the default 10,000).
        max_batches=max(SCAN_CALLS_MIN, max_keys // 10),
    )

    def add(infos: list[KeyInfo]) -> None:
        items.extend(
            (key_text(info.key), -1 if info.ttl_ms == -1 else info.ttl_ms / 1000) for info in infos
        )

    result = scan_keyspace(client, options, add, progress)
    if lookups is not None:
        lookups.add(hits=result.lookups.hits, misses=result.lookups.misses)
        lookups.exact = lookups.exact and result.lookups.exact
    if result.stop_reason == "interrupted":
        raise KeyboardInterrupt  # the report is per target, all or nothing, as before
    if result.failure is not None:
        raise result.failure  # SCAN refused (a note), or the server lost (the target down)
    return items, result.complete


def memcached_sample(
    client: Any,
    max_keys: int,
    pattern: str | None,
    progress: Progress | None = None,
    max_seconds: float | None = None,
) -> tuple[list[tuple[str, float]], bool, int]:
    """A sample of the items, each slab class its share; exp made relative to the server's
    clock. Returns (key, remaining seconds or -1) of those matching `pattern`, whether the
    sample is every item, and how many items it took."""
    from cachediag.scan.memcached import sample_items

    found, result = sample_items(client, max_keys, max_seconds=max_seconds, progress=progress)
    now = result.server_time
    items: list[tuple[str, float]] = []
    for item in found:
        key = key_text(item.key)
        if pattern and not fnmatch.fnmatchcase(key, pattern):
            continue
        items.append((key, -1 if item.exp == -1 else max(0.0, item.exp - now)))
    return items, result.complete, len(found)


@dataclass
class TtlSample:
    """What one kind's keyspace sample gives the report."""

    items: list[tuple[str, float]]
    complete: bool
    facts: dict[str, Any]  # what the shared ttl rule judges
    databases: list[dict[str, Any]] | None = None  # INFO keyspace, where the kind has it
    notes: list[str] = field(default_factory=list)
    # What the sample's reads added to the server's hit/miss counters.
    lookups_added: dict[str, Any] = field(
        default_factory=lambda: {"hits": 0, "misses": 0, "exact": True}
    )


def keyspace_report(
    target: Target,
    timeout: float,
    max_keys: int,
    pattern: str | None,
    judge: Judge,
    progress: Progress | None = None,
) -> dict[str, Any]:
    from cachediag.backends import backend_for

    backend = backend_for(target)
    row = target_row(target)
    row["mode"] = "keyspace"
    row["max_keys"] = max_keys
    row["pattern"] = pattern
    try:
        sample = backend.ttl_sample(target, timeout, max_keys, pattern, progress)
    except ProbeError as error:
        return mark_error(row, target, error)
    if sample.databases is not None:
        row["databases"] = sample.databases
    row.update(summarize(sample.items))
    row["complete"] = sample.complete
    row["verdict"] = judge(f"{backend.kind}.ttl", sample.facts)
    row["notes"] = sample.notes
    row["lookups_added"] = sample.lookups_added
    return row


def keyspace_report_nodes(
    group: Group,
    timeout: float,
    max_keys: int,
    pattern: str | None,
    judge: Judge,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """The keyspace report of a cluster: every primary (and replica, with --replicas)
    sampled at once (the key budget shared), the samples merged into one row, each node's
    share in `nodes`."""
    from cachediag.backends import backend_for
    from cachediag.keyspace.fleet import on_nodes, share

    target = group.target
    backend = backend_for(target)
    row = target_row(target)
    row.update(mode="keyspace", max_keys=max_keys, pattern=pattern)
    per_node = share(max_keys, len(group.nodes))

    def one(node: Target, meter: Progress | None) -> tuple[TtlSample | ProbeError, float]:
        started = time.monotonic()
        try:
            sample: TtlSample | ProbeError = backend.ttl_sample(
                node, timeout, per_node, pattern, meter
            )
        except ProbeError as error:
            sample = error
        return sample, time.monotonic() - started

    timed = on_nodes(group.nodes, one, progress)
    samples = [sample for sample, _ in timed]
    items: list[tuple[str, float]] = []
    notes: list[str] = []
    lookups = Lookups()
    node_rows = []
    for node, (sample, elapsed) in zip(group.nodes, timed, strict=True):
        base = {"target": node.name, "role": node.role, "elapsed_s": round(elapsed, 3)}
        if isinstance(sample, ProbeError):
            node_rows.append({**base, "status": "down", "keys": 0, "error": sample.to_dict()})
            notes.append(f"{node.address} could not be read: {sample.message}")
            continue
        items += sample.items
        notes += [f"{node.address}: {note}" for note in sample.notes]
        added = sample.lookups_added
        lookups.add(hits=added.get("hits", 0), misses=added.get("misses", 0))
        node_rows.append(
            {**base, "status": "up", "keys": len(sample.items), "complete": sample.complete}
        )
    readable = [s for s in samples if not isinstance(s, ProbeError)]
    if not readable:
        return mark_error(row, target, next(s for s in samples if isinstance(s, ProbeError)))
    per_db = [s.databases for s in readable if s.databases is not None]
    if per_db:
        row["databases"] = merged_databases(per_db)
    row.update(summarize(items))
    row["complete"] = all(s.complete for s in readable) and len(readable) == len(samples)
    row["verdict"] = judge(f"{backend.kind}.ttl", sample_facts(items))
    row["notes"] = notes
    row["lookups_added"] = lookups.to_dict()
    row["nodes"] = node_rows
    if group.skipped:
        row["replicas_skipped"] = group.skipped
    return row


def redis_keyspace(
    target: Target,
    timeout: float,
    max_keys: int,
    pattern: str | None,
    progress: Progress | None = None,
) -> TtlSample:
    from cachediag.clients.resp import RedisClient, ReplyError
    from cachediag.probes.info import parse_info

    with RedisClient(target, timeout).connect() as client:
        client.timed_ping()
        if target.role == "replica":
            # A cluster replica answers PTTL of its own keys only after READONLY (else
            # MOVED to its primary); a replica outside a cluster says no, harmlessly.
            client.call("READONLY")
        info_reply = client.call("INFO", "keyspace")
        info = {} if isinstance(info_reply, ReplyError) else parse_info(info_reply)
        dbs = databases(info.get("keyspace") or {})
        lookups = Lookups()
        try:
            items, complete = redis_sample(client, max_keys, pattern, progress, lookups)
        except ScanRefused as exc:  # SCAN refused by an ACL: up, but unreadable
            return TtlSample(
                [],
                False,
                {"kind": "redis", "info": None, "sample": {"error": str(exc), "keys": []}},
                dbs,
                [str(exc)],
                lookups.to_dict(),
            )
    notes = []
    if pattern and not complete and len(items) < max_keys:
        notes.append(
            "SCAN stopped before the end of the keyspace: "
            f"{plural(len(items), 'key')} matched {pattern} so far "
            "(raise --max-keys to look further)"
        )
    if dbs and len(dbs) > 1:
        notes.append(
            f"the sample covers db{target.db} only; the per-database figures cover them all"
        )
    if pattern:
        # With a pattern the verdict is about the matching keys, not the whole keyspace.
        return TtlSample(items, complete, sample_facts(items), dbs, notes, lookups.to_dict())
    facts = {
        "kind": "redis",
        "info": info or None,
        "sample": {
            "keys": [
                {"key": key, "ttl_ms": -1 if ttl < 0 else int(ttl * 1000)} for key, ttl in items
            ]
        },
    }
    return TtlSample(items, complete, facts, dbs, notes, lookups.to_dict())


def sample_facts(items: list[tuple[str, float]], error: str | None = None) -> dict[str, Any]:
    """Facts that make the shared ttl rule judge a key sample alone.

    redis.ttl and memcached.ttl are one rule: given Redis facts it counts INFO keyspace,
    given Memcached facts it counts the sampled items. This is the second shape.
    """
    keys = [{"key": key, "exp": -1 if ttl < 0 else 0} for key, ttl in items]
    return {"kind": "memcached", "sample": {"keys": keys, "error": error}}


def memcached_keyspace(
    target: Target,
    timeout: float,
    max_keys: int,
    pattern: str | None,
    progress: Progress | None = None,
) -> TtlSample:
    from cachediag.clients.memcache_text import MemcachedClient

    with MemcachedClient(target, timeout).connect() as client:
        client.version()
        try:
            # The timeout bounds the crawl, as the check's sample: a slow dump, a smaller sample.
            items, complete, sampled = memcached_sample(
                client, max_keys, pattern, progress, max_seconds=timeout
            )
        except ServerRefused as error:
            # The crawler is off (-o no_lru_crawler) or busy: no sample, but the target is up.
            reason = (
                error.message
                if isinstance(error, CrawlerUnavailable)
                else f"lru_crawler metadump failed: {error.message}"
            )
            return TtlSample([], False, sample_facts([], reason), notes=[reason])
    notes = []
    if pattern:
        notes.append(
            f"metadump has no pattern: {sampled} items read, {len(items)} matched {pattern}"
        )
    return TtlSample(items, complete, sample_facts(items), notes=notes)
