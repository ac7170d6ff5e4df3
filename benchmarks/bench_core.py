"""Wall time of `cachediag ping` and `cachediag check` against local Redis and Memcached.

Targets (issue 2): ping under 0.4 s, check under 1.5 s on a 2-core machine (with
--window 0: the default window adds its 2 s on purpose, issue 10), and
`cachediag --help` importing neither redis nor psutil. `redis-cli ping` and
`memcached stats over nc`-style calls are timed in the same run for reference.

    .venv/bin/python benchmarks/bench_core.py [--runs 10] [--keys 10000] [--base OTHER]

With --base OTHER/.venv/bin/cachediag (another build, e.g. a checkout of an older
commit with its own venv), ping and check of both builds are timed in turn, A B A B,
on the same servers, and their ratio printed: start-up compared under the same load.
The older build has no --window: its check is compared with this one's --window 0.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from servers import start_memcached, start_redis

CACHEDIAG = str(Path(sys.executable).parent / "cachediag")


def wall(cmd: list[str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - started)
    return times


def describe(name: str, times: list[float]) -> str:
    return (
        f"{name:<44} median {statistics.median(times):.3f} s   "
        f"min {min(times):.3f} s   max {max(times):.3f} s   ({len(times)} runs)"
    )


def against_base(base: str, targets: list[str], runs: int) -> dict[str, list[float]]:
    """ping and check of this build and `base`, alternately; prints the median ratios."""
    pairs = {
        "ping": ([CACHEDIAG, "ping", *targets], [base, "ping", *targets]),
        "check": ([CACHEDIAG, "check", "--window", "0", *targets], [base, "check", *targets]),
    }
    results: dict[str, list[float]] = {}
    for name, (mine, theirs) in pairs.items():
        a: list[float] = []
        b: list[float] = []
        for _ in range(runs):
            a += wall(mine, 1)
            b += wall(theirs, 1)
        results[f"this build: {name}"] = a
        results[f"base build: {name}"] = b
        ratios = [x / y for x, y in zip(a, b, strict=True)]
        print(f"{name}: this / base, median of {runs} pairs: {statistics.median(ratios):.3f}")
    return results


def help_imports() -> list[str]:
    code = (
        "import sys\nfrom cachediag.cli.app import app\n"
        "try:\n    app(['--help'])\nexcept SystemExit:\n    pass\n"
        "print('HEAVY:' + ','.join(m for m in ('redis', 'hiredis', 'psutil') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    line = next(line for line in out.splitlines() if line.startswith("HEAVY:"))
    return [m for m in line.removeprefix("HEAVY:").split(",") if m]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--base", help="another build's cachediag, timed in turn with this one")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        redis = start_redis(
            Path(tmp) / "redis", "--maxmemory", "256mb", "--maxmemory-policy", "allkeys-lru"
        )
        memcached = start_memcached("-m", "64")
        try:
            client = redis.client()
            pipe = client.pipeline(transaction=False)
            for i in range(args.keys):
                pipe.set(f"user:{i}", b"CKIT\x01" + b"x" * 100, ex=3600)
            pipe.execute()
            mc = memcached.client()
            for i in range(min(args.keys, 2000)):
                mc.set(f"user:{i}", b"v" * 100, expire=3600)
            targets = ["--redis", redis.url, "--memcached", memcached.address]
            print(f"cachediag at {CACHEDIAG}; {args.keys} Redis keys, 2000 Memcached items")
            results = {
                "cachediag ping (redis + memcached)": wall(
                    [CACHEDIAG, "ping", *targets], args.runs
                ),
                "cachediag check (redis + memcached + host)": wall(
                    [CACHEDIAG, "check", *targets], args.runs
                ),
                # The default --window (2 s) reads the hit rate of now; 0 skips the wait.
                "cachediag check --window 0": wall(
                    [CACHEDIAG, "check", "--window", "0", *targets], args.runs
                ),
                "cachediag --help": wall([CACHEDIAG, "--help"], args.runs),
            }
            if shutil.which("redis-cli"):
                results["redis-cli ping (reference)"] = wall(
                    ["redis-cli", "-p", str(redis.port), "ping"], args.runs
                )
            if args.base:
                results.update(against_base(args.base, targets, args.runs))
            for name, times in results.items():
                print(describe(name, times))
            print(
                "modules imported by `cachediag --help`: "
                f"{help_imports() or 'none of redis, hiredis, psutil'}"
            )
        finally:
            redis.stop()
            memcached.stop()


if __name__ == "__main__":
    main()
