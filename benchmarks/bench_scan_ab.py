"""Two builds of cachediag on the same servers, interleaved: did a change slow the scans?

`bigkeys --max-keys 0` over Redis (DEBUG POPULATE plus the hashes, lists and 5 MB string
of bench_bigkeys.py) and over Memcached (bench_memcached_scan.py's 200,000 items), each
build run in turn, alternating which goes first, so that drifting load hits both alike.
Besides the wall time it reports the client's own CPU time (user + sys of the cachediag
process): on a machine shared with other work that is the steadier figure, and it is
the one a client-side change moves.

    .venv/bin/python benchmarks/bench_scan_ab.py --base /path/to/other/.venv/bin/cachediag
        [--keys 1000000] [--runs 7]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_bigkeys
import bench_memcached_scan
from servers import start_memcached, start_redis

THIS = str(Path(sys.executable).parent / "cachediag")


def one(binary: str, args: list[str]) -> tuple[float, float, int]:
    """(wall s, client CPU s, keys reported) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    out = subprocess.run([binary, *args], capture_output=True, check=True).stdout
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return wall, cpu, json.loads(out)["targets"][0]["totals"]["keys"]


def compare(label: str, builds: dict[str, str], args: list[str], runs: int) -> None:
    wall: dict[str, list[float]] = {name: [] for name in builds}
    cpu: dict[str, list[float]] = {name: [] for name in builds}
    keys = 0
    for index in range(runs):
        order = list(builds) if index % 2 == 0 else list(builds)[::-1]
        for name in order:
            elapsed, used, keys = one(builds[name], args)
            wall[name].append(elapsed)
            cpu[name].append(used)
    for name in builds:
        walls, cpus = wall[name], cpu[name]
        print(
            f"{label:<18} {name:<5} wall median {statistics.median(walls):6.3f} s "
            f"(min {min(walls):.3f})   client CPU median {statistics.median(cpus):6.3f} s "
            f"(min {min(cpus):.3f})   {keys:,} keys, {runs} runs"
        )

    def ratio(values: dict[str, list[float]]) -> float:
        return statistics.median(values["this"]) / statistics.median(values["base"])

    print(f"{label:<18} this/base: wall {ratio(wall):.3f}, client CPU {ratio(cpu):.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base", required=True, help="the other build's cachediag script")
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    builds = {"base": args.base, "this": THIS}
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        redis = start_redis(Path(tmp), "--enable-debug-command", "yes")
        try:
            bench_bigkeys.populate(redis, args.keys)
            scan = ["bigkeys", "--redis", redis.url, "--max-keys", "0", "--json"]
            compare("bigkeys redis", builds, scan, args.runs)
        finally:
            redis.stop()
    memcached = start_memcached("-m", "1024")
    try:
        bench_memcached_scan.populate(memcached.port, 200_000)
        time.sleep(2)  # let the LRU maintainer settle, as bench_memcached_scan does
        scan = ["bigkeys", "--memcached", memcached.address, "--max-keys", "0", "--json"]
        compare("bigkeys memcached", builds, scan, args.runs)
    finally:
        memcached.stop()
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
