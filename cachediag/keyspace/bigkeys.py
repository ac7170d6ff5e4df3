"""`bigkeys` for one target: scan within the budget, accumulate, return the JSON-ready row.

Redis: TYPE, MEMORY USAGE, length and TTL of every key in one scan (redis-cli needs
--bigkeys and --memkeys, two scans, for the same). Memcached: the crawler's metadump,
with the slab classes the items sit in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cachediag.clients.memcache_text import MemcachedClient, stat_int
from cachediag.clients.resp import RedisClient
from cachediag.errors import ProbeError, ServerRefused
from cachediag.keyspace.keystats import KeyStats
from cachediag.probes.rows import mark_error, target_row
from cachediag.safety.textsafe import safe_text
from cachediag.scan.memcached import CrawlOptions, ItemBlock, crawl
from cachediag.scan.redis import Progress, ScanOptions, scan_keyspace
from cachediag.targets.target import Target


@dataclass(frozen=True)
class BigkeysRequest:
    top: int
    namespaces: int
    scan: ScanOptions
    crawl: CrawlOptions


def run(
    target: Target, timeout: float, request: BigkeysRequest, progress: Progress | None
) -> dict[str, Any]:
    from cachediag.backends import backend_for

    row = target_row(target)
    try:
        row.update(backend_for(target).bigkeys(target, timeout, request, progress))
    except ProbeError as error:
        mark_error(
            row, target, error if isinstance(error, ProbeError) else ServerRefused(str(error))
        )
    return row


def redis_bigkeys(
    target: Target, timeout: float, request: BigkeysRequest, progress: Progress | None
) -> dict[str, Any]:
    stats = KeyStats(top=request.top)
    with RedisClient(target, timeout).connect() as client:
        result = scan_keyspace(client, request.scan, stats.add_redis, progress)
    document = stats.to_dict(namespace_limit=request.namespaces)
    if result.memory_available:
        size_source = "MEMORY USAGE"
    else:
        size_source = (
            f"estimated from lengths: MEMORY USAGE unavailable ({result.memory_reason}); "
            "strings count their bytes, collections 16 bytes per element"
        )
    return {
        "scan": result.to_dict(),
        "complete": result.complete,
        "stop_reason": result.stop_reason,
        "error": result.stop_error(),
        "resume_cursor": None if result.complete else str(result.cursor),
        "size_source": size_source,
        "pattern": safe_text(request.scan.match) if request.scan.match else None,
        "lookups_added": result.lookups.to_dict(),
        **document,
    }


def memcached_bigkeys(
    target: Target, timeout: float, request: BigkeysRequest, progress: Progress | None
) -> dict[str, Any]:
    stats = KeyStats(top=request.top)
    classes: dict[int, list[int]] = {}
    server_time = 0

    def add(items: ItemBlock) -> None:
        stats.add_memcached(items, server_time, classes)

    client = MemcachedClient(target, timeout).connect()
    try:
        slabs = client.stats("slabs")
        server_time = stat_int(client.stats(), "time") or 0
        result = crawl(client, request.crawl, add, progress)
    finally:
        client.close()
    document = stats.to_dict(namespace_limit=request.namespaces)
    return {
        "scan": result.to_dict(),
        "complete": result.complete,
        "stop_reason": result.stop_reason,
        "resume_cursor": None,
        "size_source": "item size (key, value and item header, as the slab stores it)",
        "pattern": safe_text(request.crawl.match) if request.crawl.match else None,
        # The crawler's metadump reads items without a get: the counters do not move.
        "lookups_added": {"hits": 0, "misses": 0, "exact": True},
        **document,
        "slab_classes": slab_rows(classes, slabs),
    }


def slab_rows(classes: dict[int, list[int]], slabs: dict[str, str]) -> list[dict[str, Any]]:
    """Per slab class: items seen, their bytes, the chunk size and the bytes lost to rounding up."""
    rows = []
    for cls in sorted(classes):
        items, size = classes[cls]
        chunk = stat_int(slabs, f"{cls}:chunk_size") or 0
        rows.append(
            {
                "class": cls,
                "chunk_size": chunk or None,
                "items": items,
                "bytes": size,
                "average_bytes": round(size / items) if items else 0,
                # Items larger than slab_chunk_max span several chunks: no rounding to count.
                "slack_bytes": max(0, items * chunk - size) if chunk else None,
                "total_pages": stat_int(slabs, f"{cls}:total_pages") or 0,
            }
        )
    return rows
