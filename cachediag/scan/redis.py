"""The keyspace scanning engine: SCAN in bounded batches, each batch inspected in one round trip.

Never KEYS: SCAN with COUNT walks the keyspace incrementally, and every caller sets
a budget (keys, seconds), so a scan of a production server is bounded.

Per batch, one pipelined write carries the SCAN for the next batch and, for every
key, MEMORY USAGE, the length command of its type and PTTL. TYPE is not sent: the
type is guessed from the one last seen in the key's namespace (strings by default)
and the length command checks the guess (WRONGTYPE otherwise); the few mis-guesses
get a full probe (TYPE and every length command) inside a later write, so they cost
no extra round trip. While the server works on batch N+1, the replies of batch N
are parsed here: two cores work in parallel, and at most two writes are in flight.
Between batches the engine sleeps when asked and measures PING; when PING slows
down, it backs off (and stops overlapping) until the server recovers.
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from cachediag.clients import bounds
from cachediag.clients.resp import KeyCommand, RedisClient, ReplyError, key_args, pack
from cachediag.errors import ProbeError, ProtocolViolation, ScanRefused
from cachediag.keyspace.namespaces import namespace_of
from cachediag.safety.textsafe import safe_text
from cachediag.scan.lookups import Lookups

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

# Without MEMORY USAGE, a collection's size is estimated at this many bytes per element.
ELEMENT_BYTES_ESTIMATE = 16

# A whole SCAN of a DBSIZE-key keyspace: at most this many times the calls (per COUNT
# keys) and the keys it needs, or it is not progressing (see _Engine._check_progress).
SCAN_CALLS_SLACK = 64
SCAN_KEYS_FACTOR = 4

_NAMESPACE_CACHE_LIMIT = 50_000
NAMESPACE_KEY_BYTES = 200
_GUESS_TABLE_LIMIT = 10_000
# The "type" of a batch inspected without types (ScanOptions.with_type False): no length
# command is sent and no guess can go wrong.
_UNTYPED = "?"

_TYPE = KeyCommand.of(b"TYPE")
_PTTL = KeyCommand.of(b"PTTL")
_LENGTHS = {kind: KeyCommand.of(name) for kind, name in LENGTH_COMMANDS.items()}
_GETRANGE = KeyCommand.of(b"GETRANGE", after=(b"0", b"%d" % (VALUE_HEAD_BYTES - 1)))


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
        from cachediag.safety.textsafe import key_fields

        return {
            **key_fields(self.key),
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
    segments replaced in C (a regex), most keys of a namespace share one shape, and
    a shape's namespace is computed once, by namespace_of itself. Keys holding '-'
    (UUIDs, ISO dates: a date can span segments) always go to namespace_of. The
    caches are bounded; past the bound, namespaces are computed, not remembered.
    """

    def __init__(self, delimiter: str = ":") -> None:
        self.delimiter = delimiter
        self._delim = delimiter.encode("utf-8", "surrogateescape")
        raw = re.escape(self._delim)
        # Each cache holds one kind of shape, so that shapes of two kinds never collide.
        self._heads: dict[bytes, str] = {}  # `prefix:` of keys `prefix:<digits>`
        self._shapes: dict[bytes, str] = {}  # keys with their digit segments as \x00
        self._digits = (
            re.compile(rb"(?:^|(?<=" + raw + rb"))\d+(?=" + raw + rb"|$)", re.M) if raw else None
        )

    def _compute(self, cache: dict[bytes, str], shape: bytes, example: bytes) -> str:
        namespace = namespace_of(example.decode("utf-8", "surrogateescape"), self.delimiter)
        if len(cache) < _NAMESPACE_CACHE_LIMIT:
            cache[shape] = namespace
        return namespace

    def __call__(self, key: bytes) -> str:
        if len(key) > NAMESPACE_KEY_BYTES:
            # A namespace is a key's leading segments: a monster key name is judged on
            # its start, so neither the caches nor the namespace table hold megabytes.
            return self._namespace(key[:NAMESPACE_KEY_BYTES]) + "…"
        return self._namespace(key)

    def _namespace(self, key: bytes) -> str:
        if b"-" in key or self._digits is None or b"\x00" in key or b"\n" in key:
            return namespace_of(key.decode("utf-8", "surrogateescape"), self.delimiter)
        # Fastest path, `prefix:<digits>`: the namespace is the prefix's (no '-', so no
        # ISO date can span the digits, and an all-digit segment is always `*`).
        head = key.rstrip(b"0123456789")
        if len(head) != len(key) and head.endswith(self._delim):
            namespace = self._heads.get(head)
            return (
                namespace
                if namespace is not None
                else self._compute(self._heads, head, head + b"0")
            )
        shape = self._digits.sub(b"\x00", key)
        namespace = self._shapes.get(shape)
        if namespace is None:
            namespace = self._compute(self._shapes, shape, shape.replace(b"\x00", b"0"))
        return namespace

    def many(self, keys: list[bytes]) -> list[str]:
        """The namespaces of `keys`, a batch at a time: one join, one regex, one split.

        An all-digit segment becomes "0" in the example handed to namespace_of (still
        an id, still `*`); batches holding '-', NUL or a newline go key by key.
        """
        if not keys:
            return []
        if max(map(len, keys)) > NAMESPACE_KEY_BYTES:  # a monster name: cut, one by one
            return [self(key) for key in keys]
        joined = b"\n".join(keys)
        if (
            self._digits is None
            or b"-" in joined
            or b"\x00" in joined
            or joined.count(b"\n") != len(keys) - 1
        ):
            return [self(key) for key in keys]
        shapes = self._digits.sub(b"\x00", joined).split(b"\n")
        get = self._shapes.get
        out: list[Any] = [get(shape) for shape in shapes]
        if None in out:
            for index, namespace in enumerate(out):
                if namespace is None:
                    shape = shapes[index]
                    out[index] = get(shape) or self._compute(
                        self._shapes, shape, shape.replace(b"\x00", b"0")
                    )
        return out


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
    # False: PTTL only (and MEMORY USAGE when use_memory): keys come without a length, and
    # typed only by `type` when SCAN TYPE asked for one. What `ttl` needs, at a command a key.
    with_type: bool = True
    # A sample, never resumed: SCAN asks full batches (COUNT as given, even near max_keys)
    # and exactly the first max_keys keys it returns are inspected; the rest of the last
    # batch is dropped, and the scan is complete only if nothing was.
    exact_sample: bool = False
    # Stop after this many SCAN calls (0: no limit): a sparse MATCH over a huge keyspace
    # returns next to nothing per call, and max_keys alone would let it walk everything.
    max_batches: int = 0
    # SCAN alone: the keys and their namespaces, nothing read per key (type "", ttl -1,
    # no length): a look at a namespace's keys, or the listing a deletion works from.
    keys_only: bool = False
    # Told the cursor after each batch is reported (handed to on_batch and done with):
    # where a run stopped now would resume. purge keeps its local checkpoint with it.
    on_cursor: Callable[[int], None] | None = None
    # keys_only: commands built from each batch (purge's deletes) sent behind the next SCAN.
    rider: Rider | None = None
    # keys_only: handed each batch's keys and namespaces as two lists instead of a KeyInfo
    # per key to on_batch (half a microsecond a key saved where a million go by); a true
    # return ends the scan, as on_batch's.
    on_keys: Callable[[list[bytes], list[str]], object] | None = None
    # The COUNT of each SCAN, asked before it is sent (None: `count`): purge's guard
    # shrinks its batches while its writes are slow and grows them back.
    count_of: Callable[[], int] | None = None
    # What the caller read just before on this connection (check's probe: its 20 PINGs
    # and its DBSIZE): the scan then starts without asking again, four round trips fewer.
    known_baseline_us: int | None = None
    known_dbsize: int | None = None


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
    error: str | None = None  # why the server stopped the scan (stop_reason server-error)
    denied: int = 0  # keys an ACL key pattern kept us from reading (skipped)
    head_reason: str | None = None  # why value heads could not be read, if they could not
    # What the scan's own commands added to the server's keyspace_hits / keyspace_misses.
    lookups: Lookups = field(default_factory=Lookups)
    dropped: int = 0  # keys of the last batch past an exact sample's max_keys
    # The error that ended the scan (stop_reason server-error), for callers that re-raise it.
    failure: ProbeError | None = field(default=None, repr=False, compare=False)

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
            "error": self.error,
            "denied": self.denied,
            "head_reason": self.head_reason,
        }

    def stop_error(self) -> dict[str, str] | None:
        """A row's `error` when the server ended the scan: up, but read only in part (exit 3)."""
        return (
            {"kind": "error", "message": f"the scan stopped: {self.error}"} if self.error else None
        )


class Rider(Protocol):
    """Commands that ride a keys-only scan's pipeline (see _Engine._keys_loop)."""

    # A rider may also say `overlap = True`: its next commands do not depend on the replies
    # to its last ones, which may then be read after the next write is sent.

    def ride(self) -> tuple[bytes, int]:
        """The packed commands to send behind the next SCAN, and how many replies they get."""
        ...

    def landed(self, replies: list[Any]) -> None:
        """The replies of the commands `ride` gave last, in order."""
        ...


# Handed each batch of inspected keys; a true return ends the scan (the caller has enough).
OnBatch = Callable[[list[KeyInfo]], object]


class Progress(Protocol):
    def update(self, done: int, total: int | None, elapsed: float) -> None: ...

    def note(self, message: str) -> None: ...

    def finish(self) -> None: ...


_DENIED = "(denied)"


def _denied(reply: Any) -> bool:
    """An ACL that lets a user SCAN but not read some keys answers NOPERM for those."""
    # "NOPERM ... no permissions to access one of the keys": the key, not the command.
    return isinstance(reply, ReplyError) and "permissions to access" in reply.text


def scan_reply(reply: Any, bound: bounds.ReplyBound | None = None) -> tuple[int, list[bytes]]:
    """(cursor, keys) of a SCAN reply; anything else is a ScanRefused or, for a reply no
    Redis sends (keys that are not strings, more keys than COUNT allows), a
    ProtocolViolation naming what was wrong: never a crash."""
    if isinstance(reply, ReplyError):
        raise ScanRefused(f"SCAN failed: {reply.text}")
    if (
        isinstance(reply, list)
        and len(reply) == 2
        and isinstance(reply[0], bytes)
        and reply[0].isdigit()
        and isinstance(reply[1], list)
    ):
        keys = reply[1]
        if bound is not None and len(keys) > bound.elements:
            raise bounds.too_large(bound.what, len(keys), bound.elements, "keys")
        # set(map(type)) runs in C: a batch's check costs next to nothing.
        kinds = set(map(type, keys))
        if kinds - {bytes}:
            odd = next(key for key in keys if not isinstance(key, bytes))
            what = "a nested array" if isinstance(odd, list) else type(odd).__name__
            raise ProtocolViolation(f"SCAN answered a key that is not a string ({what})")
        return int(reply[0]), keys
    raise ScanRefused(f"SCAN answered {reply!r:.40}, not a cursor and keys")


def _check_heads(heads: list[Any]) -> None:
    """GETRANGE 0 63 answers at most 64 bytes: more is a server that does not do as asked."""
    if max(map(len, (head for head in heads if head.__class__ is bytes)), default=0) > (
        VALUE_HEAD_BYTES
    ):
        longest = max(len(head) for head in heads if head.__class__ is bytes)
        raise bounds.too_large(f"GETRANGE 0 {VALUE_HEAD_BYTES - 1}", longest, VALUE_HEAD_BYTES)


@dataclass
class _Batch:
    start: int  # the cursor that produced these keys
    following: int  # the cursor SCAN returned with them
    keys: list[bytes]
    found: list[KeyInfo] = field(default_factory=list)
    pending: int = 0  # keys carried into a later write
    replies_read: bool = False


# A key whose type is not known: (key, its batch, its namespace). Probed in full.
_Probe = tuple[bytes, _Batch, str]


@dataclass
class _Write:
    """One pipelined write: its keys grouped by guessed type, then the full probes.

    Grouping lets each command group be packed with one bytes.join in C, and its
    replies be read back with zip: MEMORY USAGE of every key of a group, then the
    length command of every key, then PTTL of every key.
    """

    batch: _Batch | None
    groups: list[tuple[str, list[bytes], list[str]]]  # (guessed type, keys, namespaces)
    probes: list[_Probe]
    memory: bool  # MEMORY USAGE was sent (a refusal read later must not change that)
    replies: int = 0


class _Engine:
    def __init__(
        self,
        client: RedisClient,
        options: ScanOptions,
        on_batch: OnBatch,
        progress: Progress | None,
    ) -> None:
        self.client = client
        self.options = options
        self.on_batch = on_batch
        self.progress = progress
        self.result = ScanResult(start_cursor=options.cursor, cursor=options.cursor)
        # SCAN ... TYPE looks up each key it visits to read its type: hits we cannot count.
        self.result.lookups.exact = not options.type
        self.namespace = Namespacer(options.delimiter)
        self.guesses: dict[str, str] = {}
        self.carry: list[_Probe] = []
        self.open: deque[_Batch] = deque()
        self.memory = options.use_memory
        samples = (b"SAMPLES", b"%d" % options.samples) if options.samples is not None else ()
        self._memory_usage = KeyCommand.of(b"MEMORY", b"USAGE", after=samples)
        self._started = time.monotonic()
        self._last_ping = self._started
        self._threshold_us: float | None = None
        self._backoff_s = 0.0
        self._count = max(int(options.count), 1)
        self._scan_bound = bounds.scan(self._count)  # set again as each SCAN is packed
        self._ended = False  # the batch SCAN ended with (cursor 0) was reported
        self._enough = False  # on_batch said it has all it wants
        # The progress guard (see _check_progress): DBSIZE to re-read at the next pause, and
        # whether it was re-read, unchanged, since the guard last tripped.
        self._recheck_dbsize = False
        self._dbsize_confirmed = False
        # The rider's commands sent and not yet answered, oldest first: how many replies
        # each has coming, and the first batch they were built from.
        self._rides: deque[tuple[int, int | None]] = deque()
        self._queued_start: int | None = None  # the first batch handed over since the last ride

    # -- packing (the bytes themselves are clients/resp's) ---------------------------------
    def _scan_command(self, cursor: int) -> bytes:
        count = self._count if self.options.count_of is None else max(self.options.count_of(), 1)
        if self.options.max_keys and not self.options.exact_sample:
            # Ask for no more than the budget has room for: the scan stops at a batch edge.
            count = max(min(count, self.options.max_keys - self.result.scanned), 10)
        parts = [b"SCAN", b"%d" % cursor]
        if self.options.match:
            parts += [b"MATCH", self.options.match.encode("utf-8", "surrogateescape")]
        parts += [b"COUNT", b"%d" % count]
        if self.options.type:
            parts += [b"TYPE", self.options.type.encode()]
        self._scan_bound = bounds.scan(count)
        return pack(*parts)

    def _group_commands(self, guess: str, memory: bool, with_head: bool) -> list[KeyCommand]:
        """The commands sent for every key of a group of one guessed type.

        A guessed type needs no TYPE: its length command answers WRONGTYPE for any
        other type, and PTTL -2 tells a deleted key from an empty one.
        """
        commands = []
        if memory:
            commands.append(self._memory_usage)
        if guess in LENGTH_COMMANDS:
            commands.append(_LENGTHS[guess])
        commands.append(_PTTL)
        if with_head and guess in ("string", ""):
            commands.append(_GETRANGE)
        return commands

    def _pack(self, write: _Write) -> bytes:
        """The write as RESP; sets write.replies to the number of replies it will get."""
        with_head = self.options.with_head
        parts: list[bytes] = []
        replies = 0
        for guess, keys, _ in write.groups:
            args = key_args(keys)
            for command in self._group_commands(guess, write.memory, with_head):
                parts.append(command.pack_many(args))
                replies += len(keys)
        if write.probes:
            # Type unknown: TYPE, MEMORY USAGE, every length command, PTTL (and the head).
            memory, pttl, *getrange = self._group_commands("", True, with_head)
            commands = [_TYPE] + ([memory] if write.memory else [])
            commands += [_LENGTHS[kind] for kind in LENGTH_COMMANDS]
            commands += [pttl, *getrange]
            for key, _, _ in write.probes:
                arg = key_args([key])
                parts += [command.pack_many(arg) for command in commands]
            replies += len(commands) * len(write.probes)
        write.replies = replies
        return b"".join(parts)

    # -- reading ------------------------------------------------------------------------
    def _read(self, write: _Write) -> None:
        """Read the replies of `write` and file the results. The engine's hot loop."""
        # Every reply of a write is a number, a type name, an error or a value head.
        bound = self._batch_bound(write.replies)
        values = self.client.read_replies(write.replies, bound=bound) if write.replies else []
        offset = 0
        with_head = self.options.with_head
        result = self.result
        batch = write.batch
        for guess, keys, names in write.groups:
            assert batch is not None
            count = len(keys)
            named = guess if guess != _UNTYPED else (self.options.type or "")
            none = [None] * count
            mems: list[Any] = none
            if write.memory:
                mems = values[offset : offset + count]
                offset += count
                refusal = next(
                    (m for m in mems if m.__class__ is ReplyError and not _denied(m)), None
                )
                if refusal is not None:  # the command itself, not one key, is refused
                    self._memory_refused(refusal.text)
                    mems = none
            lengths: list[Any] = none
            if guess in LENGTH_COMMANDS:
                lengths = values[offset : offset + count]
                offset += count
            pttls = values[offset : offset + count]
            offset += count
            heads: list[Any] = none
            if with_head and guess == "string":
                heads = values[offset : offset + count]
                offset += count
                _check_heads(heads)
            gone_before, denied_before = result.deleted, result.denied
            found = batch.found
            for key, name, mem, length, pttl, head in zip(
                keys, names, mems, lengths, pttls, heads, strict=True
            ):
                if pttl == -2:
                    result.deleted += 1  # gone between SCAN and now: not an error
                    continue
                if _denied(length) or _denied(pttl):
                    result.denied += 1  # an ACL key pattern excludes it: skip, don't fail
                    continue
                if length.__class__ is not int and guess in LENGTH_COMMANDS:
                    if length is None:
                        result.deleted += 1
                        continue
                    # Another type than guessed (WRONGTYPE): probe it fully in a later write.
                    result.misguesses += 1
                    batch.pending += 1
                    self.carry.append((key, batch, name))
                    continue
                if head.__class__ is ReplyError and result.head_reason is None:
                    result.head_reason = head.text  # GETRANGE refused (an ACL, say)
                found.append(
                    KeyInfo(
                        key,
                        named,
                        pttl if pttl.__class__ is int else -1,
                        mem if mem.__class__ is int else None,
                        length,
                        head if head.__class__ is bytes else None,
                        name,
                    )
                )
            self._count_group_lookups(
                guess, count, result.deleted - gone_before, result.denied - denied_before
            )
        for key, origin, name in write.probes:
            origin.pending -= 1
            kind, mem, length, pttl, head, offset = self._read_probe(
                values, offset, write.memory, with_head
            )
            if kind == _DENIED:
                result.denied += 1
                continue
            # TYPE, every length command, PTTL (and GETRANGE): each a lookup of this key.
            probe_lookups = 2 + len(LENGTH_COMMANDS) + (1 if with_head else 0)
            if pttl == -2 or kind == "none":
                result.lookups.add(misses=probe_lookups)
                result.deleted += 1
                continue
            result.lookups.add(hits=probe_lookups)
            if isinstance(mem, ReplyError) and not _denied(mem):
                self._memory_refused(mem.text)
            if kind in LENGTH_COMMANDS and (
                len(self.guesses) < _GUESS_TABLE_LIMIT or name in self.guesses
            ):
                self.guesses[name] = kind  # later keys of this namespace: no TYPE
            origin.found.append(
                KeyInfo(
                    key,
                    kind,
                    pttl if isinstance(pttl, int) else -1,
                    mem if isinstance(mem, int) else None,
                    length if isinstance(length, int) else None,
                    head if isinstance(head, bytes) and kind == "string" else None,
                    name,
                )
            )

    def _count_group_lookups(self, guess: str, keys: int, gone: int, denied: int) -> None:
        """Lookups of one group of a write: its length command, PTTL and GETRANGE per key.

        A key gone since SCAN was missed by each of them; a key an ACL hides was never
        looked up (the commands were rejected); every other key, even of another type
        than guessed (WRONGTYPE is answered after the lookup), was a hit each time.
        MEMORY USAGE does not count.
        """
        per_key = (1 if guess in LENGTH_COMMANDS else 0) + 1
        per_key += 1 if self.options.with_head and guess == "string" else 0
        self.result.lookups.add(hits=per_key * (keys - gone - denied), misses=per_key * gone)

    @staticmethod
    def _read_probe(
        values: list[Any], offset: int, memory: bool, with_head: bool
    ) -> tuple[str, Any, Any, Any, Any, int]:
        """(type, memory, length, pttl, head, next offset) from the replies of a full probe."""
        type_reply = values[offset]
        offset += 1
        if _denied(type_reply):
            return (
                _DENIED,
                None,
                None,
                None,
                None,
                offset + (1 if memory else 0) + len(LENGTH_COMMANDS) + 1 + (1 if with_head else 0),
            )
        if isinstance(type_reply, ReplyError):
            raise ScanRefused(f"TYPE failed: {type_reply.text}")
        # The server's word (a full probe is the rare path): escaped, as any server text.
        kind = safe_text(type_reply) if isinstance(type_reply, bytes) else str(type_reply)
        mem = None
        if memory:
            mem = values[offset]
            offset += 1
        lengths = dict(
            zip(LENGTH_COMMANDS, values[offset : offset + len(LENGTH_COMMANDS)], strict=True)
        )
        offset += len(LENGTH_COMMANDS)
        pttl = values[offset]
        offset += 1
        head = None
        if with_head:
            head = values[offset]
            offset += 1
        return kind, mem, lengths.get(kind), pttl, head, offset

    def _memory_refused(self, reason: str) -> None:
        if self.memory:
            self.memory = False
            self.result.memory_available = False
            self.result.memory_reason = reason
            if self.progress:
                self.progress.note(
                    f"MEMORY USAGE unavailable ({reason}): sizes estimated from lengths"
                )

    def _check_progress(self, following: int, keys: int) -> None:
        """End a SCAN that does not move: a real one walks the keyspace in about
        DBSIZE / COUNT calls (each returns COUNT keys or visits 10 x COUNT buckets), and
        returns a key more than once only across a rehash. A broken or hostile server
        that answers a non-zero cursor forever, with no keys or the same keys, would
        otherwise keep every scan (bigkeys' whole-keyspace one included) going for ever."""
        dbsize = self.result.dbsize
        if dbsize is None or following == 0:
            return
        calls = self.result.batches + 1
        most_calls = SCAN_CALLS_SLACK * (1 + -(-dbsize // self._count))
        most_keys = SCAN_KEYS_FACTOR * dbsize + self._count * SCAN_CALLS_SLACK
        if calls > most_calls or self.result.scanned + keys > most_keys:
            if not self._dbsize_confirmed:
                # A keyspace filling up while it is scanned (a cache warming) outgrows the
                # DBSIZE read at the start: read it again, with nothing in flight, first.
                self._recheck_dbsize = True
                return
            returned = self.result.scanned + keys
            raise ProtocolViolation(
                f"SCAN does not progress: {calls:,} calls returned {returned:,} keys of a "
                f"{dbsize:,}-key keyspace and the cursor is still not 0 (a whole walk takes "
                f"at most {most_calls:,} calls and {most_keys:,} keys)"
            )

    @staticmethod
    def _batch_bound(replies: int) -> bounds.ReplyBound:
        # A bulk may be a value head: its 64 bytes are held to by _check_heads.
        return bounds.small(f"the scan's {replies:,} key commands", replies)

    # -- the loop -----------------------------------------------------------------------
    def _read_scan(self, start: int) -> _Batch:
        bound = self._scan_bound
        reply = self.client.read_replies(1, bound=bound)[0]
        following, keys = scan_reply(reply, bound)
        self._check_progress(following, len(keys))
        budget = self.options.max_keys
        if self.options.exact_sample and budget and len(keys) > budget - self.result.scanned:
            room = max(budget - self.result.scanned, 0)
            self.result.dropped += len(keys) - room
            keys = keys[:room]
        self.result.scanned += len(keys)
        self.result.batches += 1
        return _Batch(start, following, keys)

    def _write_for(self, batch: _Batch | None) -> _Write:
        """The next write: this batch's keys grouped by guessed type, and the carried probes."""
        probes, self.carry = self.carry, []
        write = _Write(batch, [], probes, self.memory)
        if batch is None or not batch.keys:
            return write
        keys = batch.keys
        names = self.namespace.many(keys)
        if not self.options.with_type:
            write.groups.append((_UNTYPED, keys, names))
            return write
        forced = self.options.type
        if forced or not self.guesses:
            write.groups.append((forced or "string", keys, names))
            return write
        get = self.guesses.get
        guessed = [get(name, "string") for name in names]
        if guessed.count(guessed[0]) == len(guessed):  # the usual batch: one type
            write.groups.append((guessed[0], keys, names))
            return write
        grouped: dict[str, tuple[list[bytes], list[str]]] = {}
        for key, name, guess in zip(keys, names, guessed, strict=True):
            group = grouped.get(guess)
            if group is None:
                group = grouped[guess] = ([], [])
            group[0].append(key)
            group[1].append(name)
        write.groups = [(guess, k, n) for guess, (k, n) in grouped.items()]
        return write

    def _budget_left(self) -> str | None:
        if self._enough:
            return "enough"
        if self.options.max_keys and self.result.scanned >= self.options.max_keys:
            return "max-keys"
        if self.options.max_batches and self.result.batches >= self.options.max_batches:
            return "max-batches"
        if (
            self.options.max_seconds is not None
            and time.monotonic() - self._started >= self.options.max_seconds
        ):
            return "max-seconds"
        return None

    def _emit_done(self) -> None:
        while self.open and self.open[0].replies_read and self.open[0].pending == 0:
            batch = self.open[0]
            if batch.found and self.on_batch(batch.found):
                self._enough = True
            # Only now is the batch reported: a Ctrl-C inside on_batch resumes before it.
            self.open.popleft()
            self._reported(batch, len(batch.found))
            batch.found = []
        if self.progress:
            self._report_progress()

    def _reported(self, batch: _Batch, inspected: int) -> None:
        """A batch handed over and done with: the cursor moves past it."""
        self.result.inspected += inspected
        self.result.cursor = batch.following
        self._ended = batch.following == 0
        if self.options.on_cursor is not None:
            self.options.on_cursor(batch.following)

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
        if self._recheck_dbsize:
            self._recheck_dbsize = False
            fresh = self.client.call("DBSIZE")
            self.result.round_trips += 1
            grown = isinstance(fresh, int) and fresh > (self.result.dbsize or 0)
            if grown:
                self.result.dbsize = fresh
            # Unchanged: the next time the guard trips, it ends the scan.
            self._dbsize_confirmed = not grown
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
        if options.max_seconds is not None:  # a pause never outlasts the time budget
            pause = min(pause, max(0.0, options.max_seconds - (time.monotonic() - self._started)))
        if pause > 0:
            time.sleep(pause)
            self.result.slept_s += pause

    def run(self) -> ScanResult:
        client = self.client
        result = self.result
        options = self.options
        if options.known_dbsize is not None:
            result.dbsize = options.known_dbsize
        else:
            dbsize = client.call("DBSIZE")
            result.dbsize = dbsize if isinstance(dbsize, int) else None
            result.round_trips += 1
        if options.known_baseline_us is not None:
            baseline = options.known_baseline_us
        else:
            baseline = min(client.timed_ping() for _ in range(3))
            result.round_trips += 3
        result.ping_baseline_us = baseline
        if self.options.backoff_above_ms is not None:
            self._threshold_us = self.options.backoff_above_ms * 1000
        else:
            self._threshold_us = max(5 * baseline, 2000)

        try:
            self._keys_loop() if self.options.keys_only else self._loop()
        except (KeyboardInterrupt, ProbeError) as stop:
            # Ctrl-C, a server that stopped answering half-way or one that refuses SCAN (an
            # ACL): the keys seen so far, if any, are reported. The cursor stays at the first
            # batch not fully inspected: resuming from it sees every key this run did not
            # report. A refused SCAN is a server that is up but cannot be read (exit 3),
            # not one that is down.
            if isinstance(stop, ProbeError):
                result.stop_reason = "server-error"
                result.error = stop.message
                result.failure = stop
            else:
                result.stop_reason = "interrupted"
            result.cursor = self.open[0].start if self.open else result.cursor
            starts = [start for _, start in self._rides if start is not None]
            unanswered = starts[0] if starts else self._queued_start
            if unanswered is not None:
                # A rider's commands for that batch (and those after it) were not sent or
                # not answered: resume at the batch, so whatever they did not do is done.
                result.cursor = unanswered
        if self._ended:
            # The budget ran out exactly at the end; or an exact sample dropped the end.
            result.stop_reason = "max-keys" if result.dropped else None
        result.complete = self._ended and not result.dropped
        result.elapsed_s = time.monotonic() - self._started
        if self.progress:
            self.progress.finish()
        return result

    def _keys_loop(self) -> None:
        """SCAN alone, a call at a time: each batch is reported before the next is asked for,
        so a caller that has enough (or a budget) stops it without a SCAN too many."""
        if self.options.rider is not None:
            self._riding_loop(self.options.rider)
            return
        cursor = self.options.cursor
        while True:
            self.client.send(self._scan_command(cursor))
            self.result.round_trips += 1
            batch = self._read_scan(cursor)
            self._hand_over(batch)
            cursor = batch.following
            if cursor == 0:
                return
            stop = self._budget_left()
            if stop:
                self.result.stop_reason = stop
                return
            self._pause()

    def _hand_over(self, batch: _Batch) -> None:
        """A keys-only batch to on_keys (keys and namespaces) or on_batch (KeyInfos)."""
        names = self.namespace.many(batch.keys)
        on_keys = self.options.on_keys
        self.open.append(batch)
        if on_keys is not None:
            if batch.keys and on_keys(batch.keys, names):
                self._enough = True
            self.open.popleft()
            self._reported(batch, len(batch.keys))
            if self.progress:
                self._report_progress()
            return
        kind = self.options.type or ""
        batch.found = [
            KeyInfo(key, kind, -1, None, None, None, name)
            for key, name in zip(batch.keys, names, strict=True)
        ]
        batch.replies_read = True
        self._emit_done()

    def _riding_loop(self, rider: Rider) -> None:
        """The keys-only loop with a rider: what it builds from a batch (purge's UNLINKs)
        is sent while the server works on the next SCAN.

        As soon as a SCAN's reply is read, the next SCAN goes out, alone; the batch just
        read is handed over while the server works on it, and the rider's commands for
        that batch follow in a write of their own. Redis answers what one read of a
        connection brings in one go: a SCAN sent with the commands behind it would be
        answered only once they are done too, and the server would then wait, idle,
        for this process to hand the batch over and send the next write. Sent apart,
        the SCAN's reply comes while the server runs the rider's commands, and the
        next SCAN is queued behind them: the server always has work, at most two writes
        deep. A batch costs one round trip.

        A rider whose commands do not depend on the replies to its last ones
        (`overlap`) has those landed after its next commands are out; one that builds on
        them (purge --backup deletes what its last DUMPs wrote to disk) has them landed
        first. When the batch handed over says it has enough, the SCAN already sent is
        read and dropped (its batch is not reported: the cursor resumes there).
        """
        overlap = bool(getattr(rider, "overlap", False))
        cursor = self.options.cursor
        self.client.send(self._scan_command(cursor))
        self.result.round_trips += 1
        while True:
            batch = self._read_scan(cursor)
            # Unread now: the replies of the rider's last commands, sent after this SCAN.
            cursor = batch.following
            stop = None if cursor == 0 else self._budget_left()
            scanning = not stop and cursor != 0
            if scanning:
                if self._recheck_dbsize or not self._may_overlap():
                    # A pause (its PING and DBSIZE are calls) needs nothing in flight.
                    self._land(rider)
                    self._pause()
                self.client.send(self._scan_command(cursor))
                self.result.round_trips += 1
            self._hand_over(batch)
            self._queued_start = batch.start if self._queued_start is None else self._queued_start
            if not overlap:
                self._land(rider)
            sent = self._send_ride(rider)
            # The rider's commands before any just sent: answered before this SCAN.
            self._land(rider, keep=1 if sent else 0)
            if scanning and self._enough:
                # Read what is in flight; its SCAN's batch is left for a resumed run.
                self.client.read_replies(1)
                scanning = False
                stop = "enough"
            if not scanning:
                self._land(rider)
                if stop:
                    self.result.stop_reason = stop
                return

    def _send_ride(self, rider: Rider) -> bool:
        """The rider's commands for the batches handed over since its last ones, if any."""
        payload, expected = rider.ride()
        start, self._queued_start = self._queued_start, None
        if expected:
            self._rides.append((expected, start))
            self.client.send(payload)
        return bool(expected)

    def _land(self, rider: Rider, keep: int = 0) -> None:
        """Read the replies of the rider's commands sent but the last `keep`, oldest first."""
        rides = self._rides
        while len(rides) > keep:
            replies = self.client.read_replies(rides[0][0])
            rides.popleft()  # answered: a failure from here on resumes after its batches
            rider.landed(replies)

    def _loop(self) -> None:
        client = self.client
        result = self.result
        client.send(self._scan_command(self.options.cursor))
        result.round_trips += 1
        upcoming: _Batch | None = self._read_scan(self.options.cursor)
        inflight: _Write | None = None
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
            write = self._write_for(batch)
            body = self._pack(write)
            if batch is not None:
                self.open.append(batch)
            head = self._scan_command(batch.following) if follow and batch is not None else b""
            client.send(head + body)
            result.round_trips += 1
            if inflight is not None:
                self._finish(inflight)  # the previous write's replies come first in the stream
                inflight = None
            sent = write
            if follow and batch is not None:
                upcoming = self._read_scan(batch.following)
                if self._may_overlap():
                    # Parse these replies while the server works on the next write.
                    inflight = sent
                    continue
            self._finish(sent)
            if upcoming is not None or self.carry:
                self._pause()

    def _finish(self, write: _Write) -> None:
        self._read(write)
        if write.batch is not None:
            write.batch.replies_read = True
        self._emit_done()


def scan_keyspace(
    client: RedisClient,
    options: ScanOptions,
    on_batch: OnBatch,
    progress: Progress | None = None,
) -> ScanResult:
    """Scan with `options`, handing each fully inspected batch of keys to `on_batch`.

    An `on_batch` that returns true has enough: the scan ends at the next batch edge
    (stop_reason "enough"; with keys_only, before another SCAN is sent).

    Stops at the end of the keyspace, at a budget (max_keys, max_seconds), on Ctrl-C or
    on a server error (SCAN refused, the connection lost: stop_reason "server-error" and
    `error`); the result says which and holds the cursor to resume from. Keys deleted
    while the scan runs are counted and skipped.
    """
    return _Engine(client, options, on_batch, progress).run()


# -- the check's bounded sample -----------------------------------------------------------


@dataclass
class SampleResult:
    keys: list[KeyInfo] = field(default_factory=list)
    scanned_batches: int = 0
    complete: bool = False  # the cursor came back to 0: the whole keyspace was seen
    memory_available: bool = True
    memory_reason: str | None = None
    head_reason: str | None = None  # value heads refused (GETRANGE denied)
    lookups: Lookups = field(default_factory=Lookups)  # added to keyspace_hits/misses


def scan_sample(
    client: RedisClient,
    *,
    max_keys: int = 1000,
    count: int = 1000,
    match: str | None = None,
    baseline_us: int | None = None,
    dbsize: int | None = None,
) -> SampleResult:
    """A bounded sample: the first `max_keys` keys SCAN returns, each with its value head.
    `baseline_us` and `dbsize`: what the caller measured just before (else asked here)."""
    keys: list[KeyInfo] = []
    options = ScanOptions(
        count=min(count, max_keys),
        match=match,
        max_keys=max_keys,
        with_head=True,
        known_baseline_us=baseline_us,
        known_dbsize=dbsize,
    )
    outcome = scan_keyspace(client, options, keys.extend)
    if outcome.error and not keys:  # SCAN refused: no sample at all, and the check says why
        # The error as it was (a refusal, a timeout, a reply no Redis sends): its kind
        # tells the check a server that says no from one that could not be read.
        raise outcome.failure or ScanRefused(outcome.error)
    return SampleResult(
        keys=keys[:max_keys],
        scanned_batches=outcome.batches,
        complete=outcome.complete and len(keys) <= max_keys,
        memory_available=outcome.memory_available,
        memory_reason=outcome.memory_reason,
        head_reason=outcome.head_reason,
        lookups=outcome.lookups,
    )
