"""Fleets (issue 14): many servers checked at once, a cluster's primaries scanned at once.

Same run, loopback, real servers:
  1. `cachediag check` of 100 redis-server processes against `check` of one: at most 3x
     the wall time (the probes run concurrently in a bounded pool, --parallel);
  2. `cachediag bigkeys --max-keys 0` over a 3-primary cluster holding --keys keys in all:
     at most 0.6x the time of the same scan run on each primary in turn (the scan engine
     on one node after another, in one process: what cachediag did before clusters), and
     at most 0.25x the time of `redis-cli --bigkeys` run on each primary in turn.

    .venv/bin/python benchmarks/bench_fleet.py [--servers 100] [--keys 1000000] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from servers import require, start_redis, start_redis_cluster

CACHEDIAG = str(Path(sys.executable).parent / "cachediag")
CHECK = ["check", "--json", "--only", "redis.*", "--window", "0", "--sample-keys", "100"]

# The scan engine on each primary in turn, in one process: cachediag before clusters.
IN_TURN = """
import sys
from cachediag.keyspace.bigkeys import BigkeysRequest, redis_bigkeys
from cachediag.scan.memcached import CrawlOptions
from cachediag.scan.redis import ScanOptions
from cachediag.targets.parse import parse_redis
request = BigkeysRequest(20, 20, ScanOptions(max_keys=0, backoff_above_ms=1000), CrawlOptions())
total = 0
for url in sys.argv[1:]:
    total += redis_bigkeys(parse_redis(url, "flag"), 10.0, request, None)["totals"]["keys"]
print(total)
"""


def child_cpu() -> float:
    """CPU seconds of the finished children (the clients timed, not the servers: those
    are still running, so they are not counted)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


CPU: dict[str, float] = {}


def wall(cmd: list[str]) -> tuple[float, str]:
    cpu = child_cpu()
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    elapsed = time.perf_counter() - started
    CPU[" ".join(cmd[:2])] = child_cpu() - cpu
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{cmd[:3]} exited {proc.returncode}: {proc.stderr[-500:]}")
    return elapsed, proc.stdout


def best(cmd: list[str], runs: int) -> tuple[float, str]:
    times, out = [], ""
    for _ in range(runs):
        elapsed, out = wall(cmd)
        times.append(elapsed)
    return min(times), out


def many_servers(workdir: Path, count: int, runs: int) -> dict[str, float]:
    servers = []
    try:
        for index in range(count):
            servers.append(start_redis(workdir / f"r{index}"))
        for server in servers:
            server.cli("SET", "k", "v")
        one, out = best([CACHEDIAG, *CHECK, "--redis", servers[0].url], runs)
        assert len(json.loads(out)["targets"]) == 1
        flags = [arg for server in servers for arg in ("--redis", server.url)]
        hundred, out = best([CACHEDIAG, *CHECK, *flags], runs)
        assert len(json.loads(out)["targets"]) == count
    finally:
        for server in servers:
            server.stop()
    return {"one_s": one, "many_s": hundred, "ratio": hundred / one}


def servers_cpu(servers: list) -> float:  # type: ignore[type-arg]
    """CPU seconds the redis-servers have used (INFO used_cpu_sys + used_cpu_user)."""
    total = 0.0
    for server in servers:
        client = server.client()
        info = client.info("cpu")
        client.close()
        total += float(info["used_cpu_sys"]) + float(info["used_cpu_user"])
    return total


def fill_cluster(cluster, keys: int) -> None:
    """`keys` strings spread over the slots, each written to its owner with a pipeline."""
    from cachediag.keyspace.slots import key_slot

    app = cluster.client()
    owners = {}
    for index in range(keys):
        key = f"key:{index}"
        node = app.nodes_manager.get_node_from_slot(key_slot(key.encode()))
        owners.setdefault(node.port, []).append(key)
    app.close()
    by_port = {node.port: node for node in cluster.nodes}
    for port, names in owners.items():
        client = by_port[port].client()
        for start in range(0, len(names), 10_000):
            pipe = client.pipeline(transaction=False)
            for name in names[start : start + 10_000]:
                pipe.set(name, "v" * 32)
            pipe.execute()
        client.close()


def cluster_scans(workdir: Path, keys: int, runs: int) -> dict[str, float]:
    cluster = start_redis_cluster(workdir / "cluster")
    try:
        fill_cluster(cluster, keys)
        primaries = cluster.primaries()
        # The latency back-off off on both sides (--backoff-above 1000): on a shared loopback
        # host the client's own CPU load reads as server latency and would pace each run
        # by the machine's noise, not by the scan.
        seed = [CACHEDIAG, "bigkeys", "--redis", cluster.seed.url, "--max-keys", "0"]
        seed += ["--backoff-above", "1000"]
        before = servers_cpu(primaries)
        parallel, out = best([*seed, "--json", "--no-progress"], runs)
        parallel_servers = (servers_cpu(primaries) - before) / runs
        assert json.loads(out)["targets"][0]["totals"]["keys"] == keys
        urls = [server.url for server in primaries]
        parallel_cpu = CPU[" ".join(seed[:2])]
        before = servers_cpu(primaries)
        in_turn, out = best([sys.executable, "-c", IN_TURN, *urls], runs)
        in_turn_servers = (servers_cpu(primaries) - before) / runs
        in_turn_cpu = CPU[f"{sys.executable} -c"]
        assert int(out) == keys
        redis_cli = require("redis-cli")
        cli_times = []
        for _ in range(runs):
            started = time.perf_counter()
            for server in primaries:
                subprocess.run(
                    [redis_cli, "-p", str(server.port), "--bigkeys"],
                    capture_output=True,
                    check=True,
                    timeout=900,
                )
            cli_times.append(time.perf_counter() - started)
    finally:
        cluster.stop()
    cli = min(cli_times)
    return {
        "parallel_s": parallel,
        "in_turn_s": in_turn,
        "redis_cli_in_turn_s": cli,
        "vs_in_turn": parallel / in_turn,
        "vs_redis_cli": parallel / cli,
        "parallel_cpu_s": parallel_cpu,
        "in_turn_cpu_s": in_turn_cpu,
        "parallel_servers_cpu_s": parallel_servers,
        "in_turn_servers_cpu_s": in_turn_servers,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--servers", type=int, default=100)
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip", choices=["servers", "cluster"], default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        if args.skip != "servers":
            fleet = many_servers(Path(workdir) / "fleet", args.servers, args.runs)
            print(
                f"check: 1 server {fleet['one_s']:.2f} s, {args.servers} servers "
                f"{fleet['many_s']:.2f} s: {fleet['ratio']:.2f}x (target <= 3x)"
            )
        if args.skip != "cluster":
            scans = cluster_scans(Path(workdir), args.keys, args.runs)
            print(
                f"bigkeys over a 3-primary cluster, {args.keys:,} keys: parallel "
                f"{scans['parallel_s']:.2f} s; each primary in turn {scans['in_turn_s']:.2f} s "
                f"({scans['vs_in_turn']:.2f}x, target <= 0.6x); redis-cli --bigkeys on each "
                f"primary in turn {scans['redis_cli_in_turn_s']:.2f} s "
                f"({scans['vs_redis_cli']:.2f}x, target <= 0.25x); client CPU (last run): "
                f"parallel {scans['parallel_cpu_s']:.2f} s, in turn {scans['in_turn_cpu_s']:.2f} s"
            )
            # Work spread over the cores can end no sooner than all of it divided by them:
            # the parallel scan's floor on this machine, beside what it measured.
            cores = os.cpu_count() or 1
            work = scans["parallel_cpu_s"] + scans["parallel_servers_cpu_s"]
            print(
                f"servers' CPU (a run): parallel {scans['parallel_servers_cpu_s']:.2f} s, in turn "
                f"{scans['in_turn_servers_cpu_s']:.2f} s; the parallel scan's CPU, client and "
                f"servers, {work:.2f} s over {cores} cores: no faster than {work / cores:.2f} s "
                f"({work / cores / scans['in_turn_s']:.2f}x the in-turn time) on this machine"
            )
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
