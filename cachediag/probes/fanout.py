"""The fan-out over targets: every target probed at once, so a dead one costs its timeout once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from cachediag.targets.target import Target

T = TypeVar("T")

# How many servers are read at once: --parallel N, set once per run by cli/common.setup.
# Large by default: a probe mostly waits (on the network, on check's --window), so 100
# servers take about as long as the slowest one.
DEFAULT_WORKERS = 128
_workers = DEFAULT_WORKERS


def set_workers(count: int) -> None:
    global _workers
    _workers = max(1, count)


# From this many targets a read-only fan-out (the probes) is split over processes, one a
# core: a probe is ~5 ms of Python per server (INFO parsed, round trips), which threads
# run one at a time under the interpreter lock, so 100 servers cost 100 probes' CPU on
# one core. Below it, a process's start is not worth it.
PROCESS_THRESHOLD = 24

# What a forked child runs: set just before the fork, inherited (a closure is not sent).
_forked: tuple[Callable[[Target], Any], list[list[Target]], int | None] | None = None


def _run_chunk(index: int) -> list[Any]:
    assert _forked is not None
    work, chunks, workers = _forked
    return per_target(chunks[index], work, workers)


def _in_processes(
    targets: list[Target], work: Callable[[Target], T], workers: int | None
) -> list[T] | None:
    """`per_target` over a process a core, each with its share of the targets in threads;
    None when it cannot (no fork, one core, other threads running that a fork would copy
    mid-work), and the caller runs them in threads instead."""
    import multiprocessing
    import os
    from concurrent.futures import ProcessPoolExecutor

    global _forked
    cores = min(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1, 4)
    if cores < 2 or not hasattr(os, "fork") or threading.active_count() > 1:
        return None
    chunks = [targets[i::cores] for i in range(cores)]  # interleaved: slow ones spread
    _forked = (work, chunks, workers)
    try:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=cores, mp_context=context) as pool:
            parts = list(pool.map(_run_chunk, range(cores)))
    finally:
        _forked = None
    results: list[T] = [None] * len(targets)  # type: ignore[list-item]
    for offset, part in enumerate(parts):
        results[offset::cores] = part
    return results


def per_target(
    targets: list[Target],
    work: Callable[[Target], T],
    workers: int | None = None,
    on_error: Callable[[Target, Exception], T] | None = None,
    processes: bool = False,
) -> list[T]:
    """Run `work` on every target at once, so a dead one costs its timeout once; order kept.

    With `on_error`, an unexpected exception for one target (a server answering with
    the wrong reply type, say) becomes that target's result instead of ending the run.
    With `processes` (read-only work whose results pickle: the probes), many targets are
    split over a process a core.
    """
    if processes and on_error is None and len(targets) >= PROCESS_THRESHOLD:
        done = _in_processes(targets, work, workers)
        if done is not None:
            return done

    def guarded(target: Target) -> T:
        if on_error is None:
            return work(target)
        try:
            return work(target)
        except Exception as exc:  # noqa: BLE001 - reported in the row, with its type
            return on_error(target, exc)

    if not targets:
        return []
    if len(targets) == 1:
        return [guarded(targets[0])]
    limit = workers if workers is not None else _workers
    with ThreadPoolExecutor(max_workers=min(limit, len(targets))) as pool:
        return list(pool.map(guarded, targets))
