"""One deadline for a target's whole probe, on top of each round trip's --timeout.

A server that answers every command just inside --timeout (0.8 s of 1) passes every
per-call deadline, and a probe of some forty round trips then takes half a minute.
The probe of one target (`check`, `memory`) therefore runs inside `whole_probe(...)`:
every connection opened in it (Connection reads the deadline when it is made) waits no
longer than what is left, and past the deadline a read is a ProbeDeadline, whose
message says which bound was reached. The probes turn it into that target's error and
the run goes on with the other targets.

The bound is PROBE_TIMEOUTS x --timeout (plus a --window the probe waits on purpose),
counted from when the command began with the target (`since`): learning whether a Redis
is a cluster node, before its probe, is one more round trip inside the same bound.
a healthy server is probed in a fraction of one --timeout, a remote one at 100 ms a
round trip in a few seconds; five timeouts leave room for both and still end a drip.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from cachediag.errors import ProbeTimeout

PROBE_TIMEOUTS = 5


class ProbeDeadline(ProbeTimeout):
    """The whole probe of a target ran out of time (kind 'timeout', like a round trip's)."""


class WholeDeadline:
    def __init__(self, timeout: float, window: float = 0.0, since: float | None = None) -> None:
        self.seconds = probe_seconds(timeout, window)
        self.timeout = timeout
        self.window = max(window, 0.0)
        self.at = (time.monotonic() if since is None else since) + self.seconds

    def left(self) -> float:
        return self.at - time.monotonic()

    def error(self) -> ProbeDeadline:
        window = f" and the {self.window:g}s window" if self.window else ""
        return ProbeDeadline(
            f"the probe of this target ran past its deadline of {self.seconds:g}s "
            f"({PROBE_TIMEOUTS} x --timeout {self.timeout:g}s{window}): the server answers "
            "too slowly to be read in full"
        )


_CURRENT: ContextVar[WholeDeadline | None] = ContextVar("whole_probe", default=None)


def current() -> WholeDeadline | None:
    return _CURRENT.get()


def probe_seconds(timeout: float, window: float = 0.0) -> float:
    return PROBE_TIMEOUTS * timeout + max(window, 0.0)


@contextmanager
def whole_probe(
    timeout: float, window: float = 0.0, since: float | None = None
) -> Iterator[WholeDeadline]:
    """Bound every connection opened inside (in this thread) by one probe deadline,
    counted from `since` (time.monotonic()) when given, else from now."""
    deadline = WholeDeadline(timeout, window, since)
    token = _CURRENT.set(deadline)
    try:
        yield deadline
    finally:
        _CURRENT.reset(token)
