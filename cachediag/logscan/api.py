"""`scan_logs`: sources -> ranges (scanned in parallel for big files) -> one report dict."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from datetime import datetime
from itertools import pairwise
from typing import Any, BinaryIO, cast

from cachediag.logscan import fastfind, simd
from cachediag.logscan.patterns import (
    BACKEND_ERROR_CATEGORIES,
    CATEGORIES,
    NEAR_LINES,
    NEAR_SECONDS,
    NEAR_WINDOW,
)
from cachediag.logscan.reader import (
    TRUNCATED_ATTR,
    LogScanError,
    ReadAhead,
    Source,
    expand_inputs,
    gzip_backend,
    iter_chunks,
    open_stream,
    read_at,
    split_points,
)
from cachediag.logscan.scanner import CHUNK_SIZE, MAX_LINE, scan_stream
from cachediag.logscan.stats import Aggregate, RangeResult
from cachediag.logscan.timestamps import check_zone, iso, minute_iso, parse_when
from cachediag.safety.textsafe import safe_text

SCHEMA = "cachediag.logs/v1"
PARALLEL_MIN_BYTES = 48 << 20  # below this a second process costs more than it saves
RANGES_PER_JOB = 4  # small ranges per process at the end, taken on demand
MIN_RANGE_BYTES = 16 << 20
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
    check_zone()
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
    ranges = 0
    for source in sources:
        merged = InOrder(total, since_ts, until_ts)
        processes = _scan_source(source, since_ts, until_ts, jobs, chunk_size, merged)
        used_jobs = max(used_jobs, processes)
        ranges += merged.count
        rows.append(
            {
                "name": safe_text(source.name),
                "kind": source.kind,
                "size_bytes": source.size,
                "scanned_bytes": merged.bytes,
                "problem": source.problem,
            }
        )
    engine = {
        "search": fastfind.backend(),
        "bulk": simd.backend(),
        "gzip": gzip_backend(),
        "jobs": used_jobs,
        "ranges": ranges,
        "chunk_bytes": chunk_size,
    }
    return build_report(total, sources, rows, since_ts, until_ts, started, engine)


class InOrder:
    """Merges the results of a source's ranges into `total` in range order, as they come
    (each in any order): a range's lead lines inherit the last timestamp of the ranges
    before it, and the key counters prune as they would merging one range after another."""

    def __init__(self, total: Aggregate, since: float | None, until: float | None) -> None:
        self.total = total
        self.since = since
        self.until = until
        self.waiting: dict[int, RangeResult] = {}
        self.count = 0  # ranges merged
        self.bytes = 0
        self.inherited: float | None = None

    def __call__(self, index: int, result: RangeResult) -> None:
        self.waiting[index] = result
        while self.count in self.waiting:
            done = self.waiting.pop(self.count)
            if not done.lead.is_empty():
                done.lead.resolve_into(self.total, self.inherited, self.since, self.until)
            self.total.merge(done.timed)
            if done.last_ts is not None:
                self.inherited = done.last_ts
            self.bytes += done.bytes
            self.count += 1


OnResult = Callable[[int, RangeResult], None]


def _scan_source(
    source: Source,
    since: float | None,
    until: float | None,
    jobs: int,
    chunk_size: int,
    on_result: OnResult,
) -> int:
    """Scan the source, handing each range's result to `on_result`; how many processes
    scanned it."""
    size = source.size or 0
    if source.kind == "file" and jobs > 1 and size >= PARALLEL_MIN_BYTES and _can_fork():
        ranges = list(pairwise(split_points(source.name, size, range_targets(size, jobs))))
        if len(ranges) > 1:
            processes = min(jobs, len(ranges))
            _scan_parallel(source, ranges, processes, since, until, chunk_size, on_result)
            return processes
    try:
        stream = open_stream(source)
    except OSError as exc:
        raise LogScanError(f"{source.name}: {exc.strerror or exc}") from None
    if source.kind == "gzip":  # inflated by a thread while this one scans
        stream = cast(BinaryIO, ReadAhead(stream, chunk_size))
    try:
        chunks = iter_chunks(stream, chunk_size, MAX_LINE)
        result = scan_stream(chunks, source.index, since, until)
        source.problem = getattr(stream, TRUNCATED_ATTR, None)
        on_result(0, result)
        return 1
    finally:
        if source.kind != "stdin":
            stream.close()


def range_targets(size: int, jobs: int) -> list[int]:
    """Where to cut a file for `jobs` processes taking ranges as they go: big ranges first,
    small ones last, so that the processes finish close together for little overhead."""
    tail = size // 4
    head = size - tail
    n_head = max(1, min(2 * jobs, head // MIN_RANGE_BYTES))
    n_tail = max(jobs, min(jobs * RANGES_PER_JOB, tail // MIN_RANGE_BYTES))
    cuts = [head * i // n_head for i in range(1, n_head)]
    cuts += [head + tail * i // n_tail for i in range(n_tail)]
    return [c for c in cuts if 0 < c < size]


def _can_fork() -> bool:
    """fork() only where it is the native way, and never from a threaded process."""
    import multiprocessing
    import threading

    return (
        sys.platform.startswith("linux")
        and "fork" in multiprocessing.get_all_start_methods()
        and threading.active_count() == 1
    )


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
        with open(path, "rb", buffering=0) as handle:
            chunks = iter_chunks(handle, chunk_size, MAX_LINE, start, end)
            return scan_stream(chunks, index, since, until, pre, post)
    except OSError as exc:
        raise LogScanError(f"{path}: {exc.strerror or exc}") from None


def _scan_parallel(
    source: Source,
    ranges: list[tuple[int, int]],
    jobs: int,
    since: float | None,
    until: float | None,
    chunk_size: int,
    on_result: OnResult,
) -> None:
    """Scan the ranges in `jobs` processes (this one included), each taking the next range
    left as it finishes one: a process slowed down by the rest of the machine takes fewer.

    A child sends each range's result as soon as it is done, from a thread of its own (a
    result is a few MB: the pipe fills, and the child goes on scanning while this process
    is busy); this process reads and merges what has come (`on_result`) between its own
    ranges, so that merging overlaps scanning instead of waiting for the last range.
    Nothing goes through a file: samples are raw log lines until the report redacts them.
    """
    import multiprocessing
    from multiprocessing.connection import wait

    context = multiprocessing.get_context("fork")
    next_range = context.Value("i", 0)
    job = (source.name, source.index, ranges, since, until, chunk_size)
    children = []
    received = False
    try:
        for _ in range(jobs - 1):
            reader, writer = context.Pipe(duplex=False)
            process = context.Process(target=_child, args=(writer, next_range, job), daemon=True)
            process.start()
            writer.close()
            children.append((process, reader))
        running = {id(reader): reader for _process, reader in children}

        def take(block: bool) -> None:
            while running:
                readers = list(running.values())
                ready: list[Any] = wait(readers) if block else [r for r in readers if r.poll()]
                if not ready:
                    return
                for reader in ready:
                    try:
                        status, index, payload = reader.recv()
                    except EOFError:
                        raise LogScanError(f"{source.name}: a scanning process died") from None
                    if status == "ok":
                        on_result(index, payload)
                    elif status == "done":
                        del running[id(reader)]
                    else:
                        raise payload

        def mine(index: int, result: RangeResult) -> None:
            on_result(index, result)
            take(block=False)

        _take_ranges(next_range, job, mine)
        take(block=True)
        received = True
    finally:
        # After an error or Ctrl-C the children must not outlive us: `main` leaves with
        # os._exit, which skips multiprocessing's clean-up of daemon processes, and a child
        # still scanning (or blocked sending its result) would hold the caller's stdout open.
        for process, reader in children:
            if not received:
                process.terminate()
            process.join()
            reader.close()


_Job = tuple[str, int, list[tuple[int, int]], float | None, float | None, int]


def _take_ranges(next_range: Any, job: _Job, on_result: OnResult) -> None:
    path, index, ranges, since, until, chunk_size = job
    size = ranges[-1][1]
    while True:
        with next_range.get_lock():
            i = next_range.value
            next_range.value = i + 1
        if i >= len(ranges):
            return
        start, end = ranges[i]
        on_result(i, scan_range(path, index, start, end, size, since, until, chunk_size))


def _child(writer: Any, next_range: Any, job: _Job) -> None:
    import queue
    import threading

    outbox: queue.Queue[tuple[int, RangeResult] | None] = queue.Queue()
    failed: list[BaseException] = []

    def send() -> None:  # the results, in the background of the scanning
        try:
            while (item := outbox.get()) is not None:
                writer.send(("ok", *item))
        except BaseException as exc:  # noqa: BLE001 - reported by the scanning thread
            failed.append(exc)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()

    def queued(index: int, result: RangeResult) -> None:
        if failed:
            raise failed[0]
        outbox.put((index, result))

    try:
        _take_ranges(next_range, job, queued)
        outbox.put(None)
        sender.join()
        if failed:
            raise failed[0]
        writer.send(("done", None, None))
    except BaseException as exc:
        outbox.put(None)
        sender.join()  # (one thread writes the pipe at a time)
        writer.send(("error", None, exc))
    finally:
        writer.close()


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
                {
                    "source": names[s.order[0]],
                    "offset": s.order[1],
                    "time": iso(s.ts),
                    "text": s.text,
                }
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
                {"namespace": safe_text(ns), "mentions": m, "distinct_keys": d}
                for ns, (m, d) in namespaces
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
