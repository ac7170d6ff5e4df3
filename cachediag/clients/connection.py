"""What the Redis and Memcached clients share: one socket to one target, its lifecycle and writes.

The protocols (replies, errors, commands) stay in each client; this is only the
connection they both hold, closed on every failure path and on leaving a `with`.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

from cachediag.clients.net import ConnectInfo, classify_os_error, open_socket
from cachediag.errors import ConnectionClosed, ServerSaturated
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

    def connect(self) -> Self:
        self.sock, self.info = open_socket(self.target, self.timeout)
        self._heard = False
        return self

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
        try:
            self.sock.settimeout(self.timeout)
            self.sock.sendall(data)
        except OSError as exc:
            raise classify_os_error(exc, "sending to the server", self.timeout) from exc
