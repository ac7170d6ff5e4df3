"""`cachediag purge` against the shell pipelines it replaces, in the same run (issue 12).

Redis: 1,000,000 keys matching `user:*` among 1,200,000 (DEBUG POPULATE), re-populated
before each method, one method after another, interleaved over the runs:
  - guide: `redis-cli KEYS 'user:*' | xargs redis-cli DEL` (Solution 4A as written);
  - kb:    `redis-cli --scan --pattern 'user:*' | xargs -L 1000 redis-cli unlink`;
  - purge: `cachediag purge --redis URL --pattern 'user:*' --yes`;
  - purge --backup FILE.
During each, a client sends PING every millisecond and keeps its worst round trip;
INFO's used_cpu_sys + used_cpu_user before and after give the server's CPU time.
Targets: purge ≤ guide, ≤ 0.5 × kb; worst PING during purge ≤ 10 ms; purge wall ≤ 1.3 ×
the server CPU it caused; purge --backup ≤ 2.5 × purge.

Memcached (--memcached-items, 20 % matching): `cachediag purge --pattern 'user:*' --yes`
against memcached-tool's dump followed by one `delete` per matching key (one
connection, a round trip each, as a script reading the dump would). Target ≤ 0.2×.

    .venv/bin/python benchmarks/bench_purge.py [--keys 1000000] [--others 200000] [--runs 1]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from servers import memcached_tool, start_memcached, start_redis

CACHEDIAG = str(Path(sys.executable).parent / "cachediag")
SHORT = {
    "guide: KEYS | xargs DEL": "guide",
    "kb: --scan | xargs -L 1000 unlink": "kb",
    "cachediag purge": "purge",
    "cachediag purge --backup": "backup",
}


class Pinger:
    """PING every millisecond on its own connection; the worst round trip seen."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.worst = 0.0
        self.count = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.perf_counter()
            self.sock.sendall(b"PING\r\n")
            reply = b""
            while not reply.endswith(b"\r\n"):
                reply += self.sock.recv(64)
            self.worst = max(self.worst, time.perf_counter() - started)
            self.count += 1
            time.sleep(0.001)

    def __enter__(self) -> Pinger:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


def purge_command(url: str) -> list[str]:
    return [CACHEDIAG, "purge", "--redis", url, "--pattern", "user:*", "--yes", "--json"]


def cpu(server) -> float:
    info = server.cli("INFO", "cpu")
    fields = dict(line.split(":", 1) for line in info.split() if ":" in line)
    return float(fields["used_cpu_sys"]) + float(fields["used_cpu_user"])


def populate(server, keys: int, others: int) -> None:
    server.cli("FLUSHALL")
    server.cli("DEBUG", "POPULATE", str(keys), "user")
    server.cli("DEBUG", "POPULATE", str(others), "other")
    assert int(server.cli("DBSIZE")) == keys + others


def commandstats(server) -> dict[str, tuple[int, float]]:
    """INFO commandstats: calls and usec per command name."""
    stats = {}
    for line in server.cli("INFO", "commandstats").split():
        if line.startswith("cmdstat_"):
            name, rest = line[len("cmdstat_") :].split(":", 1)
            fields = dict(part.split("=", 1) for part in rest.split(","))
            stats[name] = (int(fields["calls"]), float(fields["usec"]))
    return stats


def measure(server, command: str | list[str]) -> dict[str, float]:
    server.cli("CONFIG", "RESETSTAT")
    before = cpu(server)
    with Pinger(server.port) as pinger:
        started = time.perf_counter()
        proc = subprocess.run(
            command, shell=isinstance(command, str), capture_output=True, check=False
        )
        wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{command} exited {proc.returncode}: {proc.stderr[-400:]!r}")
    paused = pauses = 0.0
    if proc.stdout.startswith(b"{"):
        report = json.loads(proc.stdout)["targets"][0]["purge"]
        paused, pauses = report["paused_s"], report["pauses"]
    stats = commandstats(server)
    return {
        "commands_s": sum(usec for name, (_, usec) in stats.items() if name != "ping") / 1e6,
        "stats": stats,  # type: ignore[dict-item]
        "paused_s": paused,
        "pauses": pauses,
        "wall": wall,
        "cpu": cpu(server) - before,
        "ping_worst_ms": pinger.worst * 1000,
        "pings": pinger.count,
        "left": int(server.cli("DBSIZE")),
    }


def redis_bench(args: argparse.Namespace, tmp: Path) -> None:
    server = start_redis(tmp / "redis", "--enable-debug-command", "yes")
    try:
        version = server.cli("INFO", "server").split("redis_version:")[1].split()[0]
        cli = f"redis-cli -p {server.port}"
        methods: dict[str, str | list[str]] = {
            "guide: KEYS | xargs DEL": f"{cli} KEYS 'user:*' | xargs {cli} DEL > /dev/null",
            "kb: --scan | xargs -L 1000 unlink": (
                f"{cli} --scan --pattern 'user:*' | xargs -L 1000 {cli} unlink > /dev/null"
            ),
            "cachediag purge": purge_command(server.url),
            "cachediag purge --backup": [],
        }
        if args.methods:
            wanted = args.methods.split(",")
            methods = {n: c for n, c in methods.items() if SHORT[n] in wanted}
        results: dict[str, list[dict[str, float]]] = {name: [] for name in methods}
        for run in range(args.runs):
            for name, command in methods.items():
                if name == "cachediag purge --backup":
                    backup = tmp / f"backup-{run}.bin"
                    command = [*purge_command(server.url), "--backup", str(backup)]
                populate(server, args.keys, args.others)
                result = measure(server, command)
                assert result["left"] == args.others, (name, result)
                results[name].append(result)
                load = os.getloadavg()[0]
                print(
                    f"  run {run + 1} {name}: {result['wall']:.2f} s "
                    f"(paused {result['paused_s']:.2f} s; load average {load:.1f})",
                    flush=True,
                )
        print(
            f"redis-server {version}, {args.keys:,} keys matching user:* among "
            f"{args.keys + args.others:,}, {args.runs} run(s)"
        )
        med = {
            n: {k: statistics.median(r[k] for r in rs) for k in rs[0] if k != "stats"}
            for n, rs in results.items()
        }
        stats = {n: rs[-1]["stats"] for n, rs in results.items()}
        for name, m in med.items():
            print(
                f"{name:<36} wall {m['wall']:6.2f} s  server CPU {m['cpu']:5.2f} s  "
                f"commands {m['commands_s']:5.2f} s  "
                f"worst PING {m['ping_worst_ms']:7.1f} ms ({m['pings']:.0f} pings)"
                + (f"  paused {m['paused_s']:.2f} s ({m['pauses']:.0f})" if "purge" in name else "")
            )
        if args.commandstats:
            for name, per in stats.items():
                print(f"  {name}: INFO commandstats (last run)")
                for command, (calls, usec) in sorted(per.items(), key=lambda kv: -kv[1][1]):
                    print(
                        f"    {command:<10} {calls:>8,} calls {usec / 1e6:7.3f} s "
                        f"{usec / max(calls, 1):9.1f} usec/call"
                    )
        purge = med.get("cachediag purge")
        guide = med.get("guide: KEYS | xargs DEL")
        kb = med.get("kb: --scan | xargs -L 1000 unlink")
        backup = med.get("cachediag purge --backup")
        if purge and guide:
            print(f"purge / guide            = {purge['wall'] / guide['wall']:.2f}  (target ≤ 1)")
        if purge and kb:
            print(f"purge / kb               = {purge['wall'] / kb['wall']:.2f}  (target ≤ 0.5)")
        if purge:
            print(
                f"purge worst PING         = {purge['ping_worst_ms']:.1f} ms  (target ≤ 10 ms"
                + (f"; guide: {guide['ping_worst_ms']:.1f} ms)" if guide else ")")
            )
            print(f"purge wall / server CPU  = {purge['wall'] / purge['cpu']:.2f}  (target ≤ 1.3)")
        if purge and backup:
            print(
                f"purge --backup / purge   = {backup['wall'] / purge['wall']:.2f}  (target ≤ 2.5)"
            )
    finally:
        server.stop()


def memcached_fill(port: int, items: int, matching: int) -> None:
    sock = socket.create_connection(("127.0.0.1", port))
    value = b"v" * 20
    batch = []
    for i in range(items):
        key = b"user:%d" % i if i < matching else b"other:%d" % i
        batch.append(b"ms %s %d q\r\n%s\r\n" % (key, len(value), value))
        if len(batch) == 5000:
            sock.sendall(b"".join(batch))
            batch = []
    sock.sendall(b"".join(batch) + b"mn\r\n")
    reply = b""
    while not reply.endswith(b"MN\r\n"):
        reply += sock.recv(65536)
    sock.close()


def memcached_tool_delete(tool: str, address: str, port: int) -> tuple[float, int]:
    """memcached-tool ADDR dump, then `delete KEY` for each matching key, one round trip each."""
    started = time.perf_counter()
    dump = subprocess.run(["perl", tool, address, "dump"], capture_output=True, check=True).stdout
    keys = [line.split()[1] for line in dump.split(b"\n") if line.startswith(b"add user:")]
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for key in keys:
        sock.sendall(b"delete " + key + b"\r\n")
        reply = b""
        while not reply.endswith(b"\r\n"):
            reply += sock.recv(64)
    sock.close()
    return time.perf_counter() - started, len(keys)


def memcached_bench(args: argparse.Namespace) -> None:
    tool = memcached_tool()
    if tool is None:
        print("memcached-tool not found: Memcached comparison skipped")
        return
    matching = args.memcached_items // 5
    times: dict[str, list[float]] = {"memcached-tool dump + delete": [], "cachediag purge": []}
    for _ in range(args.runs):
        for name in times:
            server = start_memcached("-m", "1024")
            try:
                memcached_fill(server.port, args.memcached_items, matching)
                time.sleep(2)  # the LRU maintainer settles (see the memcached scan benchmark)
                if name == "cachediag purge":
                    started = time.perf_counter()
                    out = subprocess.run(
                        [
                            CACHEDIAG,
                            "purge",
                            "--memcached",
                            server.address,
                            "--pattern",
                            "user:*",
                            "--yes",
                            "--json",
                        ],
                        capture_output=True,
                        check=True,
                    ).stdout
                    wall = time.perf_counter() - started
                    deleted = json.loads(out)["targets"][0]["purge"]["deleted"]
                else:
                    wall, deleted = memcached_tool_delete(tool, server.address, server.port)
                times[name].append(wall)
                load = os.getloadavg()[0]
                print(f"  {name}: {wall:.2f} s, {deleted:,} deleted (load {load:.1f})", flush=True)
            finally:
                server.stop()
    print(f"memcached, {args.memcached_items:,} items, {matching:,} matching user:*")
    for name, values in times.items():
        print(f"{name:<30} median {statistics.median(values):6.2f} s")
    ratio = statistics.median(times["cachediag purge"]) / statistics.median(
        times["memcached-tool dump + delete"]
    )
    print(f"purge / memcached-tool dump + delete = {ratio:.3f}  (target ≤ 0.2)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--others", type=int, default=200_000)
    parser.add_argument("--memcached-items", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--only", choices=["redis", "memcached"])
    parser.add_argument(
        "--methods", help="comma-separated subset of guide,kb,purge,backup (default: all)"
    )
    parser.add_argument(
        "--commandstats", action="store_true", help="print INFO commandstats of each method"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.only != "memcached":
            redis_bench(args, Path(tmp))
        if args.only != "redis":
            memcached_bench(args)


if __name__ == "__main__":
    main()
