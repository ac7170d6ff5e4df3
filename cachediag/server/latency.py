"""Round-trip latency sampling, like `redis-cli --latency`, with microsecond resolution.

The timed path is deliberately lean: a pre-packed request, one `sendall`, `recv_into`
a reused buffer, `perf_counter_ns` on either side. Going through a general client
(packing, a reply parser, deadlines) would add tens of microseconds of our own to a
loopback round trip of about as much, and the verdict would judge cachediag, not the
network. The general clients are used only to connect (TCP, TLS, AUTH, SELECT),
whose times are reported apart from the round trips.

Targets are sampled in turn from one thread, never concurrently: on a small machine
threads competing for the interpreter would show up as latency.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cachediag.checks.facts_view import latency_summary
from cachediag.errors import ConnectionClosed, ProbeError, ProbeTimeout, ServerRefused
from cachediag.probes.rows import mark_error, target_row
from cachediag.render.units import human_us, utc_stamp
from cachediag.targets.target import Target

# The guide: "Typical latency: < 1ms (good)"; the slow and degraded limits come from the
# checklist's redis.latency / memcached.latency thresholds (10 ms and 100 ms by default).
GOOD_BELOW_US = 1_000

# Histogram bucket upper bounds in µs (the last bucket is everything above).
BUCKETS_US = (
    50,
    100,
    200,
    500,
    1_000,
    2_000,
    5_000,
    10_000,
    20_000,
    50_000,
    100_000,
    200_000,
    500_000,
    1_000_000,
)


class Session:
    """One connected target and its lean request loop."""

    def __init__(
        self, sock: socket.socket, request: bytes, reply: bytes | None, timeout: float
    ) -> None:
        self.sock = sock
        self.request = request
        # None: any one line is accepted (`version` answers vary); else the exact reply.
        self.reply = reply
        self.timeout = timeout
        self._buffer = bytearray(4096)
        self._view = memoryview(self._buffer)
        # Redis: the client that connected (to read SLOWLOG after the round trips on the
        # same connection) and the stall baseline read just before them.
        self.redis_client: Any = None
        self.stall_before: dict[str, Any] | None = None
        self.started = time.monotonic()

    def sample(self) -> int:
        """One round trip in microseconds."""
        sock, view = self.sock, self._view
        try:
            started = time.perf_counter_ns()
            sock.sendall(self.request)
            got = sock.recv_into(view)
            while got and self._buffer[got - 1] != 0x0A:  # a reply split over reads: rare
                more = sock.recv_into(view[got:])
                if not more:
                    got = 0
                    break
                got += more
            ended = time.perf_counter_ns()
        except TimeoutError:
            raise ProbeTimeout(f"no reply within {self.timeout:g}s") from None
        except OSError as exc:
            raise ConnectionClosed(f"the connection failed: {exc.strerror or exc}") from None
        if not got:
            raise ConnectionClosed("the server closed the connection")
        answer = bytes(self._buffer[:got])
        if self.reply is not None and answer != self.reply:
            text = answer.strip()[:80].decode("ascii", "backslashreplace")
            raise ServerRefused(f"unexpected reply '{text}'")
        return (ended - started + 500) // 1000  # nearest µs, not floored

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


def connect(target: Target, timeout: float) -> tuple[Session, dict[str, Any]]:
    """Connect with the general client (timed), check the target answers, hand over the socket."""
    from cachediag.backends import backend_for

    session, times = backend_for(target).latency_session(target, timeout)
    session.sock.settimeout(timeout)
    return session, times


def redis_session(target: Target, timeout: float) -> tuple[Session, dict[str, Any]]:
    from cachediag.clients.resp import PING_REQUEST, PONG_REPLY, RedisClient

    client = RedisClient(target, timeout).connect()
    client.timed_ping()  # proves auth and protocol before the raw loop trusts the socket
    times = {**client.info.to_dict(), "auth_us": client.auth_us, "command": "PING"}
    assert client.sock is not None
    from cachediag.probes import stalls

    # SLOWLOG's newest entry before the round trips: the stalls that come after it are
    # the ones this measurement saw (read afterwards on the same client).
    before = stalls.read_before(client)
    session = Session(client.sock, PING_REQUEST, PONG_REPLY, timeout)
    session.redis_client, session.stall_before = client, before
    return session, times


def memcached_session(target: Target, timeout: float) -> tuple[Session, dict[str, Any]]:
    from cachediag.clients.memcache_text import (
        NOOP_REPLY,
        NOOP_REQUEST,
        VERSION_REQUEST,
        MemcachedClient,
    )

    mc = MemcachedClient(target, timeout).connect()
    mc.version()
    has_meta = mc.has_meta()
    times = {**mc.info.to_dict(), "auth_us": None}
    assert mc.sock is not None
    # Before 1.6 there is no meta no-op; `version` is the cheapest command left.
    session = Session(
        mc.sock,
        NOOP_REQUEST if has_meta else VERSION_REQUEST,
        NOOP_REPLY if has_meta else None,
        timeout,
    )
    times["command"] = "mn" if has_meta else "version"
    return session, times


@dataclass
class TargetLatency:
    target: Target
    row: dict[str, Any]
    session: Session | None = None
    samples: list[int] = field(default_factory=list)
    window: list[int] = field(default_factory=list)
    window_started: float = 0.0
    history: list[dict[str, Any]] = field(default_factory=list)

    def take(self) -> None:
        if self.session is None:
            return
        try:
            value = self.session.sample()
        except ProbeError as error:
            # The reply may still arrive later: the connection can't be trusted any more.
            self.session.close()
            self.session = None
            self.row["error"] = {
                **error.to_dict(),
                "message": f"stopped after {len(self.samples)} samples: {error.message}",
            }
            if not self.samples:
                self.row["status"] = "down"
            return
        self.samples.append(value)
        self.window.append(value)

    def close_window(self, now_wall: float) -> dict[str, Any] | None:
        if not self.window:
            return None
        entry = {
            "at": utc_stamp(now_wall),
            "target": self.target.name,
            **latency_summary(self.window),
        }
        self.history.append(entry)
        self.window = []
        return entry


def open_all(targets: list[Target], timeout: float) -> list[TargetLatency]:
    from cachediag.probes.fanout import per_target

    def one(target: Target) -> TargetLatency:
        state = TargetLatency(target, target_row(target))
        try:
            state.session, state.row["connect"] = connect(target, timeout)
        except ProbeError as error:
            mark_error(state.row, target, error)
            state.row["connect"] = None
        return state

    return per_target(targets, one)


def measure(
    states: list[TargetLatency],
    *,
    interval_s: float,
    max_samples: int | None = None,
    duration_s: float | None = None,
    history_s: float | None = None,
    on_tick: Callable[[], None] | None = None,
    on_window: Callable[[list[dict[str, Any]]], None] | None = None,
    tick_every_s: float = 0.1,
) -> None:
    """Sample every live target in turn until a limit is reached (or KeyboardInterrupt).

    Like redis-cli, it waits `interval_s` after each round rather than keeping a fixed
    rate, so a slow server is sampled less often instead of piling requests up.
    """
    started = last_tick = window_started = time.monotonic()
    while True:
        live = [s for s in states if s.session is not None]
        if not live:
            break
        for state in live:
            state.take()
        now = time.monotonic()
        if history_s and now - window_started >= history_s:
            window_started = now
            rows = [row for s in states if (row := s.close_window(time.time()))]
            if on_window and rows:
                on_window(rows)
        if on_tick and now - last_tick >= tick_every_s:
            last_tick = now
            on_tick()
        if max_samples and all(
            len(s.samples) >= max_samples for s in states if s.session is not None
        ):
            break
        if duration_s is not None and now - started >= duration_s:
            break
        if interval_s > 0:
            time.sleep(interval_s)


def read_stalls(states: list[TargetLatency]) -> None:
    """SLOWLOG and LATENCY LATEST of each Redis still connected, against its baseline."""
    from cachediag.probes import stalls

    for state in states:
        session = state.session
        if session is None or session.redis_client is None:
            continue
        client = session.redis_client
        state.row["stalls"] = stalls.read(
            client, session.stall_before, stalls.own_addresses(client)
        )
        state.row["stalls"]["measured_s"] = round(time.monotonic() - session.started, 3)


def finish(
    states: list[TargetLatency],
    *,
    history_s: float | None,
    dist: bool,
    limits: dict[str, tuple[int, int]],
) -> list[dict[str, Any]]:
    """Close the sessions and turn every target's samples into its report row.

    `limits` maps a target kind to its (slow, degraded) thresholds in µs.
    """
    rows = []
    for state in states:
        if state.session is not None:
            state.session.close()
            state.session = None
        if history_s:
            state.close_window(time.time())
        row = state.row
        row["summary"] = latency_summary(state.samples) if state.samples else None
        slow, degraded = limits.get(state.target.kind, (10_000, 100_000))
        row["verdict"] = (
            verdict(
                row["summary"],
                slow_above_us=slow,
                degraded_above_us=degraded,
                stalls=row.get("stalls"),
            )
            if row["summary"]
            else None
        )
        if history_s:
            row["history"] = state.history
        if dist:
            row["histogram"] = histogram(state.samples)
        rows.append(row)
    return rows


# -- pure judgement ---------------------------------------------------------------------


def band(value_us: float, slow_above_us: int, degraded_above_us: int) -> str:
    if value_us > degraded_above_us:
        return "degraded"
    if value_us > slow_above_us:
        return "slow network"
    if value_us < GOOD_BELOW_US:
        return "good"
    return "acceptable"


STALLS = "server stalls"  # a slow band while Redis ran slow commands: not the network
_BAND_STATUS = {
    "good": "pass",
    "acceptable": "pass",
    "slow network": "warn",
    STALLS: "warn",
    "degraded": "fail",
}
_BAND_RANK = {"good": 0, "acceptable": 1, "slow network": 2, STALLS: 2, "degraded": 3}


def verdict(
    summary: dict[str, Any],
    *,
    slow_above_us: int = 10_000,
    degraded_above_us: int = 100_000,
    stalls: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The guide's reading of the typical (p50) round trip; a note when p99 is in a worse band.

    With `stalls` (SLOWLOG and LATENCY LATEST read around the round trips, Redis only),
    slow round trips while Redis ran slow commands are "server stalls", not a slow network.
    """
    typical = band(summary["p50_us"], slow_above_us, degraded_above_us)
    tail = band(summary["p99_us"], slow_above_us, degraded_above_us)
    busy, cause = _stall_cause(stalls, slow_above_us) if _slow(typical, tail) else (None, None)
    if busy:
        typical, tail = (STALLS if b == "slow network" else b for b in (typical, tail))
    meanings = {
        "good": "under 1 ms: good",
        "acceptable": "between 1 ms and 10 ms: acceptable, but not a local network",
        "slow network": f"over {human_us(slow_above_us)}: slow network",
        STALLS: f"over {human_us(slow_above_us)}: server stalls, not the network",
        "degraded": f"over {human_us(degraded_above_us)}: degraded",
    }
    if typical == "slow network" and stalls is None:
        meanings[typical] = (
            f"over {human_us(slow_above_us)}: slow network "
            "(check the path, the server's CPU and SLOWLOG)"
        )
    text = f"typical round trip {human_us(summary['p50_us'])}, {meanings[typical]}"
    status = _BAND_STATUS[typical]
    # A p99 merely "acceptable" is normal jitter; one that is slow or degraded is worth saying.
    if _BAND_RANK[tail] > _BAND_RANK[typical] and _BAND_STATUS[tail] != "pass":
        text += f"; p99 {human_us(summary['p99_us'])} is {tail}: latency spikes"
        status = "warn" if status == "pass" else status
    out = {"band": typical, "p99_band": tail, "status": status, "text": text}
    if cause:
        out["cause"] = cause["cause"]
        out["slow_commands"] = cause["commands"]
        out["text"] += f"; {cause['text']}"
    return out


def _slow(*bands: str) -> bool:
    return any(b in ("slow network", "degraded") for b in bands)


def _stall_cause(
    stalls: dict[str, Any] | None, slow_above_us: int
) -> tuple[str | None, dict[str, Any] | None]:
    """(what Redis was busy with, the cause) for slow round trips; (None, None) unknown."""
    if stalls is None:
        return None, None
    from cachediag.checks import stalls as view

    during = view.during_measurement({"stalls": stalls}, slow_above_us)
    busy = view.stall_clause(during)
    if busy:
        text = f"Redis was busy with {busy} while measuring: the time was spent in Redis"
        return busy, {"cause": "server", "commands": during["commands"], "text": text}
    if (stalls.get("slowlog") or {}).get("error"):
        return None, None
    text = (
        f"no command slower than {human_us(slow_above_us)} in SLOWLOG while measuring: "
        "the network path, or the server host's CPU or swap"
    )
    note = view.monitor_note(stalls)
    return None, {
        "cause": "network-or-host",
        "commands": [],
        "text": text + (f"; {note}" if note else ""),
    }


def histogram(samples: list[int]) -> list[dict[str, Any]]:
    """Counts per bucket, from the first to the last non-empty one (`le_us` None = above all)."""
    counts = [0] * (len(BUCKETS_US) + 1)
    for value in samples:
        for index, bound in enumerate(BUCKETS_US):
            if value <= bound:
                counts[index] += 1
                break
        else:
            counts[-1] += 1
    used = [i for i, c in enumerate(counts) if c]
    if not used:
        return []
    bounds: list[int | None] = [*BUCKETS_US, None]
    return [{"le_us": bounds[i], "count": counts[i]} for i in range(used[0], used[-1] + 1)]
