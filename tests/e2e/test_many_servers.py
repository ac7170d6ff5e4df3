"""Many servers checked at once: every one probed, in one bounded pool (--parallel).

The issue's figure (100 servers in at most 3x the time of one) is measured by
benchmarks/bench_fleet.py; here 20 servers, so the suite stays quick, with a hard bound.
"""

from __future__ import annotations

import time
from typing import Any

SERVERS = 20


def test_twenty_servers_in_one_run(cachediag: Any, redis_factory: Any) -> None:
    servers = [redis_factory() for _ in range(SERVERS)]
    flags = [arg for server in servers for arg in ("--redis", server.url)]
    started = time.monotonic()
    run = cachediag("check", "--json", *flags, "--only", "redis.*", "--window", "1", timeout=120)
    elapsed = time.monotonic() - started
    assert run.code in (0, 1), run.err
    document = run.json()
    assert [t["status"] for t in document["targets"]] == ["up"] * SERVERS
    # Probed at once: one 1 s window for all, not twenty (a hard bound, not a timing).
    assert elapsed < 15, elapsed
    limited = cachediag(
        "check",
        "--json",
        *flags[:8],
        "--only",
        "redis.running",
        "--window",
        "0",
        "--parallel",
        "2",
    )
    assert [t["status"] for t in limited.json()["targets"]] == ["up"] * 4
