"""Typed errors: the core raises them; only the CLI turns them into a sentence and an exit code."""

from __future__ import annotations


class CachediagError(Exception):
    """Something the user can fix; the message is the one sentence they will see."""

    exit_code = 2


class UsageError(CachediagError):
    """Bad flags, URLs, config or check ids: exit 2."""


class ProbeError(Exception):
    """A server could not be talked to. `kind` names the cause for the checks.

    kinds: refused, timeout, dns, auth, tls, protocol, closed, unreachable, error
    """

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "message": self.message}
