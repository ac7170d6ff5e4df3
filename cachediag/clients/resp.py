"""A lean Redis client: RESP2 packed with hiredis, one deadline per call, typed failures."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import hiredis

from cachediag.clients import bounds
from cachediag.clients.bounds import ReplyBound
from cachediag.clients.connection import Connection
from cachediag.clients.net import Deadline, classify_os_error
from cachediag.errors import (
    AuthFailed,
    ConnectionClosed,
    ProbeError,
    ProtocolViolation,
    ServerRefused,
    ServerSaturated,
)
from cachediag.safety.secrets import mask_secrets
from cachediag.safety.server_text import server_text
from cachediag.targets.target import Target

if TYPE_CHECKING:
    from typing import Self

Arg = str | bytes | int | float
_RECV_BYTES = 1 << 20
# A recv asks for this much until one fills it: CPython allocates the whole size for each
# recv, and 1 MiB is above malloc's mmap threshold (a map, page faults and an unmap for a
# 7-byte PONG: a check of 100 servers made ~2,500 of each). A connection that streams (a
# scan) grows to _RECV_BYTES at its first full read.
_FIRST_RECV_BYTES = 64 << 10


# -- packing: RESP built by hand where a scan packs a million commands -----------------------
# hiredis.pack_command costs a call per command; the scan engine sends the same command for
# a thousand keys in a row, so it packs the command once and joins the keys between its
# halves (one bytes.join in C per command and batch).


def bulk(value: bytes) -> bytes:
    """One RESP bulk string: `$<len>\r\n<value>\r\n`."""
    return b"$%d\r\n%b\r\n" % (len(value), value)


def pack(*parts: bytes) -> bytes:
    """A whole command as a RESP array of bulk strings."""
    return b"*%d\r\n" % len(parts) + b"".join(bulk(part) for part in parts)


class KeyCommand(NamedTuple):
    """A command with one key argument, packed around it: `prefix + bulk(key) + suffix`.

    `KeyCommand.of(b"MEMORY", b"USAGE", after=(b"SAMPLES", b"5"))` is `MEMORY USAGE <key>
    SAMPLES 5`.
    """

    prefix: bytes
    suffix: bytes

    @classmethod
    def of(cls, *before: bytes, after: tuple[bytes, ...] = ()) -> KeyCommand:
        head = b"*%d\r\n" % (len(before) + 1 + len(after))
        return cls(head + b"".join(map(bulk, before)), b"".join(map(bulk, after)))

    def pack(self, key: bytes) -> bytes:
        return self.prefix + bulk(key) + self.suffix

    def pack_many(self, args: list[bytes]) -> bytes:
        """The command once per key of `args` (keys already packed with `key_args`)."""
        if not args:
            return b""
        return self.prefix + (self.suffix + self.prefix).join(args) + self.suffix


# The lean latency loop (server/latency.py) sends this and expects exactly that back.
PING_REQUEST = pack(b"PING")
PONG_REPLY = b"+PONG\r\n"


def key_args(keys: list[bytes]) -> list[bytes]:
    """Keys as bulk strings, packed once for every command a batch sends about them."""
    return [b"$%d\r\n%b\r\n" % (len(key), key) for key in keys]


class ReplyError(Exception):
    """An error reply (-ERR ...), returned in place of a value, never raised by the reader.

    Its text is the server's: escaped and masked (safety/server_text) whenever it is read,
    so an `ERR \x1b[2J...` or an echoed password reaches no output as it came.
    """

    @property
    def text(self) -> str:
        return server_text(str(self.args[0])) if self.args else ""

    def __str__(self) -> str:
        return self.text


_AUTH_MARKERS = ("NOAUTH", "WRONGPASS", "invalid password", "invalid username-password")


def is_auth_error(reply: object) -> bool:
    return isinstance(reply, ReplyError) and any(m in reply.text for m in _AUTH_MARKERS)


def _describe_foreign(head: bytes) -> str:
    """Name what answered when it did not speak RESP, from its first bytes."""
    text = server_text(head.split(b"\n", 1)[0].strip()[:60])
    if head.startswith(b"HTTP/") or head.lstrip()[:1] == b"<":
        return f"not a Redis server: it answered like an HTTP server ('{text}')"
    if head.startswith((b"ERROR", b"CLIENT_ERROR", b"SERVER_ERROR")):
        return f"not a Redis server: it answered like Memcached ('{text}')"
    return f"not a Redis server: unexpected reply '{text}'"


class RedisClient(Connection):
    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(target, timeout)
        self.auth_us: int | None = None
        self._reader = hiredis.Reader(replyError=ReplyError)
        self._recv_bytes = _FIRST_RECV_BYTES

    # What Redis writes to a connection it accepts at maxclients, before it reads a
    # command, and then closes it: whatever we asked first, this is the answer.
    saturated_greeting = b"-ERR max number of clients reached"

    def saturated_error(self) -> ServerSaturated:
        return ServerSaturated(
            "up but saturated: at its connection limit (maxclients) it turns new connections "
            "away ('ERR max number of clients reached'), the application's as well as ours",
            limit="maxclients",
        )

    # -- connection -----------------------------------------------------------------
    def connect(self) -> Self:
        """Connect, authenticate and select the database; every failure is a ProbeError."""
        super().connect()
        if self.target.password is not None:
            args: list[Arg] = ["AUTH"]
            if self.target.username:
                args.append(self.target.username)
            args.append(self.target.password)
            started = time.perf_counter()
            reply = self.call(*args)
            self.auth_us = int((time.perf_counter() - started) * 1_000_000)
            # A password sent to a server that has none is harmless; anything else is not.
            if isinstance(reply, ReplyError) and "without any password" not in reply.text:
                self.close()
                # A server without AUTH echoes the arguments, password included.
                raise AuthFailed(f"authentication failed: {mask_secrets(reply.text)}")
        if self.target.db:
            reply = self.call("SELECT", self.target.db)
            if is_auth_error(reply):
                self.close()
                raise AuthFailed(f"authentication failed: {reply}")
            if isinstance(reply, ReplyError):
                self.close()
                raise ServerRefused(f"cannot select database {self.target.db}: {reply}")
        return self

    # -- commands -------------------------------------------------------------------
    def call(self, *args: Arg) -> Any:
        return self.pipeline([args])[0]

    def pipeline(
        self, commands: Sequence[Sequence[Arg]], timeout: float | None = None
    ) -> list[Any]:
        """Send all commands in one write and read all replies: one round trip.

        The replies are bounded by what the commands ask for (clients/bounds.py).
        """
        payload = b"".join(hiredis.pack_command(tuple(cmd)) for cmd in commands)  # type: ignore[arg-type]
        self.send(payload)
        bound, each = bounds.for_pipeline([tuple(cmd) for cmd in commands])
        return self.read_replies(len(commands), timeout, bound, each)

    def read_replies(
        self,
        count: int,
        timeout: float | None = None,
        bound: ReplyBound | None = None,
        each: list[ReplyBound] | None = None,
    ) -> list[Any]:
        """Read `count` replies within one deadline and within `bound` (by default, what
        any `count` commands may answer): a reply past it is a ProtocolViolation. A reply
        that starts a socket read is checked from its header against its own bound (of
        `each`, when given) before its body is read; the bytes read in all, against `bound`.
        """
        assert self.sock is not None
        limit = self.timeout if timeout is None else timeout
        deadline = Deadline(limit)
        if bound is None:
            bound = ReplyBound(
                bounds.DEFAULT_BYTES * count,
                bounds.DEFAULT_BYTES,
                bounds.DEFAULT_ELEMENTS,
                f"{count:,} commands",
            )
        # What this read may take from the socket: the replies, and the start of the
        # next read's, already on the way (one recv at most).
        budget = bound.bytes + _RECV_BYTES
        replies: list[Any] = []
        first_bytes = b""
        gets, append = self._reader.gets, replies.append  # hot loop: a scan reads millions
        has_data = self._reader.has_data
        while len(replies) < count:
            try:
                for _ in range(count - len(replies)):  # drain what is buffered
                    reply = gets()
                    if reply is False:
                        break
                    append(reply)
                else:
                    break  # all replies read
            except hiredis.ProtocolError:
                self.close()
                raise ProtocolViolation(_describe_foreign(first_bytes)) from None
            try:
                self.sock.settimeout(self._time_left(deadline))
                chunk = self.sock.recv(self._recv_bytes)
            except OSError as exc:
                self.close()
                error = self._timed_out(classify_os_error(exc, "waiting for the reply", limit))
                raise (
                    self._closed_silently() if error.kind == "closed" and not first_bytes else error
                ) from exc
            if len(chunk) == self._recv_bytes:
                self._recv_bytes = _RECV_BYTES  # a stream: read it in big pieces
            if not chunk:
                # What arrived so far was valid RESP (hiredis would have said otherwise):
                # the server went away in the middle of its reply.
                self.close()
                if not first_bytes:
                    raise self._closed_silently()
                raise ConnectionClosed("the server closed the connection mid-reply")
            if not self._heard:
                self._first_chunk(chunk)
            if len(first_bytes) < 64:
                first_bytes += chunk[:64]
            if not has_data():  # the chunk starts a reply: its header says what it claims
                try:
                    bounds.peek(chunk, each[len(replies)] if each else bound)
                except ProtocolViolation:
                    self.close()
                    raise
            budget -= len(chunk)
            if budget < 0:
                self.close()
                raise bounds.overran(bound.what, bound.bytes, count)
            self._reader.feed(chunk)
        return replies

    def _closed_silently(self) -> ProbeError:
        hint = "" if self.target.tls else " (a TLS-only port? try rediss://)"
        return ConnectionClosed(f"the server closed the connection without answering{hint}")

    def timed_ping(self) -> int:
        """One PING round trip in microseconds (checked to be PONG)."""
        started = time.perf_counter_ns()
        reply = self.call("PING")
        elapsed = (time.perf_counter_ns() - started) // 1000
        if reply != b"PONG":
            if is_auth_error(reply):
                raise AuthFailed(f"authentication failed: {reply.text}")
            if isinstance(reply, ReplyError):
                raise ServerRefused(f"PING answered an error: {reply.text}")
            raise ProtocolViolation(f"not a Redis server: PING answered {reply!r:.60}")
        return int(elapsed)
