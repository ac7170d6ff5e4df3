"""Which protocol speaks at an address: RESP (Redis) or the Memcached text protocol.

One request, `PING\\r\\n` (6 bytes), and the first line of the reply. Both servers read
it as a command and neither writes anything for it:

- Redis reads an inline PING and answers a RESP line: `+PONG`, or an error such as
  `-NOAUTH Authentication required.`, `-DENIED ...` or `-ERR max number of clients`.
  Every RESP reply to it starts with `+` or `-`.
- Memcached has no PING command: it answers `ERROR` (or, at its connection limit,
  `ERROR Too many open connections`). No Memcached reply starts with `+` or `-`.

Anything else (an HTTP server's `HTTP/1.1 400`, a TLS alert, silence) is neither.
"""

from __future__ import annotations

from cachediag.clients.connection import Connection
from cachediag.clients.net import Deadline, classify_os_error
from cachediag.errors import ConnectionClosed, ProtocolViolation

PROBE = b"PING\r\n"
MAX_LINE = 512  # a first line longer than this is neither protocol's answer to PING
# A TLS record of type alert (0x15) or handshake (0x16), version 3.x: a TLS server
# that read our plain bytes as a broken ClientHello and said so.
_TLS_RECORD = (b"\x15\x03", b"\x16\x03")


class NotTLS(ConnectionClosed):
    """Closed before a reply, or answered with a TLS record: TLS may be what it wants."""


def kind_of_reply(line: bytes) -> str | None:
    """ "redis", "memcached" or None for the first line of the reply to PROBE."""
    if line[:1] in (b"+", b"-"):
        return "redis"
    if line.rstrip(b"\r\n") == b"ERROR" or line.startswith(b"ERROR Too many open connections"):
        return "memcached"
    return None


def describe(line: bytes) -> str:
    text = line.strip()[:60].decode("ascii", "backslashreplace")
    if line.startswith(b"HTTP/") or line.lstrip()[:1] == b"<":
        return f"it answered like an HTTP server ('{text}')"
    return f"it answered '{text}'"


class Sniffer(Connection):
    def sniff(self) -> str:
        """Connect, send PROBE, and name the protocol of the reply; ProbeError otherwise."""
        self.connect()
        try:
            self.send(PROBE)
            line = self._first_line(Deadline(self.timeout))
        finally:
            self.close()
        kind = kind_of_reply(line)
        if kind is None:
            if line.startswith(_TLS_RECORD):
                raise NotTLS("it answered with a TLS record: it speaks TLS")
            raise ProtocolViolation(f"neither Redis nor Memcached: {describe(line)}")
        return kind

    def _first_line(self, deadline: Deadline) -> bytes:
        assert self.sock is not None
        received = b""
        while b"\n" not in received and len(received) < MAX_LINE:
            try:
                self.sock.settimeout(deadline.remaining())
                chunk = self.sock.recv(MAX_LINE)
            except OSError as exc:
                error = classify_os_error(exc, "waiting for the reply", deadline.seconds)
                if error.kind == "closed" and not received:
                    raise NotTLS("the server closed the connection without answering") from exc
                raise error from exc
            if not chunk:
                if received:
                    break
                raise NotTLS("the server closed the connection without answering")
            received += chunk
            if received.startswith(_TLS_RECORD):
                break
        return received.split(b"\n", 1)[0] + b"\n"
