"""`bigkeys` for one target: scan within the budget, accumulate, return the JSON-ready row.

Redis: TYPE, MEMORY USAGE, length and TTL of every key in one scan (redis-cli needs
--bigkeys and --memkeys, two scans, for the same). Memcached: the crawler's metadump,
with the slab classes the items sit in.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from cachediag.clients.memcache_text import MemcachedClient, stat_int
from cachediag.clients.resp import RedisClient
from cachediag.errors import ProbeError, ServerRefused, UsageError
from cachediag.keyspace.fleet import Group
from cachediag.keyspace.keystats import KeyStats
from cachediag.probes.rows import mark_error, target_row
from cachediag.safety.textsafe import safe_text
from cachediag.scan.memcached import CrawlOptions, ItemBlock, crawl
from cachediag.scan.redis import Progress, ScanOptions, ScanResult, scan_keyspace
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


def run_nodes(
    group: Group, timeout: float, request: BigkeysRequest, progress: Progress | None
) -> dict[str, Any]:
    """`bigkeys` for a system's nodes (a cluster's primaries), as one row."""
    from cachediag.backends import backend_for

    target = group.target
    row = target_row(target)
    try:
        row.update(backend_for(target).bigkeys_nodes(group.nodes, timeout, request, progress))
    except ProbeError as error:
        mark_error(row, target, error)
    if group.skipped:
        row["replicas_skipped"] = group.skipped
    return row


def _redis_scan(
    target: Target, timeout: float, request: BigkeysRequest, progress: Progress | None
) -> tuple[KeyStats, ScanResult]:
    stats = KeyStats(top=request.top)
    with RedisClient(target, timeout).connect() as client:
        if target.role == "replica":
            # A cluster replica answers reads of its own keys only after READONLY (else
            # MOVED to the primary): the scan reads what this replica holds.
            client.call("READONLY")
        result = scan_keyspace(client, request.scan, stats.add_redis, progress)
    return stats, result


def redis_bigkeys(
    target: Target, timeout: float, request: BigkeysRequest, progress: Progress | None
) -> dict[str, Any]:
    stats, result = _redis_scan(target, timeout, request, progress)
    return _redis_row(stats, result, request)


def redis_nodes_bigkeys(
    nodes: list[Target], timeout: float, request: BigkeysRequest, progress: Progress | None
) -> dict[str, Any]:
    """A cluster's nodes scanned at once, the key budget shared, the results merged: one
    row, each top key named by its node, and `nodes` saying what each node gave."""
    from cachediag.keyspace.fleet import in_processes, merged_scan, share, summed_lookups
    from cachediag.keyspace.fleet import node_rows as fleet_rows

    if request.scan.cursor:
        raise UsageError(
            "--cursor resumes one server's scan; a cluster is scanned on every node at once "
            "(each node's cursor is in the JSON's nodes): drop --cursor"
        )
    options = dataclasses.replace(
        request.scan, max_keys=share(request.scan.max_keys, len(nodes)), cursor=0
    )
    node_request = dataclasses.replace(request, scan=options)

    jobs = [(node, timeout, node_request) for node in nodes]
    outcomes = in_processes(_node_scan, jobs, progress)
    node_rows, read = fleet_rows(
        nodes, outcomes, lambda stats, _: stats.keys, lambda result: result.stop_error()
    )
    merged = KeyStats(top=request.top)
    for node, stats, _ in read:
        merged.merge(stats, node.address)
    scans = [result for _, _, result in read]
    row = _redis_row(merged, scans[0], request)
    scan = merged_scan([result.to_dict() for result in scans])
    lookups = summed_lookups(scans).to_dict()
    down = [r for r in node_rows if r["status"] == "down"]
    complete = scan["complete"] and not down
    row.update(
        scan=scan,
        complete=complete,
        stop_reason=scan["stop_reason"] or ("server-error" if down else None),
        error=down[0]["error"]
        if down
        else next((r["error"] for r in node_rows if r["error"]), None),
        # A partial cluster scan has a cursor per node (in `nodes`), not one to resume from.
        resume_cursor=None,
        lookups_added=lookups,
        nodes=node_rows,
    )
    return row


def _node_scan(
    node: Target, timeout: float, request: BigkeysRequest, progress: Progress | None
) -> tuple[KeyStats, ScanResult] | ProbeError:
    """One node's scan, in a process of its own: what it counted, or why it could not."""
    from cachediag.keyspace.fleet import sent_back

    return sent_back(lambda: _redis_scan(node, timeout, request, progress))


def _redis_row(stats: KeyStats, result: ScanResult, request: BigkeysRequest) -> dict[str, Any]:
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
