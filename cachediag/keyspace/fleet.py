"""A system's nodes read as one: which nodes a keyspace command reads, all at once.

`backends.expand` turns a cluster URL into its nodes; the keyspace commands then group
them back (`groups`): a lone server is read as before, a cluster's primaries (and its
replicas with --replicas) are scanned in parallel, each on its own connection, and their
results merged into one row that names the node of each key. One progress line counts
the keys of every node together.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from cachediag.errors import ProbeError
from cachediag.scan.lookups import Lookups
from cachediag.scan.redis import Progress, ScanResult
from cachediag.targets.target import Target

T = TypeVar("T")


@dataclass(frozen=True)
class Group:
    """A lone server (`system` None, one node) or the nodes of one system to read."""

    system: str | None
    nodes: list[Target]
    skipped: int = 0  # nodes of the system left out (replicas, without --replicas)

    @property
    def target(self) -> Target:
        """What the group's row is named after: the server, or the system as a whole."""
        if self.system is None:
            return self.nodes[0]
        return dataclasses.replace(self.nodes[0], name=self.system, role=None, node_id=None)


def groups(targets: list[Target], replicas: bool = False) -> list[Group]:
    """The targets in order, each system's nodes together; replicas only with `replicas`."""
    from cachediag.backends import backend_for

    found: list[Group] = []
    by_system: dict[str, list[Target]] = {}
    for target in targets:
        if target.system is None or not backend_for(target).reads_nodes_as_one:
            found.append(Group(None, [target]))
            continue
        if target.system not in by_system:
            by_system[target.system] = []
            found.append(Group(target.system, by_system[target.system]))
        by_system[target.system].append(target)
    result = []
    for group in found:
        if group.system is None:
            result.append(group)
            continue
        chosen = [n for n in group.nodes if replicas or n.role != "replica"]
        result.append(Group(group.system, chosen, len(group.nodes) - len(chosen)))
    return result


class SummedProgress:
    """Each node's progress added up into the one line the user sees (thread-safe)."""

    def __init__(self, outer: Progress | None, nodes: int) -> None:
        self.outer = outer
        self.done = [0] * nodes
        self.totals: list[int | None] = [None] * nodes
        self.started = time.monotonic()
        self.lock = threading.Lock()

    def for_node(self, index: int) -> Progress:
        summed = self

        class _Node:
            def update(self, done: int, total: int | None, elapsed: float) -> None:
                with summed.lock:
                    summed.done[index] = done
                    summed.totals[index] = total
                    if summed.outer is None:
                        return
                    totals = summed.totals
                    total_all = sum(t for t in totals if t) if all(totals) else None
                    summed.outer.update(
                        sum(summed.done), total_all, time.monotonic() - summed.started
                    )

            def note(self, message: str) -> None:
                if summed.outer is not None:
                    with summed.lock:
                        summed.outer.note(message)

            def finish(self) -> None:
                return None  # the outer line is finished once, by its owner

        return _Node()


def on_nodes(
    nodes: list[Target],
    work: Callable[[Target, Progress | None], T],
    progress: Progress | None,
    workers: int = 16,
) -> list[T]:
    """`work` on every node at once, each with its share of the progress line; in order."""
    from cachediag.probes.fanout import per_target

    summed = SummedProgress(progress, len(nodes))
    index = {id(node): i for i, node in enumerate(nodes)}
    return per_target(
        nodes, lambda node: work(node, summed.for_node(index[id(node)])), workers=workers
    )


def per_group(groups: list[Group], work: Callable[[Group], dict[str, Any]]) -> list[dict[str, Any]]:
    """`work` on every group at once, in order; an unexpected exception is that group's row."""
    from cachediag.probes.fanout import per_target
    from cachediag.probes.rows import unexpected_row

    by_name = {group.target.name: group for group in groups}
    return per_target(
        [group.target for group in groups],
        lambda target: work(by_name[target.name]),
        on_error=unexpected_row,
    )


def share(budget: int, nodes: int) -> int:
    """A key budget (0: none) split over nodes scanned at once, each its part rounded up."""
    if budget <= 0 or nodes <= 1:
        return budget
    return -(-budget // nodes)


def merged_scan(scans: list[dict[str, Any]]) -> dict[str, Any]:
    """The scan facts of several nodes as one: counts summed, the slowest node's time."""
    summed = (
        "scanned",
        "inspected",
        "deleted",
        "batches",
        "round_trips",
        "misguesses",
        "backoffs",
        "denied",
    )
    merged: dict[str, Any] = {
        "start_cursor": "0",
        "cursor": "0",
        "complete": all(scan.get("complete") for scan in scans),
        "stop_reason": next((s["stop_reason"] for s in scans if s.get("stop_reason")), None),
        "elapsed_s": max((scan.get("elapsed_s") or 0.0 for scan in scans), default=0.0),
        "memory_available": all(scan.get("memory_available", True) for scan in scans),
        "memory_reason": next((s["memory_reason"] for s in scans if s.get("memory_reason")), None),
        "method": f"SCAN on {len(scans)} nodes in parallel",
    }
    for name in summed:
        merged[name] = sum(int(scan.get(name) or 0) for scan in scans)
    merged["slept_s"] = round(sum(float(scan.get("slept_s") or 0.0) for scan in scans), 3)
    merged["ping_max_us"] = max((scan.get("ping_max_us") or 0 for scan in scans), default=0)
    dbsizes = [scan.get("dbsize") for scan in scans]
    merged["dbsize"] = sum(dbsizes) if all(isinstance(d, int) for d in dbsizes) else None
    return merged


# -- nodes scanned in processes of their own ------------------------------------------------
# A scan is mostly Python work per key (parsing, accumulating): threads share one
# interpreter lock, so three nodes scanned in threads take as long as one after another
# (and their PINGs, delayed by each other, read as server latency and slow the scans
# down). Each node gets a process of its own; the parent sums their progress.

_progress_slots: Any = None


def _init_child(slots: Any) -> None:
    global _progress_slots
    _progress_slots = slots
    # Ctrl-C reaches the whole process group: each child's scan ends at its next batch
    # (stop_reason "interrupted") and returns what it saw; the parent waits for them.


class _SlotProgress:
    def __init__(self, index: int) -> None:
        self.index = index

    def update(self, done: int, total: int | None, elapsed: float) -> None:
        _progress_slots[self.index] = done
        _progress_slots[len(_progress_slots) // 2 + self.index] = total if total else -1

    def note(self, message: str) -> None:
        return None  # the parent's line says what it can; a child has no terminal of its own

    def finish(self) -> None:
        return None


def _run_in_child(job: tuple[Callable[..., T], int, tuple[Any, ...]]) -> T:
    work, index, args = job
    return work(*args, _SlotProgress(index))


def in_processes(
    work: Callable[..., T], jobs: list[tuple[Any, ...]], progress: Progress | None
) -> list[T]:
    """`work(*args, progress)` for each args of `jobs`, each in a process of its own (a
    module-level `work`: it is sent by name), results in order; one progress line."""
    import multiprocessing
    import os
    from concurrent.futures import ProcessPoolExecutor, wait

    if len(jobs) == 1 or not hasattr(os, "fork"):
        summed = SummedProgress(progress, len(jobs))
        return [work(*args, summed.for_node(i)) for i, args in enumerate(jobs)]
    context = multiprocessing.get_context("fork")
    slots = context.Array("q", [0] * (2 * len(jobs)), lock=False)
    started = time.monotonic()
    with ProcessPoolExecutor(
        max_workers=len(jobs), mp_context=context, initializer=_init_child, initargs=(slots,)
    ) as pool:
        futures = [pool.submit(_run_in_child, (work, i, args)) for i, args in enumerate(jobs)]
        pending = set(futures)
        while pending:
            try:
                _, pending = wait(pending, timeout=0.2)
            except KeyboardInterrupt:  # the children stop at their next batch: wait for them
                continue
            if progress is not None:
                done = sum(slots[: len(jobs)])
                totals = list(slots[len(jobs) :])
                total = sum(totals) if all(t >= 0 for t in totals) else None
                progress.update(done, total, time.monotonic() - started)
        return [future.result() for future in futures]


# -- a scan's nodes read in processes, brought back together --------------------------------


def sent_back(read: Callable[[], tuple[T, ScanResult]]) -> tuple[T, ScanResult] | ProbeError:
    """A node's read, run in a process of its own, as it can be pickled back to the parent:
    what it found and its scan, or why it could not be read."""
    try:
        found, result = read()
    except ProbeError as error:
        # A plain ProbeError when the subclass takes other arguments than the message.
        return (
            ProbeError(error.message) if type(error).__init__ is not ProbeError.__init__ else error
        )
    result.failure = None  # an exception object need not cross back to the parent
    return found, result


def node_rows(
    nodes: list[Target],
    outcomes: list[tuple[T, ScanResult] | ProbeError],
    keys: Callable[[T, ScanResult], int],
    error: Callable[[ScanResult], dict[str, str] | None],
) -> tuple[list[dict[str, Any]], list[tuple[Target, T, ScanResult]]]:
    """What each node gave, a row each (down, or up with its keys, cursor and time), and
    the nodes that were read with what they found. No node read: the first node's error."""
    rows: list[dict[str, Any]] = []
    read: list[tuple[Target, T, ScanResult]] = []
    for node, outcome in zip(nodes, outcomes, strict=True):
        row: dict[str, Any] = {"target": node.name, "role": node.role, "status": "up"}
        if isinstance(outcome, ProbeError):
            row.update(status="down", error=outcome.to_dict(), keys=0, complete=False)
        else:
            found, result = outcome
            read.append((node, found, result))
            row.update(
                error=error(result),
                keys=keys(found, result),
                complete=result.complete,
                stop_reason=result.stop_reason,
                cursor=str(result.cursor),
                elapsed_s=round(result.elapsed_s, 3),
            )
        rows.append(row)
    if not read:
        raise next(o for o in outcomes if isinstance(o, ProbeError))
    return rows, read


def summed_lookups(results: list[ScanResult]) -> Lookups:
    """The keyspace lookups the nodes' scans added, together (exact only if each was)."""
    lookups = Lookups()
    for result in results:
        lookups.add(hits=result.lookups.hits, misses=result.lookups.misses)
        lookups.exact = lookups.exact and result.lookups.exact
    return lookups
