"""Guard rails: a key rate, and a back-off on the purge's own round trips.

The purge times each of its writes. A round trip above --max-latency means the server
is busy (with the application, or with us): pause, and send smaller writes, so the
application's requests do not queue behind ours; calm round trips shrink the pause and
grow the writes back. Every pause is counted, so the report says how long it waited.
"""

from __future__ import annotations

import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

MIN_CHUNK = 10
MAX_PAUSE_S = 1.0
RECENT = 5  # writes remembered
SLOW_OF_RECENT = 3  # slow ones among them (this one included) that make a pause


class Guard:
    def __init__(
        self,
        rate: float | None,
        max_latency_ms: float,
        chunk: int = 1000,
        min_chunk: int = MIN_CHUNK,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = rate
        self.max_latency_s = max_latency_ms / 1000
        self.min_chunk = min(min_chunk, chunk)
        self.chunk = max(chunk, self.min_chunk)
        self.max_chunk = self.chunk
        self.clock = clock
        self.sleep = sleep
        self.started = clock()
        # chunk: keys per write; purge's scan takes it as its SCAN COUNT too, so slow
        # writes get smaller before (and while) they are paused between.
        self.sent = 0  # keys sent to be deleted (for the rate)
        self.paused_s = 0.0  # pauses for latency
        self.rate_wait_s = 0.0  # waits for the rate
        self.pauses = 0
        self.worst_ms = 0.0
        self._pause = 0.0
        self._recent: deque[bool] = deque(maxlen=RECENT)  # the last writes: slow or not

    def before(self, keys: int) -> None:
        """Wait until `keys` more may go: those sent so far have had their time at the rate."""
        if self.rate:
            due = self.started + self.sent / self.rate
            wait = due - self.clock()
            if wait > 0:
                self.sleep(wait)
                self.rate_wait_s += wait
        self.sent += keys

    def timed(self, started: float) -> float:
        """Record a write sent at `started` and just answered; pause if it was slow."""
        took = self.clock() - started
        self.observe(took)
        return took

    def observe(self, took_s: float) -> None:
        self.worst_ms = max(self.worst_ms, took_s * 1000)
        slow = took_s > self.max_latency_s
        self._recent.append(slow)
        if slow:
            self.chunk = max(self.chunk // 2, self.min_chunk)
            # A slow write now and then is as likely this process descheduled on a busy
            # host as a busy server; a server that is slow makes most writes slow. Pause
            # when this write and most of the last few were.
            if sum(self._recent) >= SLOW_OF_RECENT:
                self._pause = min(max(self._pause * 2, 0.01), MAX_PAUSE_S)
                self.pauses += 1
                self.paused_s += self._pause
                self.sleep(self._pause)
        else:
            self._pause = self._pause / 2 if self._pause > 0.01 else 0.0
            self.chunk = min(self.chunk * 2, self.max_chunk)


class StopFlag:
    """Ctrl-C while a purge runs: finish the batch in hand, then stop (a second one aborts)."""

    def __init__(self) -> None:
        self.set = False

    @contextmanager
    def installed(self) -> Iterator[StopFlag]:
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = signal.getsignal(signal.SIGINT)

        def handler(signum: int, frame: object) -> None:
            if self.set:
                raise KeyboardInterrupt
            self.set = True

        signal.signal(signal.SIGINT, handler)
        try:
            yield self
        finally:
            signal.signal(signal.SIGINT, previous)
