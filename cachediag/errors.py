"""Typed errors: the core raises them; only the CLI edge turns them into a sentence and exit code.

Two families. A `CachediagError` is something the user can fix (a flag, a URL, a file):
one sentence, exit 2. A `ProbeError` is a server that could not be talked to, or read:
the probe of that one target records it (the target is down, or up but unreadable) and
the run goes on. Each ProbeError class carries the `kind` that the checks, the JSON rows
and the exit codes speak of, so that a caller tells causes apart by class, and the
documents keep their stable `kind` strings.
"""

from __future__ import annotations


class CachediagError(Exception):
    """Something the user can fix; the message is the one sentence they will see."""

    exit_code = 2


class UsageError(CachediagError):
    """Bad flags, URLs, config or check ids: exit 2."""


class ProbeError(Exception):
    """A server could not be talked to or read. Subclasses name the cause."""

    kind = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "message": self.message}


class ConnectFailed(ProbeError):
    """No connection could be set up: nothing was said to the server yet."""

    kind = "unreachable"


class ConnectionRefused(ConnectFailed):
    kind = "refused"


class NameNotResolved(ConnectFailed):
    kind = "dns"


class TLSFailed(ConnectFailed):
    """The TLS handshake failed, or TLS was spoken to a plain port (or the reverse)."""

    kind = "tls"


class ProbeTimeout(ProbeError):
    """No answer within the timeout (connect, a reply, or a whole probe's deadline)."""

    kind = "timeout"


class AuthFailed(ProbeError):
    """The server refused our credentials, or wants some we did not give."""

    kind = "auth"


class ConnectionClosed(ProbeError):
    """The server closed the connection."""

    kind = "closed"


class ProtocolViolation(ProbeError):
    """The reply is not what the protocol allows: not this kind of server, or a broken one."""

    kind = "protocol"


class MalformedReading(ProtocolViolation):
    """A reading that only looks like a number ('nan', 'inf', '1e400'): named, never judged."""


class ServerRefused(ProbeError):
    """The server answered, with an error where a reading was asked for."""

    kind = "error"


class ScanRefused(ServerRefused):
    """SCAN itself was refused (an ACL, a renamed command) or answered nonsense."""


class ServerSaturated(ProbeError):
    """The server is up and at its connection limit: it turned our connection away.

    Redis (maxclients) and Memcached (-c) answer a new connection with an error and
    close it; every new client of the application gets the same. Not down: a restart
    would empty the cache and cure nothing while the clients hold their connections.
    `limit` names the setting that was reached.
    """

    kind = "saturated"

    def __init__(self, message: str, limit: str = "") -> None:
        super().__init__(message)
        self.limit = limit

    def to_dict(self) -> dict[str, str]:
        return {**super().to_dict(), "limit": self.limit}


class CrawlerUnavailable(ServerRefused):
    """Memcached's LRU crawler is off, busy or missing: its keyspace cannot be walked."""

    kind = "crawler"


_BY_KIND: dict[str, type[ProbeError]] = {
    cls.kind: cls
    for cls in (
        ConnectFailed,
        ConnectionRefused,
        NameNotResolved,
        TLSFailed,
        ProbeTimeout,
        AuthFailed,
        ConnectionClosed,
        ProtocolViolation,
        ServerRefused,
        CrawlerUnavailable,
        ServerSaturated,
    )
}


def probe_error(kind: str, message: str) -> ProbeError:
    """The ProbeError of a recorded `kind` (a row's `error`, read back): its class, or the base."""
    return _BY_KIND.get(kind, ServerRefused)(message)
