"""The keyspace scanning engine: SCAN in bounded batches, each batch inspected in one round trip.

Never KEYS: SCAN with COUNT walks the keyspace incrementally, and every caller sets
a budget (keys, seconds), so a scan of a production server is bounded.

Per batch, one pipelined write carries, for every key, TYPE, MEMORY USAGE, the
length command of its type and PTTL, plus the SCAN for the next batch. The type
is not known before TYPE answers, so the length command is guessed from the type
last seen in the key's namespace (strings by default); the few mis-guesses are
re-inspected inside the next batch's write, so they cost no extra round trip.
While the server works on batch N+1, the replies of batch N are parsed here: the
two cores work in parallel and at most two batches are ever in flight.
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from cachediag.clients.resp import RedisClient, ReplyError
from cachediag.keyspace import namespace_of

VALUE_HEAD_BYTES = 64
DEFAULT_COUNT = 1000

# The command that gives a key's element count (bytes for strings), by type.
LENGTH_COMMANDS = {
    "string": b"STRLEN",
    "list": b"LLEN",
    "set": b"SCARD",
    "zset": b"ZCARD",
    "hash": b"HLEN",
    "stream": b"XLEN",
}
SCAN_TYPES = tuple(LENGTH_COMMANDS)

# Without MEMORY USAGE, a collection's size is estimated at this many bytes per element.
ELEMENT_BYTES_ESTIMATE = 16

_NAMESPACE_CACHE_LIMIT = 50_000
_GUESS_TABLE_LIMIT = 10_000


def _bulk(value: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(value), value)


def _command(*parts: bytes) -> bytes:
    """A RESP command header: `_command(b"TYPE")` is the start of `TYPE <one more arg>`."""
    return b"*%d\r\n" % (len(parts) + 1) + b"".join(_bulk(p) for p in parts)


class KeyInfo:
    """What one key is: the engine's unit of output. Slots: a million of these pass through."""

    __slots__ = ("head", "key", "length", "memory", "namespace", "ttl_ms", "type")

    def __init__(
        self,
        key: bytes,
        type: str,
        ttl_ms: int,
        memory: int | None,
        length: int | None,
        head: bytes | None = None,
        namespace: str = "",
    ) -> None:
        self.key = key
        self.type = type
        self.ttl_ms = ttl_ms  # -1: no expiry
        self.memory = memory  # MEMORY USAGE bytes, None when unavailable
        self.length = length  # bytes of a string, elements of a collection, None if unknown
        self.head = head  # first bytes of a string value, when asked for
        self.namespace = namespace

    @property
    def size(self) -> int:
        """MEMORY USAGE, or an estimate from the length when MEMORY is unavailable."""
        if self.memory is not None:
            return self.memory
        length = self.length or 0
        per_item = 1 if self.type == "string" else ELEMENT_BYTES_ESTIMATE
        return len(self.key) + length * per_item

    def to_fact(self) -> dict[str, Any]:
        from cachediag.textsafe import safe_text

        return {
            "key": safe_text(self.key),
            "type": self.type,
            "ttl_ms": self.ttl_ms,
            "memory": self.memory,
            "length": self.length,
            "head_hex": self.head.hex() if self.head is not None else None,
        }

    def __repr__(self) -> str:
        return f"KeyInfo({self.key!r}, {self.type}, ttl={self.ttl_ms}, len={self.length})"


class Namespacer:
    """keyspace.namespace_of for bytes keys, fast enough for a million keys a second.

    Keys of one namespace differ in their id segments only: with the all-digit
    segments replaced by `*` in C (one regex), most keys of a namespace share one
    shape, and a shape's namespace is computed once. Keys holding '-' (UUIDs, ISO
    dates) or no delimiter take namespace_of itself, so the answer is always its answer.
    """

    def __init__(self, delimiter: str = ":") -> None:
        self.delimiter = delimiter
        self._shapes: dict[bytes, str] = {}
        raw = re.escape(delimiter.encode("utf-8", "surrogateescape")) if delimiter else b""
        self._delim = delimiter.encode("utf-8", "surrogateescape")
        self._digits = (
            re.compile(rb"(?:^|(?<=" + raw + rb"))\d+(?=" + raw + rb"|$)") if raw else None
        )

    def __call__(self, key: bytes) -> str:
        if b"-" in key or self._digits is None:
            return namespace_of(key.decode("utf-8", "surrogateescape"), self.delimiter)
        # Fastest path, `prefix:<digits>`: the namespace is the prefix's (no '-', so no
        # ISO date can span the digits, and an all-digit segment is always `*`).
        head = key.rstrip(b"0123456789")
        if len(head) != len(key) and head.endswith(self._delim):
            namespace = self._shapes.get(head)
            if namespace is None:
                namespace = self._remember(head, head + b"0")
            return namespace
        if self._delim not in key:
            return namespace_of(key.decode("utf-8", "surrogateescape"), self.delimiter)
        shape = self._digits.sub(b"*", key)
        namespace = self._shapes.get(shape)
        if namespace is None:
            namespace = self._remember(shape, shape)
        return namespace

    def _remember(self, shape: bytes, example: bytes) -> str:
        namespace = namespace_of(example.decode("utf-8", "surrogateescape"), self.delimiter)
        if len(self._shapes) < _NAMESPACE_CACHE_LIMIT:
            self._shapes[shape] = namespace
        return namespace


@dataclass
class ScanOptions:
    count: int = DEFAULT_COUNT
    match: str | None = None
    type: str | None = None  # SCAN ... TYPE
    max_keys: int = 0  # 0: the whole keyspace
    max_seconds: float | None = None
    sleep_ms: float = 0.0
    samples: int | None = None  # MEMORY USAGE SAMPLES; None: the server's default
    cursor: int = 0  # resume from here
    with_head: bool = False  # also read the first VALUE_HEAD_BYTES of strings
    delimiter: str = ":"
    # Back off when a PING between batches takes longer than this (None: 5x the
    # baseline measured before the scan, at least 2 ms).
    backoff_above_ms: float | None = None
    ping_every_s: float = 0.5
    use_memory: bool = True


@dataclass
class ScanResult:
    start_cursor: int = 0
    cursor: int = 0  # resume with --cursor this; 0 with complete=True: all seen
    complete: bool = False
    stop_reason: str | None = None  # max-keys, max-seconds, interrupted
    scanned: int = 0  # keys SCAN returned and we inspected
    inspected: int = 0  # keys that still existed
    deleted: int = 0  # keys gone between SCAN and inspection (skipped)
    batches: int = 0
    round_trips: int = 0
    misguesses: int = 0  # keys re-inspected because the length command guessed wrong
    memory_available: bool = True
    memory_reason: str | None = None
    elapsed_s: float = 0.0
    dbsize: int | None = None
    ping_baseline_us: int | None = None
    ping_max_us: int | None = None
    backoffs: int = 0
    slept_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "start_cursor": str(self.start_cursor),
            "cursor": str(self.cursor),
            "complete": self.complete,
            "stop_reason": self.stop_reason,
            "scanned": self.scanned,
            "inspected": self.inspected,
            "deleted": self.deleted,
            "batches": self.batches,
            "round_trips": self.round_trips,
            "misguesses": self.misguesses,
            "memory_available": self.memory_available,
            "memory_reason": self.memory_reason,
            "elapsed_s": round(self.elapsed_s, 3),
            "dbsize": self.dbsize,
            "ping_baseline_us": self.ping_baseline_us,
            "ping_max_us": self.ping_max_us,
            "backoffs": self.backoffs,
            "slept_s": round(self.slept_s, 3),
        }


class Progress(Protocol):
    def update(self, done: int, total: int | None, elapsed: float) -> None: ...

    def note(self, message: str) -> None: ...

    def finish(self) -> None: ...


class ScanError(RuntimeError):
    """SCAN itself was refused (an ACL, a renamed command): nothing can be scanned."""


@dataclass
class _Batch:
    start: int  # the cursor that produced these keys
    following: int  # the cursor SCAN returned with them
    keys: list[bytes]
    found: list[KeyInfo] = field(default_factory=list)
    pending: int = 0  # keys carried into a later write
    replies_read: bool = False


# One key in a write: (key, guessed type, its batch, is a retry, its namespace or ""),
# so its replies can be read back.
_Job = tuple[bytes, str, _Batch, bool, str]
_TYPE_NAMES = {name.encode(): name for name in (*LENGTH_COMMANDS, "none")}


@dataclass
class _Sent:
    batch: _Batch | None
    jobs: list[_Job]
    memory: bool
    replies: int


class _Engine:
    def __init__(
        self,
        client: RedisClient,
        options: ScanOptions,
        on_batch: Callable[[list[KeyInfo]], None],
        progress: Progress | None,
    ) -> None:
        self.client = client
        self.options = options
        self.on_batch = on_batch
        self.progress = progress
        self.result = ScanResult(start_cursor=options.cursor, cursor=options.cursor)
        self.namespace = Namespacer(options.delimiter)
        self.guesses: dict[str, str] = {}
        self.carry: list[_Job] = []
        self.open: deque[_Batch] = deque()
        self.memory = options.use_memory
        samples = [b"SAMPLES", b"%d" % options.samples] if options.samples is not None else []
        self._memory_tail = samples
        self._started = time.monotonic()
        self._last_ping = self._started
        self._threshold_us: float | None = None
        self._backoff_s = 0.0
        self._count = max(int(options.count), 1)
        self._ended = False  # the batch SCAN ended with (cursor 0) was reported

    # -- packing ------------------------------------------------------------------------
    def _scan_command(self, cursor: int) -> bytes:
        count = self._count
        if self.options.max_keys:
            # Ask for no more than the budget has room for: the scan stops at a batch edge.
            count = max(min(count, self.options.max_keys - self.result.scanned), 10)
        parts = [b"SCAN", b"%d" % cursor]
        if self.options.match:
            parts += [b"MATCH", self.options.match.encode("utf-8", "surrogateescape")]
        parts += [b"COUNT", b"%d" % count]
        if self.options.type:
            parts += [b"TYPE", self.options.type.encode()]
        return b"*%d\r\n" % len(parts) + b"".join(_bulk(p) for p in parts)

    def _pack(self, jobs: list[_Job]) -> tuple[bytes, int]:
        """The inspection commands of `jobs` as RESP, and how many replies they will get.

        One bytes template per guessed type, filled per key: packing a million keys
        must cost well under a second.
        """
        memory = self.memory
        with_head = self.options.with_head
        templates: dict[str, tuple[bytes, int, int]] = {}
        parts: list[bytes] = []
        append = parts.append
        replies = 0
        for key, guess, _batch, _retry, _namespace in jobs:
            template = templates.get(guess)
            if template is None:
                template = templates[guess] = self._template(guess, memory, with_head)
            text, slots, count = template
            arg = b"$%d\r\n%b\r\n" % (len(key), key)
            append(text % ((arg,) * slots))
            replies += count
        return b"".join(parts), replies

    def _template(self, guess: str, memory: bool, with_head: bool) -> tuple[bytes, int, int]:
        """(template with one %b per key argument, number of %b, number of commands)."""
        commands = [_command(b"TYPE") + b"%b"]
        if memory:
            tail = b"".join(_bulk(p) for p in self._memory_tail)
            commands.append(
                b"*%d\r\n" % (3 + len(self._memory_tail))
                + _bulk(b"MEMORY")
                + _bulk(b"USAGE")
                + b"%b"
                + tail
            )
        if guess in LENGTH_COMMANDS:
            commands.append(_command(LENGTH_COMMANDS[guess]) + b"%b")
        commands.append(_command(b"PTTL") + b"%b")
        if with_head and guess == "string":
            commands.append(
                b"*4\r\n"
                + _bulk(b"GETRANGE")
                + b"%b"
                + _bulk(b"0")
                + _bulk(b"%d" % (VALUE_HEAD_BYTES - 1))
            )
        return b"".join(commands), len(commands), len(commands)

    # -- reading ------------------------------------------------------------------------
    def _read_jobs(self, jobs: list[_Job], memory: bool, replies: int) -> None:
        """Read the replies of `jobs` (sent with MEMORY when `memory`) and file the results.

        The hot loop of the engine: one pass, no call per key but the namespace's.
        """
        values = self.client.read_replies(replies) if replies else []
        take = iter(values).__next__
        with_head = self.options.with_head
        namespace_of_key = self.namespace
        result = self.result
        names = _TYPE_NAMES
        for key, guess, batch, retry, namespace in jobs:
            type_reply = take()
            mem = take() if memory else None
            length = take() if guess in LENGTH_COMMANDS else None
            pttl = take()
            head = take() if with_head and guess == "string" else None
            if retry:
                batch.pending -= 1
            kind = names.get(type_reply) if type_reply.__class__ is bytes else None
            if kind is None:
                if isinstance(type_reply, ReplyError):
                    raise ScanError(f"TYPE failed: {type_reply.text}")
                kind = type_reply.decode("utf-8", "replace")  # a module's type
            if kind == "none" or pttl == -2:
                result.deleted += 1  # gone between SCAN and now: not an error
                continue
            if not namespace:
                namespace = namespace_of_key(key)
            if kind != guess and not retry and kind in LENGTH_COMMANDS:
                # The guess was wrong: re-inspect with the right command in a later write.
                result.misguesses += 1
                if len(self.guesses) < _GUESS_TABLE_LIMIT or namespace in self.guesses:
                    self.guesses[namespace] = kind
                batch.pending += 1
                self.carry.append((key, kind, batch, True, namespace))
                continue
            if mem.__class__ is not int:
                if isinstance(mem, ReplyError):
                    self._memory_refused(mem.text)
                mem = None
            batch.found.append(
                KeyInfo(
                    key,
                    kind,
                    pttl if pttl.__class__ is int else -1,
                    mem,
                    length if length.__class__ is int and kind == guess else None,
                    head if head.__class__ is bytes and kind == "string" else None,
                    namespace,
                )
            )

    def _memory_refused(self, reason: str) -> None:
        if self.memory:
            self.memory = False
            self.result.memory_available = False
            self.result.memory_reason = reason
            if self.progress:
                self.progress.note(
                    f"MEMORY USAGE unavailable ({reason}): sizes estimated from lengths"
                )

    # -- the loop -----------------------------------------------------------------------
    def _read_scan(self, start: int) -> _Batch:
        reply = self.client.read_replies(1)[0]
        if isinstance(reply, ReplyError):
            raise ScanError(f"SCAN failed: {reply.text}")
        following = int(reply[0])
        keys = list(reply[1])
        self.result.scanned += len(keys)
        self.result.batches += 1
        return _Batch(start, following, keys)

    def _jobs_for(self, batch: _Batch) -> list[_Job]:
        jobs = self.carry
        self.carry = []
        forced = self.options.type
        guesses = self.guesses
        if forced:
            jobs += [(key, forced, batch, False, "") for key in batch.keys]
        elif guesses:
            namespace = self.namespace
            for key in batch.keys:
                name = namespace(key)
                jobs.append((key, guesses.get(name, "string"), batch, False, name))
        else:
            jobs += [(key, "string", batch, False, "") for key in batch.keys]
        return jobs

    def _budget_left(self) -> str | None:
        if self.options.max_keys and self.result.scanned >= self.options.max_keys:
            return "max-keys"
        if (
            self.options.max_seconds is not None
            and time.monotonic() - self._started >= self.options.max_seconds
        ):
            return "max-seconds"
        return None

    def _emit_done(self) -> None:
        while self.open and self.open[0].replies_read and self.open[0].pending == 0:
            batch = self.open[0]
            if batch.found:
                self.on_batch(batch.found)
            # Only now is the batch reported: a Ctrl-C inside on_batch resumes before it.
            self.open.popleft()
            self.result.inspected += len(batch.found)
            self.result.cursor = batch.following
            self._ended = batch.following == 0
            batch.found = []
        if self.progress:
            self._report_progress()

    def _report_progress(self) -> None:
        assert self.progress is not None
        total = self.result.dbsize
        done = self.result.scanned
        if self.options.match or self.options.type:
            done = self.result.batches * self._count  # keys visited, roughly
        if self.options.max_keys:
            total = (
                min(total, self.options.max_keys) if total is not None else self.options.max_keys
            )
        self.progress.update(done, total, time.monotonic() - self._started)

    def _may_overlap(self) -> bool:
        """Whether the next write may go out before this one is read: not when pausing is due."""
        options = self.options
        if options.sleep_ms > 0 or self._backoff_s > 0:
            return False
        return time.monotonic() - self._last_ping < options.ping_every_s

    def _pause(self) -> None:
        """With nothing in flight: the sleep, and a PING that sees only the server's own load."""
        options = self.options
        now = time.monotonic()
        if now - self._last_ping >= options.ping_every_s or self._backoff_s > 0:
            self._last_ping = now
            latency = self.client.timed_ping()
            self.result.round_trips += 1
            self.result.ping_max_us = max(self.result.ping_max_us or 0, latency)
            assert self._threshold_us is not None
            if latency > self._threshold_us:
                if self._backoff_s == 0 and self.progress:
                    self.progress.note(f"server PING took {latency / 1000:.1f} ms: slowing down")
                self.result.backoffs += 1
                self._backoff_s = min(max(self._backoff_s * 2, 0.01), 1.0)
            elif self._backoff_s:
                self._backoff_s = self._backoff_s / 2 if self._backoff_s > 0.01 else 0.0
        pause = options.sleep_ms / 1000 + self._backoff_s
        if pause > 0:
            time.sleep(pause)
            self.result.slept_s += pause

    def run(self) -> ScanResult:
        client = self.client
        result = self.result
        dbsize = client.call("DBSIZE")
        result.dbsize = dbsize if isinstance(dbsize, int) else None
        baseline = min(client.timed_ping() for _ in range(3))
        result.round_trips += 4
        result.ping_baseline_us = baseline
        if self.options.backoff_above_ms is not None:
            self._threshold_us = self.options.backoff_above_ms * 1000
        else:
            self._threshold_us = max(5 * baseline, 2000)

        try:
            self._loop()
        except KeyboardInterrupt:
            result.stop_reason = "interrupted"
            # The cursor stays at the first batch not fully inspected: resuming
            # from it sees every key this run did not report.
            result.cursor = self.open[0].start if self.open else result.cursor
        if self._ended:
            result.stop_reason = None  # the budget ran out exactly at the end
        result.complete = self._ended
        result.elapsed_s = time.monotonic() - self._started
        if self.progress:
            self.progress.finish()
        return result

    def _loop(self) -> None:
        client = self.client
        result = self.result
        client.send_raw(self._scan_command(self.options.cursor))
        result.round_trips += 1
        upcoming: _Batch | None = self._read_scan(self.options.cursor)
        inflight: _Sent | None = None
        while upcoming is not None or inflight is not None or self.carry:
            # One write: the next SCAN first (its reply comes back first), then the
            # inspection of the keys we hold and of the keys carried from mis-guesses.
            batch, upcoming = upcoming, None
            follow = False
            if batch is not None and batch.following != 0:
                stop = self._budget_left()
                if stop:
                    result.stop_reason = stop
                else:
                    follow = True
            jobs = self._jobs_for(batch) if batch is not None else self._take_carry()
            memory = self.memory  # as packed: a refusal read below must not change it
            body, replies = self._pack(jobs)
            if batch is not None:
                self.open.append(batch)
            head = self._scan_command(batch.following) if follow and batch is not None else b""
            client.send_raw(head + body)
            result.round_trips += 1
            if inflight is not None:
                self._finish(inflight)  # the previous write's replies come first in the stream
                inflight = None
            sent = _Sent(batch, jobs, memory, replies)
            if follow and batch is not None:
                upcoming = self._read_scan(batch.following)
                if self._may_overlap():
                    # Parse these replies while the server works on the next write.
                    inflight = sent
                    continue
            self._finish(sent)
            if upcoming is not None or self.carry:
                self._pause()

    def _take_carry(self) -> list[_Job]:
        jobs, self.carry = self.carry, []
        return jobs

    def _finish(self, sent: _Sent) -> None:
        self._read_jobs(sent.jobs, sent.memory, sent.replies)
        if sent.batch is not None:
            sent.batch.replies_read = True
        self._emit_done()


def scan_keyspace(
    client: RedisClient,
    options: ScanOptions,
    on_batch: Callable[[list[KeyInfo]], None],
    progress: Progress | None = None,
) -> ScanResult:
    """Scan with `options`, handing each fully inspected batch of keys to `on_batch`.

    Stops at the end of the keyspace, at a budget (max_keys, max_seconds) or on
    Ctrl-C; the result says which and holds the cursor to resume from. Keys deleted
    while the scan runs are counted and skipped. Raises ScanError when SCAN is refused.
    """
    return _Engine(client, options, on_batch, progress).run()


# -- the check's bounded sample, and the older helpers built on the same commands -------


@dataclass
class SampleResult:
    keys: list[KeyInfo] = field(default_factory=list)
    scanned_batches: int = 0
    complete: bool = False  # the cursor came back to 0: the whole keyspace was seen
    memory_available: bool = True
    memory_reason: str | None = None


def scan_sample(
    client: RedisClient, *, max_keys: int = 1000, count: int = 1000, match: str | None = None
) -> SampleResult:
    """A bounded sample: the first `max_keys` keys SCAN returns, each with its value head."""
    keys: list[KeyInfo] = []
    options = ScanOptions(
        count=min(count, max_keys), match=match, max_keys=max_keys, with_head=True
    )
    try:
        outcome = scan_keyspace(client, options, keys.extend)
    except ScanError as exc:
        raise RuntimeError(str(exc)) from None
    return SampleResult(
        keys=keys[:max_keys],
        scanned_batches=outcome.batches,
        complete=outcome.complete and len(keys) <= max_keys,
        memory_available=outcome.memory_available,
        memory_reason=outcome.memory_reason,
    )


def iter_scan_batches(
    client: RedisClient, *, count: int = 1000, match: str | None = None, cursor: int = 0
) -> Iterator[tuple[int, list[bytes]]]:
    """Yield (next_cursor, keys) per SCAN call until the cursor returns to 0."""
    while True:
        args: list[Any] = ["SCAN", cursor, "COUNT", max(count, 100)]
        if match:
            args[2:2] = ["MATCH", match]
        reply = client.call(*args)
        if isinstance(reply, ReplyError):
            raise RuntimeError(f"SCAN failed: {reply.text}")
        cursor = int(reply[0])
        yield cursor, list(reply[1])
        if cursor == 0:
            return


def inspect_keys(client: RedisClient, keys: list[bytes]) -> tuple[list[KeyInfo], str | None]:
    """TYPE, PTTL, MEMORY USAGE, length and value head of a few named keys: two round trips.

    Returns the infos (keys that do not exist are left out) and, when MEMORY USAGE
    was refused (managed services, ACLs), why.
    """
    if not keys:
        return [], None
    types = client.pipeline([("TYPE", key) for key in keys])
    commands: list[tuple[Any, ...]] = []
    for key, type_reply in zip(keys, types, strict=True):
        kind = type_reply.decode() if isinstance(type_reply, bytes) else "none"
        length = LENGTH_COMMANDS.get(kind, b"EXISTS")
        commands += [
            ("PTTL", key),
            ("MEMORY", "USAGE", key),
            (length, key),
            ("GETRANGE", key, 0, VALUE_HEAD_BYTES - 1) if kind == "string" else ("EXISTS", key),
        ]
    replies = client.pipeline(commands)
    infos = []
    memory_reason = None
    for index, (key, type_reply) in enumerate(zip(keys, types, strict=True)):
        kind = type_reply.decode() if isinstance(type_reply, bytes) else "none"
        pttl, memory, length, head = replies[index * 4 : index * 4 + 4]
        if kind == "none" or pttl == -2:
            continue
        if isinstance(memory, ReplyError):
            memory_reason = memory_reason or memory.text
            memory = None
        infos.append(
            KeyInfo(
                key=key,
                type=kind,
                ttl_ms=int(pttl) if isinstance(pttl, int) else -1,
                memory=int(memory) if isinstance(memory, int) else None,
                length=int(length) if kind in LENGTH_COMMANDS and isinstance(length, int) else None,
                head=head if kind == "string" and isinstance(head, bytes) else None,
            )
        )
    return infos, memory_reason
