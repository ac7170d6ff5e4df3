"""Collect the facts of one Memcached target. Read-only.

Facts: the common ones (see probes/common.py) plus
  version, stats, settings, slabs, items   (`stats`, `stats settings|slabs|items`, typed)
  sample: keys [{key, exp, la, size, cls, fetch, head_hex}], complete, max_keys,
          crawler (true/false), error; each slab class its share of the keys (see
          scan/memcached.py sample_items), so that the sample stands for the keyspace
"""

from __future__ import annotations

from typing import Any

from cachediag.clients.memcache_text import MemcachedClient
from cachediag.errors import CrawlerUnavailable, ProbeError, ServerSaturated
from cachediag.probes.common import PING_SAMPLES, base_facts, mark_down, mark_saturated
from cachediag.probes.facts import MemcachedFacts
from cachediag.probes.info import stats_numbers
from cachediag.safety.textsafe import key_fields
from cachediag.scan.memcached import Item, class_counts, sample_items
from cachediag.scan.redis import VALUE_HEAD_BYTES
from cachediag.targets.target import Target

# Values fetched to validate cache-kit envelopes: enough to judge, small enough to be gentle.
VALUE_SAMPLE = 100
VALUE_SIZE_LIMIT = 64 * 1024


def collect(target: Target, timeout: float, sample_keys: int = 1000) -> MemcachedFacts:
    facts = base_facts(target)
    client = MemcachedClient(target, timeout)
    try:
        client.connect()
    except ProbeError as error:
        return mark_down(facts, error, "connect")
    facts["connect"] = {"ok": True, "error": None, **client.info.to_dict()}
    try:
        with client:
            facts["version"] = client.version()
            samples: list[int] = []
            facts["ping"]["samples_us"] = samples
            for _ in range(PING_SAMPLES):
                samples.append(client.timed_noop())
                # Up from the first answer: a probe cut short later (its whole deadline)
                # is a server that answers, with what it told so far.
                facts["ping"]["ok"] = True
                facts["status"] = "up"
            facts["stats"] = stats_numbers(client.stats())
            for group in ("settings", "slabs", "items"):
                try:
                    facts[group] = stats_numbers(client.stats(group))
                except ProbeError as error:
                    facts[group] = None
                    facts["errors"][group] = error.message
            _collect_sample(client, facts, sample_keys)
    except ProbeError as error:
        if isinstance(error, ServerSaturated) and facts["status"] != "up":
            return mark_saturated(facts, error)
        if facts["status"] != "up":
            return mark_down(facts, error, "ping")
        facts["errors"]["probe"] = error.message
    return facts


def _collect_sample(client: MemcachedClient, facts: dict[str, Any], sample_keys: int) -> None:
    crawler = str((facts.get("settings") or {}).get("lru_crawler", "")).lower() in ("yes", "true")
    sample: dict[str, Any] = {
        "keys": [],
        "complete": False,
        "max_keys": sample_keys,
        "crawler": crawler,
        "error": None,
    }
    facts["sample"] = sample
    if sample_keys <= 0:
        return
    if not crawler:
        sample["error"] = "the LRU crawler is disabled (memcached -o no_lru_crawler): no key sample"
        return
    items: list[Item] = []
    counts = class_counts(facts.get("items") or {})
    try:
        # The crawl's own time budget is the timeout: a slow dump gives a smaller sample.
        items, result = sample_items(client, sample_keys, counts=counts, max_seconds=client.timeout)
        sample["complete"] = result.complete
    except CrawlerUnavailable as error:  # disabled, busy, refused: the sentence says which
        sample["error"] = error.message
    except ProbeError as error:
        sample["error"] = f"lru_crawler metadump failed: {error.message}"
    heads, asked = _value_heads(client, items)
    # Each value read is a get: a get_hit, or a get_miss for an item that expired or was
    # evicted since the crawl listed it.
    sample["own_lookups"] = asked
    sample["lookups_added"] = {"hits": len(heads), "misses": asked - len(heads), "exact": True}
    sample["keys"] = [
        {
            "exp": item.exp,
            "la": item.la,
            "cas": item.cas,
            "fetch": item.fetch,
            "cls": item.cls,
            "size": item.size,
            **key_fields(item.key),
            "head_hex": heads[item.key][0].hex() if item.key in heads else None,
            "length": heads[item.key][1] if item.key in heads else None,
        }
        for item in items
    ]


def _value_heads(
    client: MemcachedClient, items: list[Item]
) -> tuple[dict[bytes, tuple[bytes, int]], int]:
    """First bytes of a bounded number of small values, for envelope validation, and how
    many keys were asked for (each one a get in the server's counters)."""
    wanted = [item.key for item in items if item.key and item.size <= VALUE_SIZE_LIMIT][
        :VALUE_SAMPLE
    ]
    if not wanted:
        return {}, 0
    fetcher = MemcachedClient(client.target, client.timeout)
    try:
        with fetcher.connect():
            values = {key: found[0] for key, found in fetcher.meta_get(wanted).items()}
    except ProbeError:
        return {}, 0
    heads = {key: (value[:VALUE_HEAD_BYTES], len(value)) for key, value in values.items()}
    return heads, len(wanted)
