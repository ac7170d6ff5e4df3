"""The fan-out over targets: every target probed at once, so a dead one costs its timeout once."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

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


def per_target(
    targets: list[Target],
    work: Callable[[Target], T],
    workers: int | None = None,
    on_error: Callable[[Target, Exception], T] | None = None,
) -> list[T]:
    """Run `work` on every target at once, so a dead one costs its timeout once; order kept.

    With `on_error`, an unexpected exception for one target (a server answering with
    the wrong reply type, say) becomes that target's result instead of ending the run.
    """

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
