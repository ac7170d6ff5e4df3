"""cachediag latency's p50 on loopback against redis-benchmark's, in the same run.

Issue 4 asks the latency loop to add little of its own: cachediag's PING p50 on
loopback should be within 1.5x of

    redis-benchmark -c 1 -n 10000 -t ping --precision 3

(PING_MBULK is the same request cachediag sends). Each round runs both tools against
one redis-server started by the script on a free port, alternating which goes first.

    .venv/bin/python benchmarks/bench_latency.py [--rounds 5] [--samples 10000]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from servers import start_redis

CACHEDIAG = str(Path(sys.executable).parent / "cachediag")
# On 2+ CPUs the server gets one CPU and each client tool the other, the same for both
# tools: otherwise whether client and server happen to share a core decides the figure.
PIN = hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) >= 2
CLIENT_CPU, SERVER_CPU = 0, 1


def _pin_client() -> None:
    os.sched_setaffinity(0, {CLIENT_CPU})


def redis_benchmark(port: int, requests: int) -> dict[str, float]:
    """p50/p99/avg in µs of PING_MBULK, from redis-benchmark's CSV."""
    binary = shutil.which("redis-benchmark")
    if binary is None:
        raise SystemExit("redis-benchmark is not installed")
    out = subprocess.run(
        [
            binary,
            "-p",
            str(port),
            "-c",
            "1",
            "-n",
            str(requests),
            "-t",
            "ping",
            "--precision",
            "3",
            "--csv",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        preexec_fn=_pin_client if PIN else None,
    ).stdout
    rows = {row["test"]: row for row in csv.DictReader(io.StringIO(out))}
    row = rows["PING_MBULK"]
    return {name: float(row[f"{name}_latency_ms"]) * 1000 for name in ("p50", "p99", "avg", "min")}


def cachediag_latency(port: int, samples: int, interval_ms: int) -> dict[str, float]:
    out = subprocess.run(
        [
            CACHEDIAG,
            "latency",
            "--redis",
            f"redis://127.0.0.1:{port}",
            "--samples",
            str(samples),
            "--interval",
            str(interval_ms),
            "--json",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
        preexec_fn=_pin_client if PIN else None,
    ).stdout
    summary = json.loads(out)["targets"][0]["summary"]
    return {name: float(summary[f"{name}_us"]) for name in ("p50", "p99", "avg", "min")}


def _fmt(run: dict[str, float]) -> str:
    return f"p50 {run['p50']:.0f} µs p99 {run['p99']:.0f} µs avg {run['avg']:.1f} µs"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument(
        "--paced-samples", type=int, default=500, help="samples at the default 10 ms interval"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as workdir:
        server = start_redis(Path(workdir) / "redis")
        if PIN:
            os.sched_setaffinity(server.process.pid, {SERVER_CPU})
        try:
            ours, theirs, ratios = [], [], []
            for index in range(args.rounds):
                if index % 2:
                    bench = redis_benchmark(server.port, args.samples)
                    mine = cachediag_latency(server.port, args.samples, 0)
                else:
                    mine = cachediag_latency(server.port, args.samples, 0)
                    bench = redis_benchmark(server.port, args.samples)
                ours.append(mine)
                theirs.append(bench)
                ratios.append(mine["p50"] / bench["p50"])
                print(
                    f"round {index + 1}: cachediag {_fmt(mine)} | redis-benchmark {_fmt(bench)} | "
                    f"p50 ratio {ratios[-1]:.2f}"
                )
            paced = cachediag_latency(server.port, args.paced_samples, 10)
        finally:
            server.stop()

    def med(runs: list[dict[str, float]], name: str) -> float:
        return statistics.median(run[name] for run in runs)

    pinning = (
        f"server on CPU {SERVER_CPU}, clients on CPU {CLIENT_CPU}" if PIN else "no CPU pinning"
    )
    print(f"\n{args.samples} PINGs per tool and round, {args.rounds} rounds, loopback, {pinning}")
    for name, runs in (
        ("cachediag latency --interval 0", ours),
        ("redis-benchmark -c 1 PING_MBULK", theirs),
    ):
        print(f"{name:<33} median p50 {med(runs, 'p50'):.0f} µs   p99 {med(runs, 'p99'):.0f} µs")
    ratio = statistics.median(ratios)
    print(
        f"p50 ratio cachediag / redis-benchmark: median {ratio:.2f}  "
        f"(min {min(ratios):.2f}, max {max(ratios):.2f}); target ≤ 1.5"
    )
    print(
        f"for reference, cachediag at its default --interval 10: p50 {paced['p50']:.0f} µs "
        f"over {args.paced_samples} samples"
    )


if __name__ == "__main__":
    main()
