"""The full decode of the check's sampled cache-kit entries, where an entity layout is configured.

Runs after the targets were probed, on a connection of its own: the probe read the
first 64 bytes of each sampled value, which is the whole value for small entries; the
others (under WHOLE_VALUE_LIMIT by the length already read) are read whole here,
bounded (keyspace.whole_values). Each such read is a lookup the server counts, so it is
added to the sample's `own_lookups`, which `redis.hit_rate` reports.

Facts added (all JSON):
  sample.payloads:       entities (the layouts), values_read_whole, read_bound_bytes, read_error
  sample.keys[].payload: the outcome of keyspace.entities.decode_entry, for the entries of
                         an entity namespace whose header is valid
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from cachediag.errors import ProbeError
from cachediag.keyspace import entities as ent
from cachediag.keyspace.entities import Entities
from cachediag.keyspace.envelope import VALID, decode
from cachediag.keyspace.namespaces import namespace_of
from cachediag.keyspace.payload_survey import ValueReader
from cachediag.safety.textsafe import safe_text
from cachediag.targets.target import Target


def decode_sampled_payloads(
    target_facts: Sequence[Mapping[str, Any]],
    targets: list[Target],
    entities: Entities,
    timeout: float,
) -> None:
    """Add the payload outcomes to each up target's sample (in place), all targets at once."""
    if not entities:
        return
    pairs = [
        (facts, target)
        for facts, target in zip(target_facts, targets, strict=True)
        if facts.get("status") == "up" and (facts.get("sample") or {}).get("keys")
    ]
    if not pairs:
        return

    def work(pair: tuple[Mapping[str, Any], Target]) -> None:
        facts, target = pair
        try:
            _decode_one(facts, target, entities, timeout)
        except Exception as exc:  # noqa: BLE001 - one odd server must not abort the check
            payloads = facts["sample"].setdefault("payloads", {})
            payloads["read_error"] = f"{type(exc).__name__}: {exc}"

    with ThreadPoolExecutor(max_workers=min(8, len(pairs))) as pool:
        list(pool.map(work, pairs))


def _raw_key(text: str) -> bytes | None:
    """The key's bytes, when its fact text is exactly the key (nothing was escaped)."""
    if "\\" in text or safe_text(text) != text:
        return None
    return text.encode("utf-8", "surrogateescape")


def _decode_one(
    facts: Mapping[str, Any], target: Target, entities: Entities, timeout: float
) -> None:
    sample = facts["sample"]
    meta: dict[str, Any] = {
        "entities": entities.describe(),
        "values_read_whole": 0,
        "read_bound_bytes": ent.WHOLE_VALUE_LIMIT,
        "read_error": None,
    }
    sample["payloads"] = meta
    queued: list[tuple[bytes, dict[str, Any], ent.Entity]] = []
    budget = ent.MAX_WHOLE_BYTES
    for item in sample["keys"]:
        head_hex, key = item.get("head_hex"), item.get("key")
        if not head_hex or not isinstance(key, str):
            continue
        try:
            head = bytes.fromhex(head_hex)
        except ValueError:
            continue
        length = item.get("length")
        if decode(head, length).state != VALID:
            continue  # the header's verdict stands; there is no payload to speak of
        entity = entities.match(key, namespace_of(key))
        if entity is None:
            continue
        if isinstance(length, int) and len(head) >= length:
            item["payload"] = ent.decode_entry(entity, head)  # the head is the whole value
            continue
        raw = _raw_key(key)
        if not isinstance(length, int) or length >= ent.WHOLE_VALUE_LIMIT:
            size = "unknown size" if not isinstance(length, int) else f"{length:,} bytes"
            why = f"value of {size}: not under the {ent.WHOLE_VALUE_LIMIT // 1024} KiB read bound"
            item["payload"] = ent.not_read(entity, why)
        elif raw is None:
            item["payload"] = ent.not_read(entity, "its key name holds escaped bytes")
        elif len(queued) >= ent.MAX_WHOLE_READS or length > budget:
            why = f"over this run's budget of {ent.MAX_WHOLE_READS:,} whole-value reads"
            item["payload"] = ent.not_read(entity, why)
        else:
            budget -= length
            queued.append((raw, item, entity))
    if not queued:
        return
    try:
        values = _read(target, timeout, [raw for raw, _, _ in queued])
    except ProbeError as error:
        meta["read_error"] = error.message
        for _, item, entity in queued:
            item["payload"] = ent.not_read(entity, f"could not be read whole: {error.message}")
        return
    meta["values_read_whole"] = len(queued)
    if isinstance(sample.get("own_lookups"), int):
        sample["own_lookups"] += len(queued)  # each read is one more hit on the server
    if isinstance(sample.get("lookups_added"), dict):
        sample["lookups_added"]["hits"] += len(queued)
    for raw, item, entity in queued:
        value = values.get(raw)
        if value is None or len(value) >= ent.WHOLE_VALUE_LIMIT:
            item["payload"] = ent.not_read(entity, "gone, or grown past the read bound, meanwhile")
        else:
            item["payload"] = ent.decode_entry(entity, value)


def _read(
    target: Target, timeout: float, keys: list[bytes], batch: int = 100
) -> dict[bytes, bytes]:
    values: dict[bytes, bytes] = {}
    if target.kind == "memcached":
        from cachediag.clients.memcache_text import MemcachedClient
        from cachediag.keyspace.whole_values import memcached_reader

        with MemcachedClient(target, timeout).connect() as mc:
            _batched(memcached_reader(mc), keys, batch, values)
        return values
    from cachediag.clients.resp import RedisClient
    from cachediag.keyspace.whole_values import redis_reader

    with RedisClient(target, timeout).connect() as client:
        _batched(redis_reader(client), keys, batch, values)
    return values


def _batched(reader: ValueReader, keys: list[bytes], batch: int, into: dict[bytes, bytes]) -> None:
    for start in range(0, len(keys), batch):
        into.update(reader(keys[start : start + batch]))
