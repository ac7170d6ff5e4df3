"""`inspect KEY`: what a named key's namespace and whole value add to its envelope verdict.

Two readings the key's first bytes cannot give:

- Its namespace. A value without the magic is a damaged cache-kit entry when cache-kit
  entries live beside it, and someone else's data when none does (keyspace.classify:
  the same rule as the sample's). The other named keys of the namespace are looked at
  first; without a cache-kit entry among them, a few neighbours are: a bounded
  SCAN MATCH (Redis) or crawl (Memcached), then the first bytes of what it found.
- Its payload, when an entity layout is configured: the value is read whole (bounded,
  keyspace.whole_values) and decoded field by field (keyspace.entities).

Both are reads the server counts as lookups; the row says how many were made.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from cachediag.clients.memcache_text import MemcachedClient
from cachediag.clients.resp import RedisClient
from cachediag.errors import ProbeError
from cachediag.keyspace import classify
from cachediag.keyspace import entities as ent
from cachediag.keyspace.entities import Entities
from cachediag.keyspace.envelope import MAGIC
from cachediag.keyspace.payload_survey import ValueReader
from cachediag.keyspace.whole_values import memcached_reader, redis_reader
from cachediag.targets.target import Target

NEIGHBOURS = 20  # neighbours read per namespace
NEIGHBOUR_SCAN_CALLS = 10  # SCAN ... COUNT 1000 calls per namespace: ~10,000 keys visited
NEIGHBOUR_SCAN_COUNT = 1000
NEIGHBOUR_CRAWL_SECONDS = 2.0
NEIGHBOUR_FETCH_LIMIT = 64 * 1024  # Memcached neighbours are fetched whole: small ones only
_GLOB_SPECIAL = re.compile(r"([\\*?\[\]])")
_UNSCANNABLE = ("(no namespace)", "(other namespaces)")


def namespace_glob(namespace: str, delimiter: str = ":") -> str | None:
    """A SCAN MATCH glob for the keys of `namespace` (`user:*` -> `user:*`), literal segments
    escaped; None for a namespace that is not a key prefix pattern."""
    if namespace in _UNSCANNABLE or namespace.endswith("…") or not delimiter:
        return None
    segments = namespace.split(delimiter)
    return delimiter.join(
        "*" if segment == "*" else _GLOB_SPECIAL.sub(r"\\\1", segment) for segment in segments
    )


def _fnmatch_glob(namespace: str, delimiter: str) -> str | None:
    """The same pattern for fnmatch (the crawler's filter), which escapes with brackets."""
    if namespace in _UNSCANNABLE or namespace.endswith("…") or not delimiter:
        return None
    escape = re.compile(r"([*?\[])")
    return delimiter.join(
        "*" if segment == "*" else escape.sub(r"[\1]", segment)
        for segment in namespace.split(delimiter)
    )


class _Reads:
    """The lookups this step adds to the server's counters."""

    def __init__(self) -> None:
        self.whole = 0
        self.neighbours = 0


def enrich_keys(
    row: dict[str, Any],
    target: Target,
    timeout: float,
    keys: list[bytes],
    entities: Entities | None,
    delimiter: str = ":",
) -> None:
    """Complete the envelope verdict of each named key in `row` (in place)."""
    if row.get("status") != "up" or row.get("mode") != "keys":
        return
    named = [
        (raw, key)
        for raw, key in zip(keys, row.get("keys") or [], strict=False)
        if key.get("exists") and key.get("envelope")
    ]
    if not named or not _has_work(named, entities):
        return
    from cachediag.backends import backend_for

    reads = _Reads()
    try:
        backend_for(target).key_evidence(target, timeout, named, entities, reads, delimiter)
    except ProbeError as error:
        row["evidence_error"] = error.message
    row["values_read_whole"] = reads.whole
    row["neighbours_read"] = reads.neighbours


Look = Callable[[str, set[bytes]], dict[str, Any]]
Named = list[tuple[bytes, dict[str, Any]]]


def redis_evidence(
    target: Target,
    timeout: float,
    named: Named,
    entities: Entities | None,
    reads: _Reads,
    delimiter: str,
) -> None:
    with RedisClient(target, timeout).connect() as client:
        neighbours = _RedisNeighbours(client, delimiter)
        _judge(named, entities, redis_reader(client), reads, neighbours.look, delimiter)


def memcached_evidence(
    target: Target,
    timeout: float,
    named: Named,
    entities: Entities | None,
    reads: _Reads,
    delimiter: str,
) -> None:
    with MemcachedClient(target, timeout).connect() as mc:

        def look(namespace: str, exclude: set[bytes]) -> dict[str, Any]:
            return _memcached_neighbours(target, timeout, namespace, delimiter, exclude)

        _judge(named, entities, memcached_reader(mc), reads, look, delimiter)


def _has_work(named: list[tuple[bytes, dict[str, Any]]], entities: Entities | None) -> bool:
    """Whether any verdict needs a reading: a value without the magic, or a payload to decode.
    Nothing to read, no connection opened."""
    envelopes = [key["envelope"] for _, key in named]
    if any(env["verdict"] == classify.NOT_CACHE_KIT for env in envelopes):
        return True
    return bool(entities) and any(env["state"] == "valid" for env in envelopes)


def _judge(
    named: list[tuple[bytes, dict[str, Any]]],
    entities: Entities | None,
    reader: ValueReader,
    reads: _Reads,
    look: Look,
    delimiter: str,
) -> None:
    _payloads(named, entities, reader, reads, delimiter)
    by_namespace: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for _raw, key in named:
        by_namespace[key["namespace"]].append(key)
    for namespace, members in by_namespace.items():
        lonely = [key for key in members if key["envelope"]["verdict"] == classify.NOT_CACHE_KIT]
        if not lonely:
            continue
        carrying = [key for key in members if key["envelope"]["magic_valid"]]
        if carrying:
            evidence: dict[str, Any] = {
                "source": "named keys",
                "looked_at": len(members) - len(lonely),
                "cache_kit_entries": len(carrying),
            }
        else:
            evidence = look(namespace, {raw for raw, key in named if key["namespace"] == namespace})
            reads.neighbours += evidence.pop("reads", 0)
        evidence["namespace"] = namespace
        for key in lonely:
            env = key["envelope"]
            env["namespace_evidence"] = evidence
            if evidence.get("cache_kit_entries"):
                env["cache_kit"] = True
                env["verdict"] = classify.INVALID_MAGIC


def _payloads(
    named: list[tuple[bytes, dict[str, Any]]],
    entities: Entities | None,
    reader: ValueReader,
    reads: _Reads,
    delimiter: str,
) -> None:
    if not entities:
        return
    wanted: list[tuple[bytes, dict[str, Any], ent.Entity]] = []
    for raw, key in named:
        env = key["envelope"]
        entity = entities.match(key["key"], key["namespace"], delimiter)
        if entity is None or env["state"] != "valid":
            continue
        length = key.get("length")
        preview = bytes.fromhex(env.get("hex_preview") or "")
        if length is not None and len(preview) >= length:
            _decoded(env, ent.decode_entry(entity, preview))  # the preview is the whole value
            continue
        if length is None or length >= ent.WHOLE_VALUE_LIMIT:
            size = "unknown size" if length is None else f"{length:,} bytes"
            env["payload"] = ent.not_read(
                entity,
                f"value of {size}: not under the {ent.WHOLE_VALUE_LIMIT // 1024} KiB read bound",
            )
            continue
        wanted.append((raw, key, entity))
    if not wanted:
        return
    try:
        values = reader([raw for raw, _, _ in wanted])
    except ProbeError as error:
        for _raw, key, entity in wanted:
            outcome = ent.not_read(entity, f"could not be read whole: {error.message}")
            key["envelope"]["payload"] = {**outcome, "error": True}
        return
    reads.whole += len(wanted)
    for raw, key, entity in wanted:
        value = values.get(raw)
        env = key["envelope"]
        if value is None or len(value) >= ent.WHOLE_VALUE_LIMIT:
            env["payload"] = ent.not_read(entity, "gone, or grown past the read bound, meanwhile")
            continue
        _decoded(env, ent.decode_entry(entity, value))


def _decoded(env: dict[str, Any], outcome: dict[str, Any]) -> None:
    env["payload"] = outcome
    if outcome["state"] == ent.BROKEN:
        env["verdict"] = classify.UNDECODABLE


class _RedisNeighbours:
    """A few keys of a namespace and their first bytes: bounded SCAN MATCH, then GETRANGE 0 3."""

    def __init__(self, client: RedisClient, delimiter: str) -> None:
        self.client = client
        self.delimiter = delimiter

    def look(self, namespace: str, exclude: set[bytes]) -> dict[str, Any]:
        from cachediag.scan.redis import KeyInfo, ScanOptions, scan_keyspace

        glob = namespace_glob(namespace, self.delimiter)
        if glob is None:
            return {"source": "none", "looked_at": 0, "cache_kit_entries": 0}
        found: list[bytes] = []

        def add(infos: list[KeyInfo]) -> bool:
            found.extend(
                info.key
                for info in infos
                if info.key not in exclude and info.namespace == namespace
            )
            return len(found) >= NEIGHBOURS

        # SCAN alone (the engine's keys_only), a call at a time until enough neighbours.
        options = ScanOptions(
            count=NEIGHBOUR_SCAN_COUNT,
            match=glob,
            keys_only=True,
            max_batches=NEIGHBOUR_SCAN_CALLS,
            delimiter=self.delimiter,
        )
        try:
            result = scan_keyspace(self.client, options, add)
            if result.failure is not None:
                raise result.failure
            calls = result.batches
            found = list(dict.fromkeys(found))[:NEIGHBOURS]  # SCAN may return a key twice
            heads = (
                self.client.pipeline([("GETRANGE", key, 0, len(MAGIC) - 1) for key in found])
                if found
                else []
            )
        except ProbeError as error:
            return {
                "source": "neighbours",
                "looked_at": 0,
                "cache_kit_entries": 0,
                "error": error.message,
            }
        values = [head for head in heads if isinstance(head, bytes) and head]  # strings only
        return {
            "source": "neighbours",
            "looked_at": len(values),
            "cache_kit_entries": sum(1 for head in values if head.startswith(MAGIC)),
            "scan_calls": calls,
            "reads": len(found),
        }


def _memcached_neighbours(
    target: Target, timeout: float, namespace: str, delimiter: str, exclude: set[bytes]
) -> dict[str, Any]:
    from cachediag.scan.memcached import CrawlOptions, Item, crawl

    pattern = _fnmatch_glob(namespace, delimiter)
    if pattern is None:
        return {"source": "none", "looked_at": 0, "cache_kit_entries": 0}
    items: list[Item] = []
    options = CrawlOptions(
        max_keys=NEIGHBOURS + len(exclude),
        max_seconds=min(timeout, NEIGHBOUR_CRAWL_SECONDS),
        match=pattern,
        delimiter=delimiter,
    )
    try:
        client = MemcachedClient(target, timeout).connect()
        try:
            crawl(client, options, items.extend)
        finally:
            client.close()
        wanted = [
            item.key
            for item in items
            if item.key not in exclude
            and item.namespace == namespace
            and item.size <= NEIGHBOUR_FETCH_LIMIT
        ][:NEIGHBOURS]
        with MemcachedClient(target, timeout).connect() as getter:
            values = [value for value, _ttl, _flags in getter.meta_get(wanted).values()]
    except ProbeError as error:
        return {
            "source": "neighbours",
            "looked_at": 0,
            "cache_kit_entries": 0,
            "error": error.message,
        }
    return {
        "source": "neighbours",
        "looked_at": len(values),
        "cache_kit_entries": sum(1 for value in values if value.startswith(MAGIC)),
        "reads": len(wanted),
    }
