"""Benchmark `cachediag logs --json` against the guide's grep pipeline on the same log.

Issue 3: on a 1 GB log, `cachediag logs` (every category at once) must take at most 2x the
wall time of the guide's Issue 4 Step 2 pipeline on the same file, in the same run:

    grep -i serialization app.log | grep -o "user:[0-9]*" | sort | uniq -c

Usage:
    .venv/bin/python benchmarks/bench_logs.py [--size-mb 1024] [--runs 3] [--keep] [--file LOG]

The script writes a realistic log of --size-mb MiB in a temporary directory (mostly INFO
request lines and cache-kit DEBUG "Cache HIT/MISS" lines, "Cache miss, falling back to
database", SQL lines, and a small fraction of serialization errors naming user:<id> keys,
version mismatches, pool exhaustion, backend-unavailable-with-fallback and timeouts),
reads it once to have it in the page cache, then per run times both commands (wall clock,
alternating which goes first), checks that both found the same user keys, prints the
figures and the ratio, and deletes the file (unless --keep). It writes nothing else.

`cachediag logs` runs as the installed console script when there is one next to this
Python, otherwise as `python -c "import typer; from cachediag.cli.commands.logs import logs;
app = typer.Typer(); app.command()(logs); app()" --json LOG` (the same command function,
the same Python startup and imports).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
GREP_PIPELINE = 'grep -i serialization {log} | grep -o "user:[0-9]*" | sort | uniq -c'
CLI_SNIPPET = (
    "import typer; from cachediag.cli.commands.logs import logs; "
    "app = typer.Typer(); app.command()(logs); app()"
)


def generate(path: Path, size_bytes: int, seed: int = 7) -> tuple[int, int]:
    """Write about `size_bytes` of log; returns (bytes, lines)."""
    rnd = random.Random(seed)
    start = 1705313025.0  # 2024-01-15T10:03:45Z
    rate = 400.0  # lines per second
    routes = [
        "/api/users/{}",
        "/api/orders/{}",
        "/api/products/prod_{}",
        "/healthz",
        "/api/carts/{}/items",
    ]
    written = lines = 0
    stamp_cache: dict[int, str] = {}
    with open(path, "wb") as handle:
        while written < size_bytes:
            block: list[str] = []
            for _ in range(20_000):
                lines += 1
                t = start + lines / rate
                sec = int(t)
                prefix = stamp_cache.get(sec)
                if prefix is None:
                    stamp_cache.clear()
                    prefix = stamp_cache[sec] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
                ts = f"{prefix}.{int((t - sec) * 1e6):06d}Z"
                r = rnd.random()
                uid = rnd.randint(1, 50_000)
                if r < 0.50:
                    route = rnd.choice(routes).format(uid)
                    block.append(
                        f"{ts}  INFO http_request{{method=GET path={route} "
                        f"request_id={rnd.getrandbits(32):08x}}}: app::routes: request completed "
                        f"status=200 latency_ms={rnd.randint(1, 250)}"
                    )
                elif r < 0.72:
                    block.append(
                        f"{ts} DEBUG cache_kit::expander: Cache HIT: user:{uid} "
                        f"took {rnd.randint(80, 900)}µs"
                    )
                elif r < 0.86:
                    block.append(
                        f"{ts} DEBUG cache_kit::expander: Cache MISS: product:prod_{uid} "
                        f"took {rnd.randint(1, 9)}.{rnd.randint(0, 9)}ms"
                    )
                elif r < 0.93:
                    block.append(
                        f"{ts} DEBUG cache_kit::expander: Cache miss, falling back to database"
                    )
                elif r < 0.995:
                    block.append(
                        f"{ts}  INFO sqlx::query: SELECT id, name, email FROM users WHERE id = $1 "
                        f"rows_returned=1 elapsed={rnd.randint(1, 40)}.{rnd.randint(0, 9)}ms"
                    )
                elif r < 0.997:
                    block.append(
                        f"{ts} ERROR cache_kit::expander: Cache deserialization failed: "
                        f"Deserialization error: unexpected end of input key=user:{uid % 500}"
                    )
                elif r < 0.998:
                    block.append(
                        f"{ts}  WARN app::cache: Serialization failed for user:{uid % 500}: "
                        "Unsupported type"
                    )
                elif r < 0.9985:
                    block.append(
                        f"{ts} ERROR app::db: Connection pool exhausted: 10 active, "
                        f"{rnd.randint(1, 40)} waiting"
                    )
                elif r < 0.9992:
                    block.append(
                        f"{ts}  WARN app::cache: Cache backend unavailable: Connection refused "
                        "(os error 111), using fallback"
                    )
                elif r < 0.9997:
                    block.append(
                        f"{ts}  WARN cache_kit::expander: Cache ERROR for session:{uid}: "
                        "Timeout: operation timed out after 5000ms"
                    )
                else:
                    block.append(
                        f"{ts}  WARN cache_kit::expander: Cache version mismatch: expected 1, "
                        f"got 2 key=product:prod_{uid % 300}"
                    )
            data = ("\n".join(block) + "\n").encode()
            handle.write(data)
            written += len(data)
    return written, lines


def cachediag_command(log: Path) -> list[str]:
    """The installed console script if it has the `logs` command, else the same via -c."""
    script = Path(sys.executable).with_name("cachediag")
    if script.exists():
        probe = subprocess.run([str(script), "logs", "--help"], capture_output=True, check=False)
        if probe.returncode == 0:
            return [str(script), "logs", "--json", str(log)]
    return [sys.executable, "-c", CLI_SNIPPET, "--json", str(log)]


def children_cpu() -> float:
    """CPU seconds (user + system) of the children waited for so far, theirs included."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# CPU seconds of each command `timed` ran, in order: on a shared machine the wall clock
# of a two-process scan swings with the others' load, its CPU time much less.
CPU_LOG: list[float] = []


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, str]:
    cpu = children_cpu()
    started = time.perf_counter()
    run = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        env={**os.environ, **env} if env else None,
    )
    elapsed = time.perf_counter() - started
    CPU_LOG.append(children_cpu() - cpu)
    if run.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed ({run.returncode}): {run.stderr.strip()}")
    return elapsed, run.stdout


def peak_rss_mb(cmd: list[str], env: dict[str, str] | None = None) -> float | None:
    """Peak resident memory of the command's largest process, in MB (None where the
    system's resource report is not available)."""
    reporter = Path("/usr/bin/time")
    if not reporter.exists():
        return None
    with tempfile.NamedTemporaryFile("r") as out:
        subprocess.run(
            [str(reporter), "-o", out.name, "-f", "%M", *cmd],
            capture_output=True,
            cwd=ROOT,
            check=True,
            env={**os.environ, **env} if env else None,
        )
        return int(out.read().split()[-1]) / 1024


def ref_package(ref: str) -> Path:
    """The `cachediag/` package of git revision `ref`, in a temporary directory (to time
    the code before a change in the same run as after it)."""
    where = Path(tempfile.mkdtemp(prefix="bench_logs_ref_"))
    archive = subprocess.run(
        ["git", "archive", ref, "cachediag"], cwd=ROOT, capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(where)], input=archive.stdout, check=True)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(where)], check=True)
    return where


def ref_command(package: Path, log: Path) -> tuple[list[str], dict[str, str]]:
    """`cachediag logs --json LOG` run from that package (the same interpreter)."""
    # (first on sys.path: `python -c` would otherwise find this tree's package in its cwd)
    code = (
        f"import sys; sys.path.insert(0, {str(package)!r}); "
        "from cachediag.cli.app import main; main()"
    )
    return [sys.executable, "-c", code, "logs", "--json", str(log)], {}


def timed_rounds(
    commands: list[tuple[str, list[str], dict[str, str] | None]],
    runs: int,
    show: Any,
    cpu: dict[str, list[float]] | None = None,
) -> tuple[dict[str, list[float]], dict[str, str]]:
    """Each command once per run, the order rotating from run to run; `show(i, times)`
    after each run. `cpu`, if given, gets each command's CPU seconds per run."""
    times: dict[str, list[float]] = {name: [] for name, _c, _e in commands}
    outputs: dict[str, str] = {}
    for i in range(runs):
        k = i % len(commands)
        for name, cmd, env in commands[k:] + commands[:k]:
            elapsed, outputs[name] = timed(cmd, env)
            times[name].append(elapsed)
            if cpu is not None:
                cpu.setdefault(name, []).append(CPU_LOG[-1])
        show(i, times)
    return times, outputs


def cpu_summary(cpu: dict[str, list[float]], ref: str | None = None) -> str:
    """Median CPU seconds of each command and cachediag's ratio to grep's."""
    med = {name: statistics.median(values) for name, values in cpu.items()}
    names = {"grep": "grep pipeline", "ours": "cachediag", "ref": ref or "ref"}
    parts = [f"{names.get(n, n)} {v:.2f} s" for n, v in med.items()]
    ratios = [a / b for a, b in zip(cpu["ours"], cpu["grep"], strict=True)]
    return (
        "median CPU time (user + system, all processes): "
        + ", ".join(parts)
        + f"; ratio {med['ours'] / med['grep']:.2f} (median of the runs' "
        f"{statistics.median(ratios):.2f})"
    )


def same_user_keys(grep_out: str, report_json: str) -> dict[str, int]:
    """The grep pipeline's `uniq -c` output, checked against cachediag's user namespace."""
    grep_keys = {}
    for row in grep_out.split("\n"):
        if row.strip():
            count, key = row.split()
            grep_keys[key] = int(count)
    report = json.loads(report_json)
    user = next((n for n in report["keys"]["namespaces"] if n["namespace"] == "user"), None)
    assert user is not None, "cachediag found no user keys"
    assert user["mentions"] == sum(grep_keys.values()), (user, sum(grep_keys.values()))
    if not report["keys"]["truncated"]:  # (past the cap, a key pruned and seen again counts twice)
        assert user["distinct_keys"] == len(grep_keys), (user, len(grep_keys))
    return grep_keys


def load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:  # pragma: no cover
        return "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024, help="size of the generated log (MiB)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the generated log")
    parser.add_argument("--file", type=Path, help="use this log instead of generating one")
    parser.add_argument("--dir", type=Path, help="where to write the log (default: a temp dir)")
    parser.add_argument("--ref", help="also time this git revision's cachediag, same run")
    args = parser.parse_args()

    workdir = None
    if args.file:
        log = args.file
    else:
        workdir = Path(tempfile.mkdtemp(prefix="bench_logs_", dir=args.dir))
        log = workdir / "app.log"
        t0 = time.perf_counter()
        size, lines = generate(log, args.size_mb << 20)
        took = time.perf_counter() - t0
        print(f"generated {log}: {size / 2**20:,.0f} MiB, {lines:,} lines in {took:.0f} s")
        # A fresh GiB is dirty page cache: write it back now, not while the tools run.
        t0 = time.perf_counter()
        os.sync()
        print(f"flushed to disk in {time.perf_counter() - t0:.1f} s")
    try:
        with open(log, "rb") as handle:  # into the page cache, for both tools alike
            while handle.read(16 << 20):
                pass
        grep_cmd = ["bash", "-c", GREP_PIPELINE.format(log=log)]
        ours_cmd = cachediag_command(log)
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
            extra = f"   {args.ref} {times['ref'][-1]:.3f} s" if args.ref else ""
            print(
                f"run {i + 1}: grep pipeline {g:.3f} s   cachediag logs --json {o:.3f} s   "
                f"ratio {o / g:.2f}{extra}   (CPU: grep {cpu['grep'][-1]:.2f} s, "
                f"cachediag {cpu['ours'][-1]:.2f} s)"
            )

        times, outputs = timed_rounds(commands, args.runs, show, cpu)
        grep_times, ours_times = times["grep"], times["ours"]
        grep_out, ours_out = outputs["grep"], outputs["ours"]
        print(f"load average after:  {load()}")

        # Both must have found the same keys.
        grep_keys = same_user_keys(grep_out, ours_out)
        report = json.loads(ours_out)
        print(
            f"same user keys: {len(grep_keys):,} distinct, {sum(grep_keys.values()):,} mentions; "
            f"cachediag also counted: "
            + ", ".join(f"{k} {v:,}" for k, v in report["counts"].items())
        )
        print(f"engine: {report['engine']}")
        g, o = statistics.median(grep_times), statistics.median(ours_times)
        ratios = [a / b for a, b in zip(ours_times, grep_times, strict=True)]
        print(
            f"median: grep pipeline {g:.3f} s, cachediag logs {o:.3f} s, ratio {o / g:.2f} "
            f"(median of the runs' ratios {statistics.median(ratios):.2f}; best: "
            f"{min(grep_times):.3f} s vs {min(ours_times):.3f} s, "
            f"ratio {min(ours_times) / min(grep_times):.2f})"
        )
        if args.ref:
            r = statistics.median(times["ref"])
            print(f"median {args.ref}: {r:.3f} s, ratio {r / g:.2f}")
            same_user_keys(grep_out, outputs["ref"])
        print(cpu_summary(cpu, args.ref))
        rss = peak_rss_mb(ours_cmd)
        if rss is not None:
            print(f"cachediag peak RSS (largest process): {rss:.0f} MB")
    finally:
        if workdir is not None and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        if args.ref and package is not None:
            shutil.rmtree(package, ignore_errors=True)


if __name__ == "__main__":
    main()
