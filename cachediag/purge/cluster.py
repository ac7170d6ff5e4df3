"""A purge over a system's nodes (a Redis Cluster's primaries): all at once, one row.

Each primary purges its own keyspace on its own connection (replicas follow their
primary: deleting there is refused, and never needed). Named keys go only to the node
that owns their slot. The nodes' reports are added up into the system's row, and
`nodes` keeps each node's own report, so the output says where every key was.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from cachediag.purge.redis import Sinks
from cachediag.purge.report import SHOWN_NAMESPACES, PurgeReport
from cachediag.purge.request import PurgeRequest
from cachediag.targets.target import Target

# Counts that add up across nodes.
_SUMMED = (
    "scanned",
    "duplicates",
    "matched",
    "deleted",
    "already_gone",
    "changed",
    "failed",
    "not_found",
    "pauses",
    "redirected",
)


def named_by_owner(
    nodes: list[Target], timeout: float, keys: tuple[bytes, ...]
) -> dict[str, tuple[bytes, ...]]:
    """Each node's share of the named keys (by the slot map read now), by node name."""
    from cachediag.keyspace.routing import owners

    shares: dict[str, tuple[bytes, ...]] = {node.name: () for node in nodes}
    if not keys:
        return shares
    listed = list(keys)
    by_address = {node.address: node.name for node in nodes}
    for owner, indexes in owners(nodes, timeout, listed):
        name = by_address.get(owner.address, owner.name)
        shares[name] = shares.get(name, ()) + tuple(listed[i] for i in indexes)
    return shares


def merged_report(reports: list[dict[str, Any]], sample_limit: int) -> dict[str, Any]:
    """The nodes' purge reports (to_dict form) as one: counts summed, namespaces merged,
    the slowest node's time, the worst round trip, complete only if every node is."""
    merged = dict(reports[0])
    for name in _SUMMED:
        merged[name] = sum(int(report.get(name) or 0) for report in reports)
    namespaces: Counter[str] = Counter()
    for report in reports:
        namespaces.update({n["namespace"]: n["keys"] for n in report["namespaces"]})
    merged["namespaces"] = [
        {"namespace": name, "keys": keys} for name, keys in namespaces.most_common(SHOWN_NAMESPACES)
    ]
    # Node reports list their top namespaces only: the count is a floor when some are cut.
    merged["namespace_count"] = max(len(namespaces), max(r["namespace_count"] for r in reports))
    samples: list[str] = []
    for index in range(sample_limit):
        for report in reports:
            if index < len(report["samples"]) and len(samples) < sample_limit:
                samples.append(report["samples"][index])
    merged["samples"] = samples
    merged["errors"] = [e for report in reports for e in report["errors"]][:5]
    measured = [r["bytes"] for r in reports]
    estimates = [b["estimated"] for b in measured if b["estimated"] is not None]
    merged["bytes"] = {
        "estimated": sum(estimates) if estimates else None,
        "method": measured[0]["method"],
        "measured_keys": sum(int(b["measured_keys"]) for b in measured),
    }
    merged["elapsed_s"] = max(float(r["elapsed_s"]) for r in reports)
    merged["paused_s"] = round(sum(float(r["paused_s"]) for r in reports), 3)
    merged["rate_wait_s"] = round(sum(float(r["rate_wait_s"]) for r in reports), 3)
    merged["worst_round_trip_ms"] = max(float(r["worst_round_trip_ms"]) for r in reports)
    elapsed = merged["elapsed_s"]
    merged["keys_per_s"] = round(merged["scanned"] / elapsed) if elapsed > 0 else None
    merged["stop_reason"] = next((r["stop_reason"] for r in reports if r["stop_reason"]), None)
    merged["complete"] = all(r["complete"] for r in reports)
    merged["cursor"] = "0"  # each node's own cursor is in its entry of `nodes`
    merged["pattern_index"] = min(int(r["pattern_index"]) for r in reports)
    merged["checkpoint"] = None
    merged["unfinished_slots"] = sorted({s for r in reports for s in r["unfinished_slots"]})
    checked = sum(int(r["read_back"]["checked"]) for r in reports)
    present = [r["read_back"]["still_present"] for r in reports]
    merged["read_back"] = {
        "checked": checked,
        "still_present": sum(p for p in present if p is not None) if checked else None,
    }
    return merged


class SummedMeter:
    """The nodes' progress added up into one line (the nodes report from their threads)."""

    def __init__(self, meter: Callable[[PurgeReport], None] | None, nodes: int) -> None:
        self.meter = meter
        self.latest: list[PurgeReport | None] = [None] * nodes
        self.lock = threading.Lock()

    def for_node(self, index: int) -> Callable[[PurgeReport], None] | None:
        if self.meter is None:
            return None

        def update(report: PurgeReport) -> None:
            with self.lock:
                self.latest[index] = report
                known = [r for r in self.latest if r is not None]
                total = PurgeReport(mode=known[0].mode)
                for one in known:
                    total.scanned += one.scanned
                    total.matched += one.matched
                    total.deleted += one.deleted
                    total.changed += one.changed
                    total.already_gone += one.already_gone
                    total.paused_s += one.paused_s
                    total.elapsed_s = max(total.elapsed_s, one.elapsed_s)
                assert self.meter is not None
                self.meter(total)

        return update


def purge_nodes(
    system: Target,
    nodes: list[Target],
    skipped: int,
    timeout: float,
    request: PurgeRequest,
    sinks_for: Callable[[Target, int], Sinks],
    positions: dict[str, tuple[int, int]],
    purge_one: Callable[[Target, float, PurgeRequest, Sinks], dict[str, Any]],
) -> dict[str, Any]:
    """One system's purge: every node at once, the system's row with `nodes` inside."""
    from cachediag.probes.fanout import per_target
    from cachediag.probes.rows import target_row
    from cachediag.purge.guard import StopFlag

    shares = named_by_owner(nodes, timeout, request.keys) if request.keys else {}
    # One Ctrl-C stops every node after its batch in hand: the handler can only be
    # installed here, in the main thread, and the nodes' threads all watch its flag.
    stop = StopFlag()

    def one(node: Target) -> dict[str, Any]:
        index, cursor = positions.get(node.name, (request.pattern_index, request.cursor))
        mine = dataclasses.replace(
            request,
            keys=shares.get(node.name, ()),
            pattern_index=index,
            cursor=cursor,
        )
        sinks = sinks_for(node, nodes.index(node))
        sinks.stop = stop
        return purge_one(node, timeout, mine, sinks)

    with stop.installed():
        rows = per_target(nodes, one, workers=len(nodes))
    row = target_row(system)
    row["version"] = next((r.get("version") for r in rows if r.get("version")), None)
    row["patterns"] = list(request.patterns)
    row["nodes"] = rows
    row["replicas_skipped"] = skipped
    reports = [r["purge"] for r in rows if r.get("purge")]
    if reports:
        row["purge"] = merged_report(reports, request.samples)
    down = [r for r in rows if r.get("status") == "down"]
    if down:
        # The keys of a node that could not be reached are still there: the system is not
        # purged, whatever the other nodes did.
        row["status"] = "down"
        row["error"] = {
            "kind": down[0]["error"]["kind"],
            "message": f"{len(down)} of {len(rows)} nodes could not be purged: "
            + "; ".join(f"{r['target']}: {r['error']['message']}" for r in down),
        }
    else:
        failed = next((r["error"] for r in rows if r.get("error")), None)
        if failed is not None:
            row["error"] = failed
    return row
