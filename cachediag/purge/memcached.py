"""A Memcached purge: the LRU crawler's metadump lists the keys, meta deletes remove them.

Memcached has no wildcard delete. The crawler (scan/memcached.py, the one metadump
reader) streams each item's key, expiry, last access and CAS; the keys matching the
pattern and the metadata filters are deleted once the dump is over (the crawler holds
its locks while its output waits to be read, so deleting meanwhile stalls both), with
pipelined `md KEY C<cas>` on a second connection: an item rewritten after the dump has
another CAS, answers EX, and stays. An item the crawler lists twice is deleted once.
"""

from __future__ import annotations

import time
from typing import Any

from cachediag import writes
from cachediag.clients.memcache_text import MemcachedClient, is_text_key
from cachediag.clients.net import Deadline
from cachediag.errors import ProbeError, UsageError
from cachediag.purge.guard import Guard
from cachediag.purge.redis import READ_BACK_SAMPLE, Seen, Sinks
from cachediag.purge.report import PurgeReport
from cachediag.purge.request import Filters, PurgeRequest
from cachediag.scan.memcached import CrawlOptions, ItemBlock, crawl
from cachediag.scan.redis import Namespacer


class _Stop(Exception):
    """Ends the crawl from inside its batch callback (the dump cannot be cut otherwise)."""


def _check(filters: Filters) -> None:
    if filters.reads_value or filters.type:
        raise UsageError(
            "Memcached purges filter on the crawler's metadata only: --no-ttl, --ttl-above, "
            "--idle-above (not --invalid, --schema-* or --type)"
        )


def _cas(raw: bytes) -> int | None:
    """The CAS of a metadump `cas=N` field (None where the line had none)."""
    value = raw[4:]
    return int(value) if value.isdigit() else None


def _qualifies(filters: Filters, exp: int, la: int, now: int) -> bool:
    if filters.no_ttl and exp != -1:
        return False
    if filters.ttl_above_s is not None and (exp == -1 or exp - now <= filters.ttl_above_s):
        return False
    return filters.idle_above_s is None or now - la > filters.idle_above_s


class MemcachedPurge:
    def __init__(
        self, writer: MemcachedClient, request: PurgeRequest, sinks: Sinks, timeout: float
    ) -> None:
        self.writer = writer
        self.request = request
        self.sinks = sinks
        self.timeout = timeout
        self.report = PurgeReport(mode="delete" if request.apply else "dry-run")
        self.report.sample_limit = request.samples
        self.report.bytes_method = "crawler"
        limits = request.limits
        self.guard = Guard(limits.rate, limits.max_latency_ms, chunk=1000)
        self.seen = Seen()
        self.now = 0
        self.read_back: list[bytes] = []
        self.pending: list[tuple[bytes, int | None]] = []  # matched, deleted after the dump
        self._started = time.monotonic()

    def named(self, keys: list[bytes]) -> None:
        keys, _ = self.seen.fresh(keys, [""] * len(keys))
        sendable = [key for key in keys if is_text_key(key)]
        self.report.failed += len(keys) - len(sendable)
        # `mg KEY s`: the item's size, without fetching the value or bumping it in the LRU.
        self.writer.send(b"".join(b"mg " + key + b" s\r\n" for key in sendable))
        deadline = Deadline(self.timeout)
        present, sizes = [], []
        for key in sendable:
            line = self.writer.read_line(deadline)
            if line.startswith(b"HD"):
                present.append(key)
                size = next((w[1:] for w in line.split()[1:] if w.startswith(b"s")), b"")
                sizes.append(int(size) if size.isdigit() else None)
        self.report.not_found += len(sendable) - len(present)
        self.report.add_memory(sizes)
        self._take(
            [(key, None) for key in present], Namespacer(self.request.delimiter).many(present)
        )

    def on_block(self, block: ItemBlock) -> None:
        report = self.report
        report.scanned += len(block)
        keys, _ = self.seen.fresh(block.keys, block.namespaces)
        report.duplicates += len(block) - len(keys)
        filters = self.request.filters
        chosen: list[tuple[bytes, int | None]]
        names: list[str]
        sizes: list[int]
        if len(keys) == len(block) and not filters.any:
            # The usual block: every item new and no filter. Columns, not an Item each.
            chosen = list(zip(block.keys, map(_cas, block.cases), strict=True))
            names, sizes = list(block.namespaces), list(block.sizes)
        else:
            fresh = set(keys)
            chosen, names, sizes = [], [], []
            for item in block:
                if item.key not in fresh:
                    continue
                fresh.discard(item.key)
                if filters.any and not _qualifies(filters, item.exp, item.la, self.now):
                    continue
                chosen.append((item.key, item.cas))
                names.append(item.namespace)
                sizes.append(item.size)
        report.add_memory(sizes)
        stop = self._take(chosen, names)
        self._progress()
        if stop or self.sinks.stop.set:
            raise _Stop

    def _take(self, items: list[tuple[bytes, int | None]], names: list[str]) -> bool:
        report = self.report
        limit = self.request.limits.max_keys
        stop = False
        if limit and report.matched + len(items) >= limit:
            items, names = items[: limit - report.matched], names[: limit - report.matched]
            report.stop_reason = "max-keys"
            stop = True
        report.add_matched([key for key, _ in items], names)
        if self.request.apply:
            self.pending.extend(items)
        return stop

    def delete_pending(self) -> None:
        """Delete what the dump matched, once the dump is over: the crawler holds locks
        while its output waits to be read, so deleting during the dump stalls both."""
        items, self.pending = self.pending, []
        if self.sinks.before_delete is not None and items:
            self.sinks.before_delete([key for key, _ in items])
        report = self.report
        index = 0
        while index < len(items):
            if self.sinks.stop.set:
                report.stop_reason = "interrupted"
                return
            part = items[index : index + self.guard.chunk]
            index += len(part)
            self.guard.before(len(part))
            started = time.monotonic()
            tally = writes.apply_memcached_deletes(self.writer, part, self.timeout)
            self.guard.timed(started)
            report.add_tally(tally)
            room = READ_BACK_SAMPLE - len(self.read_back)
            if room > 0:
                self.read_back.extend(key for key, _ in part[:room])
            self._progress()

    def _progress(self) -> None:
        report, guard = self.report, self.guard
        report.elapsed_s = time.monotonic() - self._started
        report.paused_s, report.pauses = guard.paused_s, guard.pauses
        report.rate_wait_s, report.worst_round_trip_ms = guard.rate_wait_s, guard.worst_ms
        if self.sinks.progress is not None:
            self.sinks.progress(report)

    def run(self, target: Any) -> dict[str, Any]:
        request, report = self.request, self.report
        error = None
        with self.sinks.stop.installed():
            if request.keys:
                self.named(list(request.keys))
                self.delete_pending()
            for pattern in request.scans:
                if report.stop_reason or self.sinks.stop.set:
                    break
                reader = MemcachedClient(target, self.timeout).connect()
                try:
                    self.now = int(reader.stats().get("time", time.time()))
                    options = CrawlOptions(match=pattern, delimiter=request.delimiter)
                    result = crawl(reader, options, self.on_block)
                    if result.stop_reason == "interrupted":
                        report.stop_reason = "interrupted"
                except _Stop:
                    if report.stop_reason is None:
                        report.stop_reason = "interrupted"
                except ProbeError as failure:
                    report.stop_reason = "server-error"
                    error = {"kind": failure.kind, "message": failure.message}
                finally:
                    reader.close()
                if error is None and report.stop_reason != "interrupted":
                    try:
                        self.delete_pending()
                    except ProbeError as failure:
                        report.stop_reason = "server-error"
                        error = {"kind": failure.kind, "message": failure.message}
            report.complete = report.stop_reason is None
            if request.apply and self.read_back and error is None:
                self._read_back()
        self._progress()
        return {"error": error, "purge": report}

    def _read_back(self) -> None:
        keys = [key for key in self.read_back if is_text_key(key)]
        self.writer.send(b"".join(b"mg " + key + b"\r\n" for key in keys))
        deadline = Deadline(self.timeout)
        present = sum(self.writer.read_line(deadline) != b"EN" for _ in keys)
        self.report.read_back = len(keys)
        self.report.still_present = present


def purge_memcached(
    target: Any, timeout: float, request: PurgeRequest, sinks: Sinks
) -> dict[str, Any]:
    _check(request.filters)
    if request.cursor or request.pattern_index:
        raise UsageError(
            "--resume is for Redis: a Memcached crawl cannot start half-way; run the purge again"
        )
    with MemcachedClient(target, timeout).connect() as writer:
        try:
            version = writer.version()
        except ProbeError:
            version = None
        row = MemcachedPurge(writer, request, sinks, timeout).run(target)
        row["version"] = version
        return row


def restore_memcached(
    target: Any, timeout: float, handle: Any, name: str, replace: bool, apply: bool
) -> dict[str, Any]:
    raise UsageError("--restore is for Redis: Memcached has no DUMP, so a purge cannot back it up")
