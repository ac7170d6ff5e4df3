"""A Redis purge: SCAN MATCH through the scan engine, each batch judged and deleted.

Each batch SCAN returns (the engine's keys-only loop, with its budget, cursor and PING
back-off) is handed here: keys seen before are dropped (SCAN may return a key twice),
a filtered purge reads what its filters need in one pipelined round trip and keeps the
keys that qualify, and, unless this is a dry run, the batch is deleted through
cachediag.writes: UNLINK (DEL with --sync, or before Redis 4.0), or a guarded delete per
key when filters decided (a key that changed since it was read is left alone). Never
KEYS, never FLUSHDB. A dry run measures MEMORY USAGE of a sample and deletes nothing.
"""

from __future__ import annotations

import dataclasses
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from cachediag import writes
from cachediag.clients.resp import RedisClient
from cachediag.errors import ProbeError
from cachediag.purge.filters import Inspection, expectation, qualifies
from cachediag.purge.guard import Guard, StopFlag
from cachediag.purge.inspect import (
    dump_commands,
    dump_records,
    dumps,
    inspect_keys,
    memory_command,
    memory_usage,
)
from cachediag.purge.report import PurgeReport
from cachediag.purge.request import PurgeRequest
from cachediag.scan.redis import KeyInfo, Namespacer, ScanOptions, scan_keyspace
from cachediag.writes import Expectation

# MEMORY USAGE of this many matched keys, for the estimate of an unfiltered purge.
MEMORY_SAMPLE = 1000
# Deleted keys read back with EXISTS at the end (a sample: the application may write
# some of them again, which the report shows).
READ_BACK_SAMPLE = 1000
NAMED_BATCH = 1000
# The smallest SCAN COUNT the guard shrinks batches to while writes are slow.
MIN_SCAN_COUNT = 50
CHECKPOINT_EVERY_S = 1.0
# Replies read within this of a batch's handling ending were there already.
READY_S = 0.0005


@dataclass
class _Ride:
    """One ride's keys and what its replies are tallied against."""

    keys: list[bytes]  # deleted (plain) or dumped (--backup) by it
    memory: list[bytes]  # MEMORY USAGE asked of these
    sent_at: float
    dumped: list[tuple[bytes, bytes]]  # --backup: deleted by it, guarded by their DUMPs
    dumped_cursor: int  # --backup: the cursor after the keys in `dumped`
    cursor: int  # the cursor after the keys in `keys`
    groups: list[list[bytes]]  # plain: `keys` as their UNLINKs went (a slot each on a cluster)


class BackupSink(Protocol):
    def write(self, records: list[tuple[bytes, int, bytes]]) -> None: ...


@dataclass
class Sinks:
    """Where a purge's side outputs go; the CLI provides them (it owns files and terminals)."""

    backup: BackupSink | None = None
    checkpoint: Callable[[dict[str, Any]], None] | None = None
    progress: Callable[[PurgeReport], None] | None = None
    stop: StopFlag = field(default_factory=StopFlag)
    # Tests: called with a batch's inspections before its deletes are sent.
    after_inspect: Callable[[list[Inspection]], None] | None = None
    # Tests: called with keys about to be deleted (after their backup, if any).
    before_delete: Callable[[list[bytes]], None] | None = None
    note: Callable[[str], None] | None = None


class Seen:
    """Keys already handled this run, as 64-bit hashes (a million keys: tens of MB, not
    hundreds). A hash collision can only make a key look seen: left alone, never deleted."""

    def __init__(self) -> None:
        self._hashes: set[int] = set()

    def fresh(self, keys: list[bytes], names: list[str]) -> tuple[list[bytes], list[str]]:
        hashes = self._hashes
        batch = set(map(hash, keys))
        if len(batch) == len(keys) and hashes.isdisjoint(batch):
            hashes |= batch  # the usual batch: all new, checked in C
            return keys, names
        out_keys: list[bytes] = []
        out_names: list[str] = []
        for key, name in zip(keys, names, strict=True):
            h = hash(key)
            if h in hashes:
                continue
            hashes.add(h)
            out_keys.append(key)
            out_names.append(name)
        return out_keys, out_names


def cluster_enabled(client: RedisClient) -> bool:
    """Whether this node is part of a Redis Cluster (INFO cluster: cluster_enabled:1)."""
    reply = client.call("INFO", "cluster")
    return isinstance(reply, bytes) and b"cluster_enabled:1" in reply


def server_version(client: RedisClient) -> tuple[int, ...]:
    reply = client.call("INFO", "server")
    if isinstance(reply, bytes):
        for line in reply.split(b"\r\n"):
            if line.startswith(b"redis_version:"):
                text = line.split(b":", 1)[1].decode("ascii", "replace")
                return tuple(int(p) for p in text.split(".")[:3] if p.isdigit())
    return ()


class RedisPurge:
    def __init__(
        self,
        client: RedisClient,
        request: PurgeRequest,
        sinks: Sinks,
        target_name: str,
        target: Any = None,
        timeout: float = 5.0,
    ) -> None:
        self.client = client
        self.target = target
        self.timeout = timeout
        self.request = request
        self.sinks = sinks
        self.target_name = target_name
        self.report = PurgeReport(mode="delete" if request.apply else "dry-run")
        self.report.sample_limit = request.samples
        self.filters = request.filters
        if self.filters.any:
            self.report.bytes_method = "measured"
        limits = request.limits
        self.guard = Guard(
            limits.rate, limits.max_latency_ms, chunk=request.count, min_chunk=MIN_SCAN_COUNT
        )
        self.seen = Seen()
        self.namespacer = Namespacer(request.delimiter)
        self.version = server_version(client)
        # A cluster node refuses multi-key commands across slots (CROSSSLOT): its deletes
        # go a slot at a time, and a slot that moved is followed to its new owner.
        self.cluster = cluster_enabled(client)
        self._router: Any = None
        # UNLINK came with Redis 4.0; before it, DEL (which frees values in the foreground).
        self.sync = request.sync or bool(self.version and self.version < (4,))
        self.sha: bytes | None = None
        if request.apply and self.filters.any:
            self.sha = writes.load_guarded_delete(client)
        self.backup_sha: bytes | None = None
        if request.apply and sinks.backup is not None and not self.filters.any:
            self.backup_sha = writes.load_guarded_delete(client, writes.BACKED_UP_DELETE_SCRIPT)
        self.read_back: list[bytes] = []
        self.cursor_before = request.cursor
        self.pattern_index = request.pattern_index
        self._last_checkpoint = time.monotonic()
        self._stop_mid_batch = False
        self._started = time.monotonic()
        self._engine_slept = 0.0  # the scan engine's own PING back-off
        self._engine_backoffs = 0
        # An unfiltered purge without --backup deletes riding the scan's pipeline: each
        # batch's UNLINK goes out behind the next SCAN (ScanOptions.rider).
        self.riding = request.apply and not self.filters.any
        # With --backup as well: a ride carries the DUMPs of the keys just scanned and the
        # guarded deletes of those dumped (and written to the file) by the ride before.
        self.backup_riding = self.riding and sinks.backup is not None
        self._dumped: list[tuple[bytes, bytes]] = []  # backed up, to be deleted next ride
        self._dumped_cursor = request.cursor  # the cursor after the keys in _dumped
        self._safe_cursor = request.cursor  # every key before it deleted (backup riding)
        self._queue: list[bytes] = []
        self._queue_memory: list[bytes] = []
        self._memory_asked = 0
        # Rides sent and not yet answered, oldest first: two at most while the next one's
        # write is out before the last one's replies are read (overlap).
        self._rides: deque[_Ride] = deque()
        # No ride depends on the replies to the one before it, so the engine may send the
        # next before reading them: plain deletes need nothing of them, and --backup's
        # deletes take only the keys whose DUMPs have landed and been written to disk
        # (with overlap, those of the ride two back).
        self.overlap = True
        self._landed_at = 0.0
        self._processed_at = 0.0
        self._pending_cursor = request.cursor  # the cursor after the keys queued to ride
        self._inspected: dict[bytes, Inspection] = {}

    # -- the batches -----------------------------------------------------------------
    def named(self, keys: list[bytes]) -> None:
        """Named keys, deleted as named: no glob, so `user:*` is the key of that name."""
        for start in range(0, len(keys), NAMED_BATCH):
            chunk = keys[start : start + NAMED_BATCH]
            part, _ = self.seen.fresh(chunk, [""] * len(chunk))
            self.report.duplicates += len(chunk) - len(part)
            sizes = memory_usage(self.client, part)
            present = [key for key, size in zip(part, sizes, strict=True) if size is not None]
            self.report.not_found += len(part) - len(present)
            self.report.add_memory(sizes)
            if self._take(present, self.namespacer.many(present), direct=True):
                return

    def on_batch(self, found: list[KeyInfo]) -> bool:
        return self.on_keys([k.key for k in found], [k.namespace for k in found])

    def on_keys(self, scanned: list[bytes], scanned_names: list[str]) -> bool:
        report = self.report
        report.scanned += len(scanned)
        keys, names = self.seen.fresh(scanned, scanned_names)
        report.duplicates += len(scanned) - len(keys)
        if self.filters.any:
            infos = inspect_keys(self.client, keys, names, self.filters)
            if self.sinks.after_inspect is not None:
                self.sinks.after_inspect(infos)
            chosen = [info for info in infos if qualifies(self.filters, info)]
            report.add_memory([info.memory for info in chosen])
            self._inspected = {info.key: info for info in chosen}
            keys = [info.key for info in chosen]
            names = [info.namespace for info in chosen]
        elif not self.riding and report.bytes_keys < MEMORY_SAMPLE and keys:
            wanted = keys[: MEMORY_SAMPLE - report.bytes_keys]
            report.add_memory(memory_usage(self.client, wanted))
        done = self._take(keys, names)
        self._processed_at = time.monotonic()
        if not self.riding:
            self._progress()
        return done or self.sinks.stop.set

    def _take(self, keys: list[bytes], names: list[str], direct: bool = False) -> bool:
        """Count (and unless a dry run, delete) these qualifying keys; True: stop here."""
        report = self.report
        limit = self.request.limits.max_keys
        stop = False
        if limit and report.matched + len(keys) >= limit:
            room = limit - report.matched
            stop = True
            if room < len(keys):
                self._stop_mid_batch = True
            keys, names = keys[:room], names[:room]
            report.stop_reason = "max-keys"
        report.add_matched(keys, names)
        if self.riding and keys and not direct:
            room = MEMORY_SAMPLE - self._memory_asked
            if room > 0:
                self._queue_memory.extend(keys[:room])
                self._memory_asked += len(keys[:room])
            self._queue.extend(keys)
        elif self.request.apply and keys:
            self._delete(keys)
        return stop

    # -- the rider: deletes sent behind the next SCAN ------------------------------------
    def ride(self) -> tuple[bytes, int]:
        keys, memory, dumped = self._queue, self._queue_memory, self._dumped
        if not keys and not dumped:
            return b"", 0
        self._queue, self._queue_memory, self._dumped = [], [], []
        self.guard.before(len(keys))
        payload = memory_command(memory)
        expected = len(memory)
        groups: list[list[bytes]] = []
        if self.backup_riding:
            assert self.backup_sha is not None
            if dumped:
                payload += writes.backed_up_deletes_riding(dumped, self.backup_sha, self.sync)
                expected += 1
            payload += dump_commands(keys)
            expected += 2 * len(keys)
        elif keys:
            groups = self._groups(keys)
            payload += writes.unlinks_riding(groups, self.sync)
            expected += len(groups)
        self._rides.append(
            _Ride(
                keys,
                memory,
                time.monotonic(),
                dumped,
                self._dumped_cursor,
                self._pending_cursor,
                groups,
            )
        )
        # What this process had to do before waiting for replies is done (see landed).
        self._processed_at = time.monotonic()
        return payload, expected

    def landed(self, replies: list[Any]) -> None:
        ride = self._rides.popleft()
        keys, memory, dumped = ride.keys, ride.memory, ride.dumped
        now = time.monotonic()
        self.report.add_memory([r if isinstance(r, int) else None for r in replies[: len(memory)]])
        rest = replies[len(memory) :]
        if self.backup_riding:
            if dumped:
                self._tally(writes.tally_backed_up(rest[0], len(dumped)), [k for k, _ in dumped])
                rest = rest[1:]
                self._safe_cursor = ride.dumped_cursor
            if keys:
                records = dump_records(keys, rest)
                assert self.sinks.backup is not None
                self.sinks.backup.write(records)  # on disk before their deletes are sent
                if self.report.backup is not None:
                    self.report.backup["records"] += len(records)
                self.report.already_gone += len(keys) - len(records)
                # Added to: with overlap, two rides may land before the next is built.
                self._dumped.extend((key, dump) for key, _, dump in records)
                self._dumped_cursor = ride.cursor
                if self.sinks.before_delete is not None:
                    self.sinks.before_delete(keys)
            checkpoint = self._safe_cursor
        else:
            self._tally(writes.tally_unlinks(ride.groups, rest, self.sync), keys)
            checkpoint = ride.cursor
        # The write went out before the batch before it was handled here: when its
        # replies were waiting by the time that was done, the server was quicker than
        # this process (a fast write, however long the handling took); otherwise the
        # write took the server all the time since the server could start on it: since
        # it was sent, or, with a write still unanswered ahead of it (overlap), since
        # that one's replies were read. The time a write waits queued behind the one
        # before is the pipeline's depth, not the server's latency.
        since = max(ride.sent_at, self._landed_at)
        self._landed_at = now
        waited = now - self._processed_at
        took = now - since if self._processed_at < since or waited > READY_S else waited
        self.guard.observe(took)
        self._maybe_checkpoint(checkpoint)
        self._progress()

    def _groups(self, keys: list[bytes]) -> list[list[bytes]]:
        """The keys as the batches one command may delete: all of them, or on a cluster
        node one batch per slot."""
        if not self.cluster:
            return [keys]
        from cachediag.keyspace.slots import slot_groups

        return slot_groups(keys)

    def _settle(self, tally: writes.DeleteTally) -> None:
        """Count a tally; the batches a cluster node redirected (their slot moved) are sent
        to the new owner first, and what could not be finished is named by slot."""
        if tally.redirected:
            from cachediag.keyspace.routing import SlotRouter

            if self._router is None:
                self._router = SlotRouter([self.target], self.timeout)
            moved = sum(len(keys) for keys, _ in tally.redirected)
            followed = writes.apply_redirected_unlinks(self._router, tally.redirected, self.sync)
            self.report.redirected += moved
            self.report.add_tally(followed)
        self.report.add_tally(tally)

    def _tally(self, tally: writes.DeleteTally, keys: list[bytes]) -> None:
        self._settle(tally)
        room = READ_BACK_SAMPLE - len(self.read_back)
        if room > 0 and tally.deleted:
            self.read_back.extend(keys[:room])

    def flush_dumped(self) -> None:
        """The deletes of the last keys backed up, which no later ride carried."""
        if self._dumped:
            assert self.backup_sha is not None
            dumped, self._dumped = self._dumped, []
            tally = writes.apply_backed_up_deletes(self.client, dumped, self.backup_sha, self.sync)
            self._tally(tally, [key for key, _ in dumped])
            self._safe_cursor = self._dumped_cursor

    def _delete(self, keys: list[bytes]) -> None:
        guard = self.guard
        index = 0
        while index < len(keys):
            part = keys[index : index + guard.chunk]
            index += len(part)
            guard.before(len(part))
            kept: dict[bytes, bytes] | None = None
            if self.sinks.backup is not None:
                started = time.monotonic()
                records = dumps(self.client, part)
                guard.timed(started)
                self.sinks.backup.write(records)
                if self.report.backup is not None:
                    self.report.backup["records"] += len(records)
                kept = {key: dump for key, _, dump in records}
            if self.sinks.before_delete is not None:
                self.sinks.before_delete(part)
            started = time.monotonic()
            if self.backup_sha is not None and kept is not None:
                tally = writes.apply_backed_up_deletes(
                    self.client, list(kept.items()), self.backup_sha, self.sync
                )
                tally.gone += len(part) - len(kept)  # no DUMP: gone before the backup
            elif self.sha is not None:
                tally = writes.apply_guarded_deletes(
                    self.client, self._expectations(part, kept), self.sha, self.sync
                )
                if kept is not None:
                    tally.gone += len(part) - len(kept)  # no DUMP: gone before the backup
            else:
                tally = writes.apply_unlinks(self.client, self._groups(part), self.sync)
            guard.timed(started)
            self._settle(tally)
            room = READ_BACK_SAMPLE - len(self.read_back)
            if room > 0 and tally.deleted:
                self.read_back.extend(part[:room])

    def _expectations(
        self, keys: list[bytes], kept: dict[bytes, bytes] | None
    ) -> list[tuple[bytes, Expectation]]:
        """What each guarded delete compares: what the filters read, and with --backup the
        DUMP kept (a key rewritten since its backup stays: the backup would not restore it)."""
        items = []
        for key in keys:
            if kept is not None and key not in kept:
                continue
            base = (
                expectation(self.filters, self._inspected[key])
                if self.filters.any
                else Expectation(type="")
            )
            if kept is not None:
                base = dataclasses.replace(base, dump=kept[key])
            items.append((key, base))
        return items

    def on_cursor(self, cursor: int) -> None:
        if self._stop_mid_batch:
            return  # the batch just cut short resumes at its start, not after it
        self.cursor_before = cursor
        if self.riding and (self._queue or self._rides or self._dumped):
            # Deletes for the keys before `cursor` are still to go or to be answered: the
            # checkpoint moves when they land (never ahead of what was deleted).
            self._pending_cursor = cursor
            return
        self._maybe_checkpoint(cursor)

    def _maybe_checkpoint(self, cursor: int) -> None:
        if self.sinks.checkpoint is not None and self.request.apply:
            now = time.monotonic()
            if now - self._last_checkpoint >= CHECKPOINT_EVERY_S:
                self._last_checkpoint = now
                self.sinks.checkpoint(self.checkpoint(cursor))

    def checkpoint(self, cursor: int) -> dict[str, Any]:
        return {
            "pattern_index": self.pattern_index,
            "cursor": str(cursor),
            "deleted": self.report.deleted,
        }

    def _progress(self) -> None:
        self.report.elapsed_s = time.monotonic() - self._started
        self._sync_guard()
        if self.sinks.progress is not None:
            self.sinks.progress(self.report)

    def _sync_guard(self) -> None:
        report, guard = self.report, self.guard
        report.paused_s = guard.paused_s + self._engine_slept
        report.pauses = guard.pauses + self._engine_backoffs
        report.rate_wait_s = guard.rate_wait_s
        report.worst_round_trip_ms = guard.worst_ms

    # -- the run ---------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        request, report = self.request, self.report
        error: dict[str, str] | None = None
        with self.sinks.stop.installed():
            if request.keys and request.pattern_index == 0 and request.cursor == 0:
                self.named(list(request.keys))
            scans = request.scans
            start = request.pattern_index
            for index in range(start, len(scans)):
                if report.stop_reason or self.sinks.stop.set:
                    break
                self.pattern_index = index
                self.cursor_before = request.cursor if index == start else 0
                options = ScanOptions(
                    count=request.count,
                    match=scans[index],
                    type=self.filters.type,
                    cursor=self.cursor_before,
                    delimiter=request.delimiter,
                    # The engine's PING between batches backs off too, at twice the bound:
                    # purge's own writes are timed against the bound itself.
                    backoff_above_ms=request.limits.max_latency_ms * 2,
                    keys_only=True,
                    on_cursor=self.on_cursor,
                    rider=self if self.riding else None,
                    on_keys=self.on_keys,
                    count_of=lambda: self.guard.chunk,
                )
                result = scan_keyspace(self.client, options, self.on_batch)
                self._engine_slept += result.slept_s
                self._engine_backoffs += result.backoffs
                if result.stop_reason != "server-error":
                    try:
                        self.flush_dumped()
                    except ProbeError as failure:
                        result.stop_reason, result.failure = "server-error", failure
                        result.error = failure.message
                if result.stop_reason == "server-error" and self.backup_riding:
                    # Keys backed up but not yet deleted lie before the engine's cursor.
                    result.cursor = self._safe_cursor
                if result.stop_reason == "server-error":
                    report.stop_reason = "server-error"
                    error = {"kind": _kind(result.failure), "message": result.error or ""}
                    if error["kind"] == "closed":
                        # The client's hint for a connection closed before any answer (a
                        # TLS-only port) does not apply to one that answered until now.
                        error["message"] = "the server closed the connection mid-purge"
                    report.cursor = result.cursor
                    break
                if result.stop_reason == "interrupted" or self.sinks.stop.set:
                    report.stop_reason = "interrupted"
                    report.cursor = result.cursor
                    break
                if report.stop_reason == "max-keys":
                    if result.complete and not self._stop_mid_batch:
                        # This pattern is done: a resumed run goes on with the next one.
                        self.pattern_index, report.cursor = index + 1, 0
                    else:
                        # Stopped inside a batch: resume at its start (its deleted keys
                        # are simply not found again).
                        report.cursor = (
                            self.cursor_before if self._stop_mid_batch else result.cursor
                        )
                    break
            report.complete = report.stop_reason is None or (
                report.stop_reason == "max-keys" and self.pattern_index >= len(scans)
            )
            report.pattern_index = self.pattern_index
            if request.apply and self.read_back and error is None:
                self._read_back()
        self._progress()
        if self.sinks.checkpoint is not None and request.apply and not report.complete:
            self.sinks.checkpoint(self.checkpoint(report.cursor))
        return {
            "version": ".".join(map(str, self.version)) or None,
            "error": error,
            "purge": report,
        }

    def _read_back(self) -> None:
        groups = self._groups(self.read_back)
        try:
            replies = self.client.pipeline([("EXISTS", *group) for group in groups])
        except ProbeError:
            return
        # On a cluster node, keys of a slot that moved answer MOVED: not read back.
        read = [(g, r) for g, r in zip(groups, replies, strict=True) if isinstance(r, int)]
        if read:
            self.report.read_back = sum(len(g) for g, _ in read)
            self.report.still_present = sum(r for _, r in read)


def _kind(error: ProbeError | None) -> str:
    return error.kind if error is not None else "error"


def purge_redis(target: Any, timeout: float, request: PurgeRequest, sinks: Sinks) -> dict[str, Any]:
    with RedisClient(target, timeout).connect() as client:
        purge = RedisPurge(client, request, sinks, target.name, target, timeout)
        try:
            return purge.run()
        finally:
            if purge._router is not None:
                purge._router.close()
