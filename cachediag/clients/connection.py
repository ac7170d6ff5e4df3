"""What the Redis and Memcached clients share: one socket to one target, its lifecycle and writes.

The protocols (replies, errors, commands) stay in each client; this is only the
connection they both hold, closed on every failure path and on leaving a `with`.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

from cachediag.clients import probe_deadline
from cachediag.clients.net import ConnectInfo, Deadline, classify_os_error, open_socket
from cachediag.errors import ConnectionClosed, ProbeError, ServerSaturated
from cachediag.targets.target import Target

if TYPE_CHECKING:
    from typing import Self


class Connection:
    # What a server at its connection limit writes to every connection it accepts, before
    # reading a command, and then closes it: each protocol has its own words for it.
    saturated_greeting: bytes = b""

    def __init__(self, target: Target, timeout: float) -> None:
        self.target = target
        self.timeout = timeout
        self.sock: socket.socket | None = None
        self.info = ConnectInfo()
        self._heard = False  # has this connection's first chunk arrived yet?
        # The whole probe's deadline, when made inside one (clients/probe_deadline.py).
        self.whole = probe_deadline.current()

    def connect(self) -> Self:
        self.sock, self.info = open_socket(self.target, self._limit(self.timeout))
        self._heard = False
        return self

    def _limit(self, seconds: float) -> float:
        """`seconds`, or what is left of the whole probe if less; none left: its error."""
        if self.whole is None:
            return seconds
        left = self.whole.left()
        if left <= 0:
            self.close()
            raise self.whole.error()
        return min(seconds, left)

    def _time_left(self, deadline: Deadline) -> float:
        """What a read may still wait: its own deadline's rest, within the whole probe's."""
        return self._limit(deadline.remaining())

    def _timed_out(self, error: ProbeError) -> ProbeError:
        """A read's timeout, or the whole probe's deadline if that is what ran out."""
        if self.whole is not None and self.whole.left() <= 0:
            return self.whole.error()
        return error

    def saturated_error(self) -> ServerSaturated:
        """The error of a server at its limit, naming the limit (each client says which)."""
        raise NotImplementedError

    def _first_chunk(self, chunk: bytes) -> None:
        """Called with the first chunk a connection receives, whatever was asked first:
        a server at its connection limit says so there, and is up but saturated."""
        self._heard = True
        if self.saturated_greeting and chunk.startswith(self.saturated_greeting):
            self.close()
            raise self.saturated_error()

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            finally:
                self.sock = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, data: bytes) -> None:
        """Write all of `data` within the timeout; a failure is a classified ProbeError."""
        if self.sock is None:
            raise ConnectionClosed("not connected")
        timeout = self._limit(self.timeout)
        try:
            self.sock.settimeout(timeout)
            self.sock.sendall(data)
        except OSError as exc:
            raise self._timed_out(
                classify_os_error(exc, "sending to the server", self.timeout)
            ) from exc
