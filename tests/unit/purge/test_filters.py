"""Which inspected keys the filters let through, and what their guarded delete compares."""

from __future__ import annotations

import pytest

from cachediag.errors import UsageError
from cachediag.purge.filters import Inspection, expectation, qualifies
from cachediag.purge.guard import Guard
from cachediag.purge.redis import Seen
from cachediag.purge.request import Filters, PurgeRequest, validate


def entry(head: bytes, ttl: int = -1, idle: int | None = None, kind: str = "string") -> Inspection:
    return Inspection(b"k", kind, ttl, 100, idle, len(head), head)


@pytest.mark.parametrize(
    ("filters", "info", "expected"),
    [
        (Filters(invalid=True), entry(b"garbage"), True),
        (Filters(invalid=True), entry(b"CKIT\x01abc"), False),
        (Filters(invalid=True), entry(b"CKIT\x01"), True),  # no payload: undecodable
        (Filters(invalid=True), entry(b"", kind="hash"), False),  # not a string value
        (Filters(schema_version=1), entry(b"CKIT\x01abc"), True),
        (Filters(schema_version=1), entry(b"CKIT\x02abc"), False),
        (Filters(schema_below=3), entry(b"CKIT\x02abc"), True),
        (Filters(schema_below=2), entry(b"CKIT\x02abc"), False),
        (Filters(schema_below=9), entry(b"garbage"), False),  # not cache-kit: no version
        (Filters(no_ttl=True), entry(b"x"), True),
        (Filters(no_ttl=True), entry(b"x", ttl=5000), False),
        (Filters(ttl_above_s=10), entry(b"x", ttl=10_001), True),
        (Filters(ttl_above_s=10), entry(b"x", ttl=10_000), False),
        (Filters(ttl_above_s=10), entry(b"x"), False),  # no expiry is not "above"
        (Filters(idle_above_s=60), entry(b"x", idle=61), True),
        (Filters(idle_above_s=60), entry(b"x", idle=60), False),
        (Filters(type="hash"), entry(b"", kind="hash"), True),
        (Filters(type="hash"), entry(b"x"), False),
        (Filters(), entry(b"x", ttl=-2), False),  # gone
    ],
)
def test_qualifies(filters: Filters, info: Inspection, expected: bool) -> None:
    assert qualifies(filters, info) is expected


def test_expectation_compares_what_was_read() -> None:
    info = entry(b"garbage", idle=100)
    value = expectation(Filters(invalid=True), info)
    assert (value.type, value.length, value.head, value.ttl_rule) == ("string", 7, b"garbage", "")
    ttl = expectation(Filters(ttl_above_s=2.5), entry(b"x", ttl=9000))
    assert (ttl.ttl_rule, ttl.head, ttl.length) == ("above:2500", None, None)
    assert expectation(Filters(no_ttl=True), info).ttl_rule == "none"
    assert expectation(Filters(idle_above_s=60), info).idle_at_least_s == 61
    # A value read resets the idle time: only the reading before it counts.
    assert expectation(Filters(idle_above_s=60, invalid=True), info).idle_at_least_s is None


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (PurgeRequest(), "nothing to purge"),
        (PurgeRequest(patterns=("*",)), "--all-keys"),
        (PurgeRequest(patterns=("",)), "an empty pattern"),
        (PurgeRequest(keys=(b"a",), filters=Filters(no_ttl=True)), "narrow a --pattern"),
        (PurgeRequest(patterns=("a:*",), filters=Filters(no_ttl=True, ttl_above_s=1)), "exclude"),
        (PurgeRequest(patterns=("a:*",), filters=Filters(invalid=True, type="hash")), "string"),
    ],
)
def test_requests_refused(request_: PurgeRequest, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        validate(request_)


def test_keys_seen_twice_are_kept_once() -> None:
    seen = Seen()
    assert seen.fresh([b"a", b"b", b"a"], ["x", "y", "x"]) == ([b"a", b"b"], ["x", "y"])
    assert seen.fresh([b"b", b"c"], ["y", "z"]) == ([b"c"], ["z"])


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_guard_keeps_the_rate() -> None:
    clock = Clock()
    guard = Guard(rate=100, max_latency_ms=10, clock=clock, sleep=clock.sleep)
    for _ in range(5):
        guard.before(50)
    assert clock.now == pytest.approx(2.0)  # 250 keys at 100/s: the last 50 wait to 2.0 s
    assert guard.rate_wait_s == pytest.approx(2.0)


def test_guard_backs_off_and_recovers() -> None:
    clock = Clock()
    guard = Guard(rate=None, max_latency_ms=10, chunk=1000, clock=clock, sleep=clock.sleep)
    guard.observe(0.002)
    assert (guard.pauses, guard.chunk) == (0, 1000)
    guard.observe(0.05)  # slow writes: smaller writes at once, a pause from the third
    guard.observe(0.05)
    assert (guard.pauses, guard.chunk) == (0, 250)
    guard.observe(0.05)
    guard.observe(0.05)
    assert guard.pauses == 2 and guard.paused_s == pytest.approx(0.03)
    assert guard.chunk == 62 and guard.worst_ms == pytest.approx(50)
    guard.observe(0.001)  # a quick write: no pause, the pause shrinks
    assert guard.pauses == 2 and guard._pause == pytest.approx(0.01)
    for _ in range(5):
        guard.observe(0.001)
    assert guard.chunk == 1000 and guard._pause == 0.0
    # Spikes among quick writes (a descheduled client) make no pause.
    for took in (0.05, 0.001, 0.001, 0.05, 0.001, 0.001, 0.05):
        guard.observe(took)
    assert guard.pauses == 2
