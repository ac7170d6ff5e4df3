"""`cachediag bigkeys --max-keys 0` against `redis-cli --bigkeys` and `--memkeys`, same run.

Targets (issue 5), on 1,000,000 keys (DEBUG POPULATE plus a few thousand hashes and
lists and one 5 MB string):
  - cachediag's wall time at most 1/4 of redis-cli --bigkeys (cachediag reports memory
    and element counts in one scan; redis-cli needs --bigkeys and --memkeys, so both
    are timed and both ratios reported);
  - cachediag's peak RSS at most 150 MB;
  - no command cachediag sends in SLOWLOG above 10 ms.

    .venv/bin/python benchmarks/bench_bigkeys.py [--keys 1000000] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import timed
from servers import start_redis

CACHEDIAG = str(Path(sys.executable).parent / "cachediag")


def populate(server, keys: int) -> None:
    server.cli("DEBUG", "POPULATE", str(keys))
    # A few thousand hashes (20 fields) and lists (50 elements) and one 5 MB string.
    script = (
        "for i=1,3000 do "
        "  local h = {} for f=1,20 do h[#h+1]='f'..f h[#h+1]=string.rep('v',f*5) end "
        "  redis.call('HSET','hash:'..i,unpack(h)) "
        "  local l = {} for e=1,50 do l[#l+1]='element'..e end "
        "  redis.call('RPUSH','list:'..i,unpack(l)) "
        "end "
        "redis.call('SET','blob:5mb',string.rep('b',5*1024*1024)) return 1"
    )
    server.cli("EVAL", script, "0")


def slowlog(server) -> list[str]:
    """The commands SLOWLOG holds (each logged command's name), empty when none was slow."""
    if int(server.cli("SLOWLOG", "LEN")) == 0:
        return []
    return [line for line in server.cli("SLOWLOG", "GET", "128").splitlines() if line.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    redis_cli = shutil.which("redis-cli")
    assert redis_cli, "redis-cli is not installed"
    with tempfile.TemporaryDirectory() as tmp:
        server = start_redis(Path(tmp), "--enable-debug-command", "yes")
        try:
            populate(server, args.keys)
            dbsize = int(server.cli("DBSIZE"))
            version = server.cli("INFO", "server").split("redis_version:")[1].split()[0]
            used = server.cli("INFO", "memory").split("used_memory_human:")[1].split()[0]
            print(f"redis-server {version}, {dbsize:,} keys, {used} used")
            server.cli("CONFIG", "SET", "slowlog-log-slower-than", "10000")
            base = [redis_cli, "-p", str(server.port)]
            ours = [CACHEDIAG, "bigkeys", "--redis", server.url, "--max-keys", "0", "--json"]
            times: dict[str, list[float]] = {"bigkeys": [], "memkeys": [], "cachediag": []}
            rss: list[int] = []
            slow: list[str] = []
            document = None
            for _ in range(args.runs):  # interleaved, so drifting load hits all three alike
                times["bigkeys"].append(timed([*base, "--bigkeys"])[0])
                times["memkeys"].append(timed([*base, "--memkeys"])[0])
                server.cli("SLOWLOG", "RESET")
                elapsed, peak, out, _ = timed(ours)
                slow += slowlog(server)
                times["cachediag"].append(elapsed)
                rss.append(peak)
                document = json.loads(out)
        finally:
            server.stop()

    assert document is not None
    target = document["targets"][0]
    print(
        f"cachediag reported {target['totals']['keys']:,} keys, complete={target['complete']}, "
        f"{target['scan']['round_trips']} round trips, "
        f"{target['scan']['misguesses']} re-inspected, "
        f"top key {target['top'][0]['key']} ({target['top'][0]['bytes']:,} B)"
    )
    for name, label in (
        ("bigkeys", "redis-cli --bigkeys"),
        ("memkeys", "redis-cli --memkeys"),
        ("cachediag", "cachediag bigkeys --max-keys 0"),
    ):
        values = times[name]
        print(
            f"{label:<32} median {statistics.median(values):6.2f} s   min {min(values):6.2f} s   "
            f"max {max(values):6.2f} s   ({len(values)} runs)"
        )
    ours_median = statistics.median(times["cachediag"])
    bigkeys_median = statistics.median(times["bigkeys"])
    both = bigkeys_median + statistics.median(times["memkeys"])
    ratio = ours_median / bigkeys_median
    print(f"cachediag / redis-cli --bigkeys            = {ratio:.3f}  (target ≤ 0.25)")
    print(f"cachediag / (redis-cli --bigkeys + --memkeys) = {ours_median / both:.3f}")
    print(
        f"cachediag peak RSS: max {max(rss) / 1024:.1f} MB over {len(rss)} runs  (target ≤ 150 MB)"
    )
    print(
        "SLOWLOG during cachediag runs (threshold 10 ms): "
        + ("empty" if not slow else "\n" + "\n".join(slow[:40]))
    )


if __name__ == "__main__":
    main()
