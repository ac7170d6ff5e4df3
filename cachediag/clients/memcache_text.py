"""A lean Memcached text-protocol client for stats, meta no-ops, crawler dumps and gets.

Every Memcached byte cachediag sends or reads is built and parsed here; the crawler's
dump is handed over as raw blocks (`metadump_chunks`), parsed by the scan engine
(scan/memcached.py) in bulk.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from cachediag.clients import bounds
from cachediag.clients.connection import Connection
from cachediag.clients.net import Deadline, classify_os_error
from cachediag.clients.probe_deadline import ProbeDeadline
from cachediag.errors import (
    ConnectionClosed,
    ProbeTimeout,
    ProtocolViolation,
    ServerRefused,
    ServerSaturated,
)
from cachediag.safety.server_text import server_text
from cachediag.targets.target import Target

if TYPE_CHECKING:
    pass

_ERRORS = (b"ERROR", b"CLIENT_ERROR", b"SERVER_ERROR")
# The cheapest round trips: the meta no-op (1.6+), and `version` on servers without meta.
NOOP_REQUEST = b"mn\r\n"
NOOP_REPLY = b"MN\r\n"
VERSION_REQUEST = b"version\r\n"


def is_text_key(key: bytes) -> bool:
    """Can `key` be sent in a text-protocol command as it is?

    Keys come from the server itself (metadump), and a key stored over the binary
    protocol may hold spaces or CR LF: sent raw it would become a command of its own
    (`flush_all`, say). Such keys are never sent; at most 250 bytes, no controls.
    """
    return 0 < len(key) <= 250 and not any(byte <= 0x20 or byte == 0x7F for byte in key)


def _describe_foreign(line: bytes) -> str:
    text = server_text(line.strip()[:60])
    if line.startswith((b"-ERR", b"-NOAUTH", b"-WRONGPASS", b"+", b"$", b"*")):
        return f"not a Memcached server: it answered like Redis ('{text}')"
    if line.startswith(b"HTTP/") or line.lstrip()[:1] == b"<":
        return f"not a Memcached server: it answered like an HTTP server ('{text}')"
    return f"not a Memcached server: unexpected reply '{text}'"


def stat_int(stats: dict[str, str], name: str, default: int | None = 0) -> int | None:
    """A whole number of a `stats` reply (`default` when missing); anything else, 'nan' or
    'abc', is a ProtocolViolation naming it."""
    value = stats.get(name)
    if value is None:
        return default
    text = value.strip()
    if text.lstrip("-").isdigit() and text.isascii() and len(text) <= 20:
        return int(text)
    raise ProtocolViolation(f"stats sent {name} {value[:40]!r}, not a whole number")


class MemcachedClient(Connection):
    # What memcached writes to a connection it accepts at its -c limit (maxconns_fast, the
    # default since 1.4.x) before closing it, whatever was asked.
    saturated_greeting = b"ERROR Too many open connections"

    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(target, timeout)
        # Read but not yet handed over: self._buffer[self._pos:]. Lines are taken by moving
        # _pos, not by slicing the rest off each time: a reply of many short lines
        # (stats, a flood of them) costs its length, not its length squared.
        self._buffer = b""
        self._pos = 0
        # As the Redis client: 64 KiB a recv (no mmap per call) until one fills it, then
        # 1 MiB for a connection that streams (a metadump).
        self._recv_bytes = 64 << 10

    def saturated_error(self) -> ServerSaturated:
        return ServerSaturated(
            "up but saturated: at its connection limit (memcached -c) it turns new connections "
            "away ('ERROR Too many open connections'), the application's as well as ours",
            limit="memcached -c",
        )

    def _closed_silently(self) -> ConnectionClosed:
        # memcached -Z resets a connection whose first bytes are no TLS ClientHello.
        hint = "" if self.target.tls else " (a TLS-only port? try memcacheds:// or --tls)"
        return ConnectionClosed(f"the server closed the connection without answering{hint}")

    # -- wire -----------------------------------------------------------------------
    def _fill(self, deadline: Deadline) -> None:
        assert self.sock is not None
        try:
            self.sock.settimeout(self._time_left(deadline))
            chunk = self.sock.recv(self._recv_bytes)
        except OSError as exc:
            self.close()
            error = self._timed_out(
                classify_os_error(exc, "waiting for the reply", deadline.seconds)
            )
            raise (
                self._closed_silently() if error.kind == "closed" and not self._heard else error
            ) from exc
        if len(chunk) == self._recv_bytes:
            self._recv_bytes = 1 << 20
        if not chunk:
            self.close()
            if not self._heard:
                raise self._closed_silently()
            raise ConnectionClosed("the server closed the connection mid-reply")
        if not self._heard:
            self._first_chunk(chunk)
        self._buffer = self._buffer[self._pos :] + chunk
        self._pos = 0

    def _take_buffer(self) -> bytes:
        """All that was read and not handed over, leaving nothing buffered."""
        rest = self._buffer[self._pos :]
        self._buffer, self._pos = b"", 0
        return rest

    def read_line(self, deadline: Deadline) -> bytes:
        while True:
            # metadump ends its lines with a bare \n; every other reply with \r\n.
            end = self._buffer.find(b"\n", self._pos)
            if end >= 0:
                line = self._buffer[self._pos : end]
                self._pos = end + 1
                return line.removesuffix(b"\r")
            if len(self._buffer) - self._pos > 1 << 20:
                raise ProtocolViolation(_describe_foreign(self._buffer[self._pos :]))
            self._fill(deadline)

    def read_exact(self, size: int, deadline: Deadline) -> bytes:
        while len(self._buffer) - self._pos < size:
            self._fill(deadline)
        data = self._buffer[self._pos : self._pos + size]
        self._pos += size
        return data

    # -- commands -------------------------------------------------------------------
    def version(self) -> str:
        self.send(VERSION_REQUEST)
        line = self.read_line(Deadline(self.timeout))
        if not line.startswith(b"VERSION "):
            raise ProtocolViolation(_describe_foreign(line))
        return server_text(line[8:])

    def timed_noop(self) -> int:
        """One `mn` (meta no-op) round trip in microseconds; `version` on servers without meta."""
        started = time.perf_counter_ns()
        self.send(NOOP_REQUEST)
        line = self.read_line(Deadline(self.timeout))
        if line == NOOP_REPLY.rstrip():
            return int((time.perf_counter_ns() - started) // 1000)
        if line == b"ERROR":  # before 1.6: no meta commands
            started = time.perf_counter_ns()
            self.version()
            return int((time.perf_counter_ns() - started) // 1000)
        raise ProtocolViolation(_describe_foreign(line))

    def stats(self, group: str = "") -> dict[str, str]:
        """`stats [group]` as a dict; a server error becomes a ProbeError of kind 'error'.

        Bounded (bounds.STATS_BYTES): a server that keeps sending STAT lines is refused,
        and so is a STAT line without a value.
        """
        asked = f"stats {group}".rstrip()
        self.send(asked.encode() + b"\r\n")
        deadline = Deadline(self.timeout)
        values: dict[str, str] = {}
        budget, lines = bounds.STATS_BYTES, 0
        while True:
            line = self.read_line(deadline)
            if line == b"END":
                return values
            if line.startswith(_ERRORS):
                raise ServerRefused(f"{asked} failed: {server_text(line[:200])}")
            if not line.startswith(b"STAT "):
                raise ProtocolViolation(_describe_foreign(line))
            budget -= len(line)
            if budget < 0:
                self.close()
                raise bounds.overran(asked, bounds.STATS_BYTES)
            lines += 1
            if lines > bounds.STATS_LINES:
                self.close()
                raise ProtocolViolation(
                    f"the reply to {asked} ran past its bound of {bounds.STATS_LINES:,} lines"
                )
            parts = line.decode("utf-8", "surrogateescape").split(" ", 2)
            if len(parts) != 3 or not parts[1]:
                self.close()
                raise ProtocolViolation(
                    f"{asked} answered a STAT line without a name and value: "
                    f"'{server_text(line[:60])}'"
                )
            # The server's words: escaped and masked as they are read (safety/server_text).
            values[server_text(parts[1])] = server_text(parts[2])

    def has_meta(self) -> bool:
        """Does the server speak the meta protocol (memcached 1.6+)? One `mn` round trip."""
        self.send(NOOP_REQUEST)
        return self.read_line(Deadline(self.timeout)) == NOOP_REPLY.rstrip()

    def get_many(self, keys: list[bytes]) -> dict[bytes, bytes]:
        """Values of `keys` with one multi-get (a read; no flag or TTL is touched).

        Keys the text protocol cannot carry are left out (see `is_text_key`).
        """
        keys = [key for key in keys if is_text_key(key)]
        if not keys:
            return {}
        self.send(b"get " + b" ".join(keys) + b"\r\n")
        deadline = Deadline(self.timeout)
        values: dict[bytes, bytes] = {}
        while True:
            line = self.read_line(deadline)
            if line == b"END":
                return values
            if not line.startswith(b"VALUE "):
                raise ProtocolViolation(_describe_foreign(line))
            fields = line.split(b" ")
            if len(fields) < 4:
                raise self._malformed("get", line)
            size = self._value_size("get", fields[3], line)
            values[fields[1]] = self.read_exact(size + 2, deadline)[:-2]

    def metadump_chunks(self, spec: str = "all") -> Iterator[bytes]:
        """`lru_crawler metadump <spec>` ('all', 'hash' or slab ids) as blocks of whole lines.

        Made for whole-cache scans: the dump is handed over a socket read at a time
        (the caller parses a block in one go). The timeout bounds the wait for each
        whole line, not each read: a dump dripped a byte at a time ends within it (the
        whole dump may take longer; the caller's budget bounds that). A line past
        bounds.METADUMP_LINE_BYTES is a ProtocolViolation. A refusal (crawler disabled,
        BUSY, unknown spec) is a ProbeError of kind 'error' with the server's words.
        Stopping early closes the connection.
        """
        self.send(f"lru_crawler metadump {spec}\r\n".encode())
        pending = self._take_buffer()
        first = True
        deadline = Deadline(self.timeout)  # renewed only when whole lines arrive
        while True:
            cut = pending.rfind(b"\n")
            if cut < 0:
                if len(pending) > bounds.METADUMP_LINE_BYTES:
                    self.close()
                    raise bounds.overran(
                        "lru_crawler metadump (one line)", bounds.METADUMP_LINE_BYTES
                    )
                try:
                    self._fill(deadline)
                except ProbeDeadline:
                    raise  # the whole probe's deadline, not this dump's
                except ProbeTimeout:
                    raise ProbeTimeout(
                        f"lru_crawler metadump sent no whole line within {self.timeout:g}s "
                        "(a dump dripped or stalled)"
                    ) from None
                pending += self._take_buffer()
                continue
            deadline = Deadline(self.timeout)
            block, pending = pending[: cut + 1], pending[cut + 1 :]
            if first:
                head = block.split(b"\n", 1)[0].rstrip(b"\r")
                if head.startswith(_ERRORS) or head.startswith(b"BUSY"):
                    self._buffer, self._pos = pending, 0
                    raise ServerRefused(server_text(head[:200]))
                first = False
            if block.endswith(b"END\r\n") and (len(block) == 5 or block[-6:-5] == b"\n"):
                self._buffer, self._pos = pending, 0
                if len(block) > 5:
                    yield block[:-5]
                return
            yield block

    def meta_get(self, keys: list[bytes]) -> dict[bytes, tuple[bytes, int, int]]:
        """{key: (value, ttl seconds or -1, client flags)} via `mg <key> t f v`, one write.

        It counts as a get_hit, like any read, but leaves the item's place in the LRU.
        Missing keys are left out. Servers without meta commands (before 1.6) fall back to get.
        """
        keys = [key for key in keys if is_text_key(key)]
        if not keys:
            return {}
        # `u`: do not bump the item in the LRU, so diagnosis leaves eviction order as
        # it found it (the server still marks the item as fetched and counts a hit).
        self.send(b"".join(b"mg " + key + b" t f v u\r\n" for key in keys))
        deadline = Deadline(self.timeout)
        found: dict[bytes, tuple[bytes, int, int]] = {}
        for key in keys:
            line = self.read_line(deadline)
            if line == b"EN":
                continue
            if line == b"ERROR":  # no meta protocol: drain the other errors, then plain get
                for _ in keys[1:]:
                    self.read_line(deadline)
                return {k: (v, -1, 0) for k, v in self.get_many(keys).items()}
            if line.startswith(_ERRORS):
                raise ServerRefused(server_text(line[:200]))
            if not line.startswith(b"VA "):
                raise ProtocolViolation(_describe_foreign(line))
            _, size_field, *flags = line.split(b" ")
            size = self._value_size("mg", size_field, line)
            ttl, client_flags = -1, 0
            for flag in flags:
                if flag[:1] == b"t":
                    ttl = self._number("mg", flag, line)
                elif flag[:1] == b"f":
                    client_flags = self._number("mg", flag, line)
            found[key] = (self.read_exact(size + 2, deadline)[:-2], ttl, client_flags)
        return found

    # -- what a reply may hold -------------------------------------------------------
    def _malformed(self, command: str, line: bytes) -> ProtocolViolation:
        self.close()  # the stream is out of step: nothing more can be read from it
        text = server_text(line[:60])
        return ProtocolViolation(f"{command} answered a malformed line: '{text}'")

    def _value_size(self, command: str, field: bytes, line: bytes) -> int:
        """A value's announced size, checked against its bound before the value is read."""
        if not field.isdigit():
            raise self._malformed(command, line)
        size = int(field)
        if size > bounds.MEMCACHED_VALUE_BYTES:
            self.close()
            raise bounds.too_large(command, size, bounds.MEMCACHED_VALUE_BYTES)
        return size

    def _number(self, command: str, flag: bytes, line: bytes) -> int:
        """A meta flag's number (t-1, f0): anything else is a malformed reply."""
        value = flag[1:]
        if not value.lstrip(b"-").isdigit() or len(value) > 20:
            raise self._malformed(command, line)
        return int(value)

    def meta_ttl(self, key: bytes) -> tuple[int, int | None] | None:
        """(remaining TTL in seconds or -1, value size) of `key` via `mg <key> t s`; None if
        missing. Like any read it counts as a get in the server's stats. A key the text
        protocol cannot carry (see `is_text_key`) is a ValueError: check before asking.
        """
        if not is_text_key(key):
            raise ValueError("not a text-protocol key")
        self.send(b"mg " + key + b" t s\r\n")
        line = self.read_line(Deadline(self.timeout))
        if line == b"EN":
            return None
        if not line.startswith(b"HD"):
            raise ProtocolViolation(f"mg answered '{server_text(line[:60])}'")
        flags = {part[:1]: part for part in line.split()[1:]}
        ttl = self._number("mg", flags[b"t"], line) if b"t" in flags else -1
        return ttl, self._number("mg", flags[b"s"], line) if b"s" in flags else None

    def meta_debug(self, key: bytes) -> dict[str, int | bool] | None:
        """`me KEY`: the item as the slab holds it (cls, size, exp, la, fetch), None if missing.

        Unlike mg it is no get: it counts no hit, marks nothing fetched and leaves the
        LRU alone. `size` is the item's bytes in its chunk (key, value and header), the
        figure metadump and bigkeys give. A server without it (before 1.6) refuses it:
        ServerRefused.
        """
        if not is_text_key(key):
            raise ProtocolViolation("not a key the text protocol can carry")
        self.send(b"me " + key + b"\r\n")
        line = self.read_line(Deadline(self.timeout))
        if line == b"EN":
            return None
        if line.startswith(_ERRORS):
            raise ServerRefused(f"me failed: {server_text(line[:60])}")
        if not line.startswith(b"ME "):
            raise ProtocolViolation(_describe_foreign(line))
        item: dict[str, int | bool] = {}
        for field in line.split(b" ")[2:]:
            name, _, value = field.partition(b"=")
            if name == b"fetch":
                item["fetch"] = value == b"yes"
            elif name in (b"exp", b"la", b"cas", b"cls", b"size") and value.lstrip(b"-").isdigit():
                item[name.decode()] = int(value)
        return item
