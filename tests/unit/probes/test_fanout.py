"""The fan-out: every target at once, results in the targets' order, over processes for
many read-only probes (their Python runs on every core, not one at a time)."""

from __future__ import annotations

import os
import threading

import pytest

from cachediag.probes import fanout
from cachediag.targets.target import Target


def _targets(count: int) -> list[Target]:
    return [
        Target(kind="redis", name=f"redis://h{i}:6379/0", source="flag", host=f"h{i}", port=6379)
        for i in range(count)
    ]


def test_results_keep_the_targets_order_in_threads() -> None:
    targets = _targets(10)
    assert fanout.per_target(targets, lambda t: t.host) == [t.host for t in targets]


_IN_PROCESSES = """
import os
from cachediag.probes import fanout
from cachediag.targets.target import Target
targets = [
    Target(kind="redis", name=f"redis://h{i}:6379/0", source="flag", host=f"h{i}", port=6379)
    for i in range(fanout.PROCESS_THRESHOLD + 7)
]
found = fanout.per_target(targets, lambda t: (t.host, os.getpid()), processes=True)
assert [host for host, _ in found] == [t.host for t in targets], found
pids = {pid for _, pid in found}
print(os.getpid() in pids, len(pids))
"""


@pytest.mark.skipif(not hasattr(os, "fork") or len(os.sched_getaffinity(0)) < 2, reason="one core")
def test_many_targets_are_probed_in_processes_in_order() -> None:
    # In a fresh interpreter: this test process runs other threads (fixtures' servers),
    # and with another thread running the fan-out stays in threads (the next test).
    import subprocess
    import sys

    run = subprocess.run(
        [sys.executable, "-c", _IN_PROCESSES], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr
    in_parent, processes = run.stdout.split()
    assert in_parent == "False" and int(processes) >= 2  # the work ran in the children


def test_with_other_threads_running_it_stays_in_threads() -> None:
    # A fork copies only the forking thread: with another one mid-work (an app probe), a
    # child could inherit a lock held forever. The fan-out then runs in threads.
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        targets = _targets(fanout.PROCESS_THRESHOLD)
        found = fanout.per_target(targets, lambda t: os.getpid(), processes=True)
        assert set(found) == {os.getpid()}
    finally:
        stop.set()
        other.join()


def test_few_targets_stay_in_threads() -> None:
    found = fanout.per_target(_targets(3), lambda t: os.getpid(), processes=True)
    assert set(found) == {os.getpid()}
