"""`cachediag logs --json` on a gzip'd log against the guide's pipeline run through zgrep.

Issue 16: on a 1 GiB log, gzip'd, `cachediag logs --json app.log.gz` must take at most
1.5x the wall time of the same pipeline on the same file with `zgrep`, in the same run:

    zgrep -i serialization app.log.gz | grep -o "user:[0-9]*" | sort | uniq -c

Usage:
    .venv/bin/python benchmarks/bench_logs_gz.py [--size-mb 1024] [--runs 5] [--file LOG.gz]
        [--keep]

The log is bench_logs.py's (the same generator and seed: 0.5 % error lines), compressed by
`gzip -6` (gzip's default, what logrotate writes). Per run three commands are timed, in a
rotating order: zgrep's pipeline, cachediag, and cachediag with CACHEDIAG_NO_ISAL=1 (the
stdlib's zlib, as without the isal wheel); all must find the same user keys.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_logs import (
    CPU_LOG,
    cachediag_command,
    generate,
    load,
    peak_rss_mb,
    same_user_keys,
    timed,
)

ZGREP_PIPELINE = 'zgrep -i serialization {log} | grep -o "user:[0-9]*" | sort | uniq -c'


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024, help="uncompressed size (MiB)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--file", type=Path, help="use this .gz instead of generating one")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    args = parser.parse_args()
    workdir = None
    if args.file:
        log = args.file
    else:
        workdir = Path(tempfile.mkdtemp(prefix="bench_logs_gz_"))
        plain = workdir / "app.log"
        t0 = time.perf_counter()
        size, lines = generate(plain, args.size_mb << 20)
        subprocess.run(["gzip", "-6", str(plain)], check=True)
        log = workdir / "app.log.gz"
        print(
            f"generated {log}: {size / 2**20:,.0f} MiB in {lines:,} lines, "
            f"{log.stat().st_size / 2**20:,.0f} MiB gzip'd, in {time.perf_counter() - t0:.0f} s"
        )
        os.sync()
    try:
        with open(log, "rb") as handle:  # into the page cache, for all alike
            while handle.read(16 << 20):
                pass
        zgrep_cmd = ["bash", "-c", ZGREP_PIPELINE.format(log=log)]
        ours_cmd = cachediag_command(log)
        commands = {
            "zgrep pipeline": (zgrep_cmd, None),
            "cachediag logs --json": (ours_cmd, None),
            "cachediag, zlib (no isal)": (ours_cmd, {"CACHEDIAG_NO_ISAL": "1"}),
        }
        print(f"zgrep:     {ZGREP_PIPELINE.format(log=log)}")
        print(f"cachediag: {' '.join(ours_cmd)}")
        print(f"load average before: {load()}  (2-core machine, shared)")
        times: dict[str, list[float]] = {name: [] for name in commands}
        cpu: dict[str, list[float]] = {name: [] for name in commands}
        outputs: dict[str, str] = {}
        names = list(commands)
        for i in range(args.runs):
            order = names[i % 3 :] + names[: i % 3]
            for name in order:
                cmd, env = commands[name]
                elapsed, outputs[name] = timed(cmd, env)
                times[name].append(elapsed)
                cpu[name].append(CPU_LOG[-1])
            z = times["zgrep pipeline"][-1]
            print(
                f"run {i + 1}: "
                + "   ".join(
                    f"{name} {times[name][-1]:.2f} s"
                    + ("" if name.startswith("zgrep") else f" ({times[name][-1] / z:.2f}x)")
                    for name in names
                )
            )
        print(f"load average after:  {load()}")
        keys = same_user_keys(outputs["zgrep pipeline"], outputs["cachediag logs --json"])
        same_user_keys(outputs["zgrep pipeline"], outputs["cachediag, zlib (no isal)"])
        engines = [json.loads(outputs[n])["engine"]["gzip"] for n in names[1:]]
        print(f"same user keys: {len(keys):,} distinct; inflaters: {engines}")
        z = statistics.median(times["zgrep pipeline"])
        for name in names:
            m = statistics.median(times[name])
            tail = "" if name.startswith("zgrep") else f", ratio {m / z:.2f} (target <= 1.5)"
            print(f"median {name}: {m:.2f} s{tail}")
        zc = statistics.median(cpu["zgrep pipeline"])
        print(
            "median CPU time (user + system, all processes): "
            + ", ".join(
                f"{name} {statistics.median(cpu[name]):.2f} s"
                + (
                    ""
                    if name.startswith("zgrep")
                    else f" ({statistics.median(cpu[name]) / zc:.2f}x)"
                )
                for name in names
            )
        )
        rss = peak_rss_mb(ours_cmd)
        if rss is not None:
            print(f"cachediag peak RSS (largest process): {rss:.0f} MB")
    finally:
        if workdir is not None and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        elif workdir is not None:
            print(f"kept {log}")


if __name__ == "__main__":
    main()
