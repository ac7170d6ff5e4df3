"""`scan_logs`: sources -> ranges (scanned in parallel for big files) -> one report dict."""

from __future__ import annotations

import os
import sys
import time
from datetime import datetime
from typing import Any

from cachediag.logscan import fastfind
from cachediag.logscan.patterns import (
    BACKEND_ERROR_CATEGORIES,
    CATEGORIES,
    NEAR_LINES,
    NEAR_SECONDS,
    NEAR_WINDOW,
)
from cachediag.logscan.reader import (
    LogScanError,
    Source,
    expand_inputs,
    iter_chunks,
    open_stream,
    read_at,
    split_points,
)
from cachediag.logscan.scanner import CHUNK_SIZE, MAX_LINE, scan_stream
from cachediag.logscan.stats import Aggregate, RangeResult
from cachediag.logscan.timestamps import iso, minute_iso, parse_when
from cachediag.textsafe import safe_text

SCHEMA = "cachediag.logs/v1"
PARALLEL_MIN_BYTES = 48 << 20  # below this a second process costs more than it saves
MAX_JOBS = 8
TOP_KEYS = 20
TOP_KEYS_PER_CATEGORY = 10
TOP_NAMESPACES = 50

When = str | float | int | datetime | None


def _when(value: When, option: str, now: float) -> float | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return parse_when(value, option, now)
    except ValueError as exc:
        raise LogScanError(str(exc)) from None


def default_jobs() -> int:
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, MAX_JOBS))


def scan_logs(
    paths: list[str],
    since: When = None,
    until: When = None,
    *,
    jobs: int | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> dict[str, Any]:
    """Scan log files (paths, globs, "-" for stdin, .gz) and return the `cachediag.logs/v1` dict.

    `since`/`until`: a duration before now ("30m", "2h", "1d"), an ISO 8601 timestamp,
    epoch seconds or a datetime. Raises LogScanError (a CachediagError) for a missing
    file, an empty glob or a bad time.
    """
    started = time.perf_counter()
    now = time.time()
    since_ts = _when(since, "--since", now)
    until_ts = _when(until, "--until", now)
    if since_ts is not None and until_ts is not None and since_ts > until_ts:
        raise LogScanError("--since is later than --until: no line can match")
    sources = expand_inputs(list(paths))
    jobs = default_jobs() if jobs is None else max(1, jobs)
    fastfind.keep_heap()

    total = Aggregate()
    rows: list[dict[str, Any]] = []
    used_jobs = 1
    for source in sources:
        results = _scan_source(source, since_ts, until_ts, jobs, chunk_size)
        used_jobs = max(used_jobs, len(results))
        inherited: float | None = None
        for result in results:
            if not result.lead.is_empty():
                result.lead.resolve_into(total, inherited, since_ts, until_ts)
            total.merge(result.timed)
            if result.last_ts is not None:
                inherited = result.last_ts
        rows.append(
            {
                "name": safe_text(source.name),
                "kind": source.kind,
                "size_bytes": source.size,
                "scanned_bytes": sum(r.bytes for r in results),
            }
        )
    engine = {"search": fastfind.backend(), "jobs": used_jobs, "chunk_bytes": chunk_size}
    return build_report(total, sources, rows, since_ts, until_ts, started, engine)


def _scan_source(
    source: Source, since: float | None, until: float | None, jobs: int, chunk_size: int
) -> list[RangeResult]:
    size = source.size or 0
    if source.kind == "file" and jobs > 1 and size >= PARALLEL_MIN_BYTES and _can_fork():
        points = split_points(source.name, size, jobs)
        if len(points) > 2:
            return _scan_parallel(source, points, since, until, chunk_size)
    stream = open_stream(source)
    try:
        return [scan_stream(iter_chunks(stream, chunk_size, MAX_LINE), source.index, since, until)]
    finally:
        if source.kind != "stdin":
            stream.close()


def _can_fork() -> bool:
    import multiprocessing

    return sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods()


def scan_range(
    path: str,
    index: int,
    start: int,
    end: int,
    size: int,
    since: float | None,
    until: float | None,
    chunk_size: int,
) -> RangeResult:
    """Scan bytes [start, end) of a plain file (both line starts); a process pool's job."""
    pre = read_at(path, max(0, start - NEAR_WINDOW), start) if start > 0 else None
    post = read_at(path, end, min(size, end + NEAR_WINDOW)) if end < size else None
    try:
        handle = open(path, "rb", buffering=0)
    except OSError as exc:
        raise LogScanError(f"{path}: {exc.strerror or exc}") from None
    with handle:
        chunks = iter_chunks(handle, chunk_size, MAX_LINE, start, end)
        return scan_stream(chunks, index, since, until, pre, post)


def _scan_parallel(
    source: Source, points: list[int], since: float | None, until: float | None, chunk_size: int
) -> list[RangeResult]:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    size = points[-1]
    ranges = list(zip(points[:-1], points[1:]))
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=len(ranges) - 1, mp_context=context) as pool:
        futures = [
            pool.submit(scan_range, source.name, source.index, a, b, size, since, until, chunk_size)
            for a, b in ranges[1:]
        ]
        # This process scans the first range meanwhile.
        a, b = ranges[0]
        first = scan_range(source.name, source.index, a, b, size, since, until, chunk_size)
        return [first] + [f.result() for f in futures]


def build_report(
    total: Aggregate,
    sources: list[Source],
    rows: list[dict[str, Any]],
    since: float | None,
    until: float | None,
    started: float,
    engine: dict[str, Any],
) -> dict[str, Any]:
    from cachediag import __version__

    names = {s.index: safe_text(s.name) for s in sources}
    categories: dict[str, Any] = {}
    for cat in CATEGORIES:
        stats = total.cats[cat.name]
        stats.cap_hist()
        top = stats.keys.top(TOP_KEYS_PER_CATEGORY) if stats.keys is not None else []
        categories[cat.name] = {
            "severity": cat.severity,
            "description": cat.description,
            "count": stats.count,
            "first": iso(stats.first),
            "last": iso(stats.last),
            "untimed": stats.untimed,
            "histogram": {minute_iso(m): n for m, n in sorted(stats.hist.items())},
            "histogram_dropped": stats.hist_dropped,
            "samples": [
                {"source": names[s.order[0]], "offset": s.order[1], "time": iso(s.ts), "text": s.text}
                for s in sorted(stats.samples, key=lambda s: s.order)
            ],
            "top_keys": [{"key": safe_text(k), "count": n} for k, n in top],
        }
    keys = total.keys
    namespaces = sorted(keys.namespaces.items(), key=lambda kv: (-kv[1][0], kv[0]))[:TOP_NAMESPACES]
    return {
        "schema": SCHEMA,
        "version": __version__,
        "generated_at": iso(float(int(time.time()))),
        "duration_ms": int((time.perf_counter() - started) * 1000),
        "window": {"since": iso(since), "until": iso(until)},
        "sources": rows,
        "counts": {name: c["count"] for name, c in categories.items()},
        "categories": categories,
        "keys": {
            "mentions": keys.mentions,
            "distinct": len(keys.keys),
            "truncated": keys.truncated,
            "namespaces": [
                {"namespace": safe_text(ns), "mentions": m, "distinct_keys": d} for ns, (m, d) in namespaces
            ],
            "top": [{"key": safe_text(k), "count": n} for k, n in keys.top(TOP_KEYS)],
        },
        "fallback_proximity": {
            "backend_error_categories": list(BACKEND_ERROR_CATEGORIES),
            "backend_errors": total.backend_errors,
            "with_fallback_nearby": total.with_fallback,
            "without_fallback_nearby": total.backend_errors - total.with_fallback,
            "near_lines": NEAR_LINES,
            "near_seconds": NEAR_SECONDS,
        },
        "engine": engine,
    }
