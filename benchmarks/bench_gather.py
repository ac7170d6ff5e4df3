"""`cachediag gather` wall time: every target up, and with a hung target (issue 13).

Targets: every target up on this machine, under 10 s; with a target that accepts and
never answers, under 10 s plus --timeout. A Redis with 10,000 keys and a slow log full
(slowlog-log-slower-than 0), a Memcached, and a 50,000-line application log.

    .venv/bin/python benchmarks/bench_gather.py [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import timed
from servers import SilentServer, start_memcached, start_redis

CACHEDIAG = str(Path(sys.executable).parent / "cachediag")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        redis = start_redis(work / "redis", password="bench-pass")
        memcached = start_memcached()
        hung = SilentServer()
        try:
            redis.cli("DEBUG", "POPULATE", "10000", "user")
            redis.cli("CONFIG", "SET", "slowlog-log-slower-than", "0")
            now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            log = work / "app.log"
            log.write_text(f"{now} WARN cache miss for user:1 password=x\n" * 50_000)
            out = work / "out"
            out.mkdir()
            base = [CACHEDIAG, "gather", "--redis", redis.url, "--memcached", memcached.address]
            base += ["--log", str(log), "-o", str(out)]
            cases = {
                "all up": base,
                "hung Redis, --timeout 2": [
                    *base, "--redis", f"redis://127.0.0.1:{hung.port}", "--timeout", "2"
                ],
            }  # fmt: skip
            for name, cmd in cases.items():
                walls, peaks = [], []
                for _ in range(args.runs):
                    wall, peak, _, _ = timed(cmd)
                    walls.append(wall)
                    peaks.append(peak)
                print(
                    f"{name:<26} median {statistics.median(walls):.2f} s "
                    f"(min {min(walls):.2f}, max {max(walls):.2f}), "
                    f"peak RSS {max(peaks) / 1024:.1f} MB"
                )
            sizes = sorted(p.stat().st_size for p in out.glob("*.tar.gz"))
            print(f"bundles: {len(sizes)}, {sizes[0]:,} to {sizes[-1]:,} bytes")
        finally:
            hung.close()
            memcached.stop()
            redis.stop()


if __name__ == "__main__":
    main()
