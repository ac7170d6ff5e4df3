"""A full Memcached scan: `cachediag bigkeys --max-keys 0` vs memcached-tool's `dump`, same run.

Target (issue 5): on 200,000 items, cachediag's full scan takes at most 1/10 of the
wall time of memcached-tool's dump. Both list keys with `lru_crawler metadump`;
memcached-tool then fetches every value with one `get` per key, cachediag reads
the crawler's metadata (key, exp, last access, slab class, size) and nothing more.

    .venv/bin/python benchmarks/bench_memcached_scan.py [--items 200000] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import timed
from servers import start_memcached

CACHEDIAG = str(Path(sys.executable).parent / "cachediag")
TOOL_PATHS = ("/usr/share/memcached/scripts/memcached-tool", "/usr/bin/memcached-tool")


def find_tool() -> str:
    for path in (shutil.which("memcached-tool"), *TOOL_PATHS):
        if path and Path(path).exists():
            return path
    raise SystemExit(
        "memcached-tool not found (Debian: /usr/share/memcached/scripts/memcached-tool)"
    )


def populate(port: int, items: int) -> None:
    """`items` values of 50 B to 2 KB in a few namespaces, written with noreply in bulk."""
    rng = random.Random(5)
    prefixes = ("user", "session", "product", "order:items")
    with socket.create_connection(("127.0.0.1", port)) as sock:
        chunk: list[bytes] = []
        for i in range(items):
            size = rng.choice((50, 120, 300, 700, 2000))
            key = f"{prefixes[i % len(prefixes)]}:{i}".encode()
            ttl = 0 if i % 3 else 3600
            chunk.append(b"set %b 0 %d %d noreply\r\n%b\r\n" % (key, ttl, size, b"v" * size))
            if len(chunk) == 5000:
                sock.sendall(b"".join(chunk))
                chunk = []
        sock.sendall(b"".join(chunk) + b"mn\r\n")
        buffer = b""
        while not buffer.endswith(b"MN\r\n"):
            buffer += sock.recv(1 << 16)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    tool = find_tool()
    server = start_memcached("-m", "1024")
    try:
        populate(server.port, args.items)
        time.sleep(2)  # let the LRU maintainer settle: the crawler skips items it is moving
        version = subprocess.run(
            [tool, server.address, "stats"], capture_output=True, text=True
        ).stdout
        version = next(
            (line.split()[-1] for line in version.splitlines() if " version " in line), "?"
        )
        print(f"memcached {version}, {args.items:,} items; memcached-tool at {tool}")
        ours_cmd = [
            CACHEDIAG,
            "bigkeys",
            "--memcached",
            server.address,
            "--max-keys",
            "0",
            "--json",
        ]
        tool_times, ours_times, rss = [], [], []
        dumped = reported = 0
        for _ in range(args.runs):
            elapsed, _, _, dumped = timed(["perl", tool, server.address, "dump"])
            tool_times.append(elapsed)
            elapsed, peak, out, _ = timed(ours_cmd)
            ours_times.append(elapsed)
            rss.append(peak)
            target = json.loads(out)["targets"][0]
            reported = target["totals"]["keys"]
    finally:
        server.stop()
    print(
        f"memcached-tool dump dumped {dumped:,} items; cachediag reported {reported:,} "
        f"({target['scan']['method']}, complete={target['complete']})"
    )
    for label, values in (
        ("memcached-tool dump", tool_times),
        ("cachediag bigkeys --max-keys 0", ours_times),
    ):
        print(
            f"{label:<32} median {statistics.median(values):6.2f} s   min {min(values):6.2f} s   "
            f"max {max(values):6.2f} s   ({len(values)} runs)"
        )
    ratio = statistics.median(ours_times) / statistics.median(tool_times)
    print(f"cachediag / memcached-tool dump = {ratio:.3f}  (target ≤ 0.10)")
    print(f"cachediag peak RSS: max {max(rss) / 1024:.1f} MB")


if __name__ == "__main__":
    main()
