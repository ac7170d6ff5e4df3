"""`cachediag logs --json` on an outage log, where most lines are errors.

No issue names a figure for this case; it is measured because it is when `logs` is run
in earnest. bench_logs.py's log has 0.5 % error lines, so its speed comes from never
looking at most lines in Python; here every line is an error or a fallback and each one
is classified, timestamped and searched for keys in Python.

Usage:
    .venv/bin/python benchmarks/bench_logs_outage.py [--lines 2000000] [--runs 3]

The log (written to a temporary directory, deleted afterwards): cache-kit deserialization
failures, `Cache ERROR for session:<id>` backend errors, backend-unavailable with
fallback, pool exhaustion, timeouts naming product keys, fallback lines and a few 500
request lines, with 20,000 distinct ids, so that messages rarely repeat. The grep
pipeline of bench_logs.py runs on the same file for scale.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_logs import GREP_PIPELINE, cachediag_command, load, timed

MESSAGES = (
    "ERROR cache_kit::expander: Cache deserialization failed: Deserialization error: "
    "unexpected end of input key=user:{k}",
    "WARN cache_kit::expander: Cache ERROR for session:{k}: Backend error: Connection refused "
    "(os error 111)",
    "WARN app::cache: Cache backend unavailable: Connection refused, using fallback",
    "ERROR app::db: Connection pool exhausted: 10 active, {w} waiting",
    "WARN cache_kit::backend: Timeout: operation timed out after 500ms key=product:prod_{k}",
    "DEBUG cache_kit::expander: Cache miss, falling back to database",
    " INFO http_request{{method=GET path=/users/{k} request_id={r:08x}}}: app::routes: "
    "request completed status=500 latency_ms={w}",
)


def generate(path: Path, lines: int, seed: int = 3) -> int:
    rnd = random.Random(seed)
    when = datetime(2026, 11, 26, 3, 0, 0)
    with open(path, "w", encoding="utf-8") as out:
        for _ in range(lines):
            when += timedelta(milliseconds=rnd.randint(1, 30))
            stamp = when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
            message = rnd.choice(MESSAGES).format(
                k=rnd.randint(1, 20_000), w=rnd.randint(1, 300), r=rnd.getrandbits(32)
            )
            out.write(f"{stamp} {message}\n")
    return path.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=2_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench_outage_"))
    log = workdir / "outage.log"
    try:
        size = generate(log, args.lines)
        os.sync()
        print(f"generated {log}: {size / 2**20:,.0f} MiB, {args.lines:,} lines")
        print(f"load average before: {load()}  (2-core machine, shared)")
        ours_cmd = cachediag_command(log)
        grep_cmd = ["bash", "-c", GREP_PIPELINE.format(log=log)]
        ours, grep = [], []
        for i in range(args.runs):
            t_ours, _ = timed(ours_cmd)
            t_grep, _ = timed(grep_cmd)
            ours.append(t_ours)
            grep.append(t_grep)
            print(
                f"run {i + 1}: cachediag logs --json {t_ours:.2f} s "
                f"({size / t_ours / 1e6:.0f} MB/s, {t_ours / args.lines * 1e6:.2f} µs a line)"
                f"   grep pipeline {t_grep:.2f} s"
            )
        median = statistics.median(ours)
        print(
            f"median: cachediag {median:.2f} s ({size / median / 1e6:.0f} MB/s), "
            f"grep pipeline {statistics.median(grep):.2f} s"
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
