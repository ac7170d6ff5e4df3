"""Run the `logs` scan of two versions of cachediag on the same logs and diff their reports.

Issue 16 asks for results identical to today's on both benchmark logs. This script takes
the `cachediag/` package of a git revision (`--ref`, default `main`) out of this repository
into a temporary directory, runs it and the working tree's package on the same files, one
after the other, and compares the `cachediag.logs/v1` documents: everything but what
depends on the run (`generated_at`, `duration_ms`, `engine`, and each source's name).

Usage:
    .venv/bin/python benchmarks/compare_logs.py [--ref main] [--outage] [--debug-log MIB]
        [--gzip] [--file LOG ...] [--env NAME=VALUE ...] [--dir DIR] [--keep]

`--outage` generates bench_logs_outage.py's log (2,000,000 lines), `--debug-log 1024`
bench_logs.py's 1 GiB log, `--gzip` adds a gzip'd copy of each generated log; `--file`
compares on existing logs as well. `--env` sets a variable for the new version's run only
(e.g. CACHEDIAG_NO_LIBC=1 or CACHEDIAG_NO_ISAL=1: the fallback paths must give the same
report). Exit 0 when every report is identical, 1 with the first differences otherwise.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

SCAN = (
    "import json, sys\n"
    "from cachediag.logscan import scan_logs\n"
    "json.dump(scan_logs(sys.argv[1:]), sys.stdout)\n"
)
VOLATILE = ("generated_at", "duration_ms", "engine")


def stable(report: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in report.items() if k not in VOLATILE}
    out["sources"] = [{k: v for k, v in s.items() if k != "name"} for s in report["sources"]]
    return out


def differences(old: Any, new: Any, path: str = "") -> list[str]:
    if type(old) is not type(new):
        return [f"{path}: {old!r} != {new!r}"]
    if isinstance(old, dict):
        out: list[str] = []
        for key in sorted(set(old) | set(new), key=str):
            if key not in old or key not in new:
                out.append(f"{path}/{key}: only in {'new' if key in new else 'old'}")
            else:
                out += differences(old[key], new[key], f"{path}/{key}")
        return out
    if isinstance(old, list):
        if len(old) != len(new):
            return [f"{path}: {len(old)} items != {len(new)} items"]
        out = []
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            out += differences(a, b, f"{path}[{i}]")
        return out
    return [] if old == new else [f"{path}: {old!r} != {new!r}"]


def run(package_dir: Path, logs: list[Path], env: dict[str, str]) -> tuple[dict[str, Any], float]:
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", SCAN, *map(str, logs)],
        capture_output=True,
        text=True,
        cwd=package_dir,
        env={**os.environ, "PYTHONPATH": str(package_dir), **env},
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"scan failed in {package_dir}: {proc.stderr.strip()}")
    return json.loads(proc.stdout), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", default="main", help="git revision of the old version")
    parser.add_argument("--outage", action="store_true", help="generate the outage log")
    parser.add_argument("--outage-lines", type=int, default=2_000_000)
    parser.add_argument("--debug-log", type=int, metavar="MIB", help="generate the debug log")
    parser.add_argument("--gzip", action="store_true", help="also a gzip'd copy of each")
    parser.add_argument("--file", type=Path, nargs="*", default=[], help="existing logs")
    parser.add_argument("--env", nargs="*", default=[], help="NAME=VALUE for the new run")
    parser.add_argument("--dir", type=Path, help="where to write logs (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the generated logs")
    args = parser.parse_args()
    env = dict(item.split("=", 1) for item in args.env)

    work = Path(tempfile.mkdtemp(prefix="compare_logs_", dir=args.dir))
    try:
        old_dir = work / "old"
        old_dir.mkdir()
        archive = subprocess.run(
            ["git", "archive", args.ref, "cachediag"], cwd=ROOT, capture_output=True, check=True
        )
        subprocess.run(["tar", "-x", "-C", str(old_dir)], input=archive.stdout, check=True)
        logs: list[Path] = list(args.file)
        if args.outage:
            import bench_logs_outage

            path = work / "outage.log"
            bench_logs_outage.generate(path, args.outage_lines)
            logs.append(path)
        if args.debug_log:
            import bench_logs

            path = work / "app.log"
            bench_logs.generate(path, args.debug_log << 20)
            logs.append(path)
        if args.gzip:
            for path in list(logs):
                if path.parent == work:
                    packed = path.with_name(path.name + ".gz")
                    with open(path, "rb") as src, gzip.open(packed, "wb", compresslevel=6) as dst:
                        shutil.copyfileobj(src, dst, 16 << 20)
                    logs.append(packed)
        if not logs:
            parser.error("nothing to compare: give --outage, --debug-log or --file")
        failed = False
        for log in logs:
            old, t_old = run(old_dir, [log], {})
            new, t_new = run(ROOT, [log], env)
            diff = differences(stable(old), stable(new))
            counts = ", ".join(f"{k} {v:,}" for k, v in new["counts"].items())
            status = "identical" if not diff else f"{len(diff)} DIFFERENCES"
            print(f"{log.name}: {status} ({args.ref} {t_old:.1f} s, working tree {t_new:.1f} s)")
            print(
                f"  counts: {counts}; keys {new['keys']['mentions']:,} mentions, "
                f"{new['keys']['distinct']:,} distinct, truncated={new['keys']['truncated']}"
            )
            for line in diff[:20]:
                print(f"  {line}")
            failed = failed or bool(diff)
        sys.exit(1 if failed else 0)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept {work}")


if __name__ == "__main__":
    main()
