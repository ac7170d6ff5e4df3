"""What the Redis and Memcached clients share: one socket to one target, its lifecycle and writes.

The protocols (replies, errors, commands) stay in each client; this is only the
connection they both hold, closed on every failure path and on leaving a `with`.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

from cachediag.clients.net import ConnectInfo, classify_os_error, open_socket
from cachediag.errors import ConnectionClosed
from cachediag.targets.target import Target

if TYPE_CHECKING:
    from typing import Self


class Connection:
    def __init__(self, target: Target, timeout: float) -> None:
        self.target = target
        self.timeout = timeout
        self.sock: socket.socket | None = None
        self.info = ConnectInfo()

    def connect(self) -> Self:
        self.sock, self.info = open_socket(self.target, self.timeout)
        return self

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
