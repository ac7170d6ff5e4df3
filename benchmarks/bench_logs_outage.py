"""`cachediag logs --json` on an outage log, where most lines are errors.

Issue 16: on this log (2,000,000 lines, every line an error), `cachediag logs --json` must
take at most 5x the wall time of the guide's grep pipeline on the same file, in the same
run:

    grep -i serialization outage.log | grep -o "user:[0-9]*" | sort | uniq -c

Usage:
    .venv/bin/python benchmarks/bench_logs_outage.py [--lines 2000000] [--runs 5]
        [--file LOG] [--keep]

The log (written to a temporary directory, deleted afterwards unless --keep): cache-kit
deserialization failures, `Cache ERROR for session:<id>` backend errors, backend-unavailable
with fallback, pool exhaustion, timeouts naming product keys, fallback lines and a few 500
request lines, with 20,000 distinct ids, so that messages rarely repeat. Per run both
commands are timed (wall clock, alternating which goes first) and must find the same user
keys; then the medians, the ratio and cachediag's peak RSS.
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

from bench_logs import (
    GREP_PIPELINE,
    cachediag_command,
    cpu_summary,
    load,
    peak_rss_mb,
    ref_command,
    ref_package,
    same_user_keys,
    timed_rounds,
)

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
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--file", type=Path, help="use this log instead of generating one")
    parser.add_argument("--keep", action="store_true", help="keep the generated log")
    parser.add_argument("--ref", help="also time this git revision's cachediag, same run")
    args = parser.parse_args()
    workdir = None
    if args.file:
        log = args.file
        with open(log, "rb") as handle:
            lines = sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 24), b""))
    else:
        workdir = Path(tempfile.mkdtemp(prefix="bench_outage_"))
        log = workdir / "outage.log"
        lines = args.lines
        generate(log, lines)
        os.sync()
    size = log.stat().st_size
    try:
        with open(log, "rb") as handle:  # into the page cache, for both tools alike
            while handle.read(16 << 20):
                pass
        print(f"log {log}: {size / 2**20:,.0f} MiB, {lines:,} lines")
        ours_cmd = cachediag_command(log)
        grep_cmd = ["bash", "-c", GREP_PIPELINE.format(log=log)]
        print(f"grep:      {GREP_PIPELINE.format(log=log)}")
        print(f"cachediag: {' '.join(ours_cmd)}")
        commands: list[tuple[str, list[str], dict[str, str] | None]] = [
            ("grep", grep_cmd, None),
            ("ours", ours_cmd, None),
        ]
        package = None
        if args.ref:
            package = ref_package(args.ref)
            ref_cmd, ref_env = ref_command(package, log)
            commands.append(("ref", ref_cmd, ref_env))
            print(f"{args.ref}:  the same command from {package}")
        print(f"load average before: {load()}  (2-core machine, shared)")

        cpu: dict[str, list[float]] = {}

        def show(i: int, times: dict[str, list[float]]) -> None:
            g, o = times["grep"][-1], times["ours"][-1]
            extra = f"   {args.ref} {times['ref'][-1]:.2f} s" if args.ref else ""
            print(
                f"run {i + 1}: grep pipeline {g:.2f} s   cachediag logs --json {o:.2f} s "
                f"({size / o / 1e6:.0f} MB/s, {o / lines * 1e6:.2f} µs a line)   "
                f"ratio {o / g:.2f}{extra}   (CPU: grep {cpu['grep'][-1]:.2f} s, "
                f"cachediag {cpu['ours'][-1]:.2f} s)"
            )

        times, outputs = timed_rounds(commands, args.runs, show, cpu)
        ours, grep = times["ours"], times["grep"]
        ours_out, grep_out = outputs["ours"], outputs["grep"]
        print(f"load average after:  {load()}")
        keys = same_user_keys(grep_out, ours_out)
        print(f"same user keys: {len(keys):,} distinct, {sum(keys.values()):,} mentions")
        o, g = statistics.median(ours), statistics.median(grep)
        ratios = [a / b for a, b in zip(ours, grep, strict=True)]
        print(
            f"median: cachediag {o:.2f} s ({size / o / 1e6:.0f} MB/s), grep pipeline "
            f"{g:.2f} s, ratio {o / g:.2f} (median of the runs' ratios "
            f"{statistics.median(ratios):.2f}; target <= 5)"
        )
        if args.ref:
            r = statistics.median(times["ref"])
            print(f"median {args.ref}: {r:.2f} s, ratio {r / g:.2f}")
            same_user_keys(grep_out, outputs["ref"])
        print(cpu_summary(cpu, args.ref))
        rss = peak_rss_mb(ours_cmd)
        if rss is not None:
            print(f"cachediag peak RSS (largest process): {rss:.0f} MB")
    finally:
        if args.ref and package is not None:
            shutil.rmtree(package, ignore_errors=True)
        if workdir is not None and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        elif workdir is not None:
            print(f"kept {log}")


if __name__ == "__main__":
    main()
