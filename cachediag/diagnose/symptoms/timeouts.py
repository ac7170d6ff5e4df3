"""Issue 2, backend connection timeouts: down, saturated, stalling, the pool, the network,
or a timeout set too tight.

A round trip that times out was spent somewhere: the server was not there (down), would
not take the connection (at maxclients), was busy with something else (a slow command,
a fork: SLOWLOG, LATENCY LATEST), the application had no free connection to send it on
(pool exhausted: its log), or the packets were slow or lost on the way (connect time,
round trips without a server stall, retransmits, drops). Each reader looks at one.
"""

from __future__ import annotations

from typing import Any

from cachediag.checks import stalls as stall_view
from cachediag.checks.facts_view import latency_summary, number, section, stats
from cachediag.diagnose.model import Findings, Signal
from cachediag.diagnose.symptoms.registry import Params, cause, symptom
from cachediag.diagnose.view import TargetView
from cachediag.render.units import human_us, plural

SLOW_US = 10_000  # the guide's "> 10ms (slow network)": a round trip this slow is a stall


def _round_trips(view: TargetView) -> dict[str, Any] | None:
    samples = (view.facts.get("ping") or {}).get("samples_us") or []
    return latency_summary(samples) if samples else None


def _error(view: TargetView) -> dict[str, Any]:
    facts = view.facts
    error = (facts.get("ping") or {}).get("error") or (facts.get("connect") or {}).get("error")
    return error if isinstance(error, dict) else {}


def _connections(view: TargetView) -> tuple[float | None, float | None, float]:
    """Connected clients, the limit, and clients rejected since start."""
    if view.redis:
        clients = section(view.facts, "clients")
        rejected = number(section(view.facts, "stats"), "rejected_connections") or 0
        return number(clients, "connected_clients"), number(clients, "maxclients"), rejected
    st = stats(view.facts)
    limit = number(stats(view.facts, "settings"), "maxconns")
    return number(st, "curr_connections"), limit, number(st, "rejected_connections") or 0


def _log_lines(view: TargetView, *categories: str) -> dict[str, int] | None:
    if view.log_scan is None:
        return None
    return {c: n for c in categories if (n := view.log_count(c) or 0)}


@symptom("timeouts")
def signal(view: TargetView, params: Params) -> Signal:
    if view.facts.get("status") == "down":
        return Signal(True, f"the server did not answer: {_error(view).get('message', '?')}", 1)
    saturated = view.facts.get("saturated")
    if isinstance(saturated, dict):
        return Signal(True, f"up but saturated: {saturated.get('message', '')}", 1)
    if not view.readable:
        return Signal(None, "no readings from this target")
    found = []
    rejected_now = view.delta("stats", "rejected_connections")
    if rejected_now:
        found.append(f"{plural(rejected_now, 'connection')} rejected in the window")
    trips = _round_trips(view)
    slow_us = float(params.get("slow_us", SLOW_US))
    if trips and trips["p99_us"] >= slow_us:
        found.append(f"round trips p99 {human_us(trips['p99_us'])}")
    logged = _log_lines(view, "timeout", "pool_exhausted", "backend_unavailable") or {}
    if logged:
        labels = {
            "timeout": "timeout",
            "pool_exhausted": "pool-exhausted line",
            "backend_unavailable": "backend-unavailable line",
        }
        found.append(
            "the application logged " + ", ".join(plural(n, labels[c]) for c, n in logged.items())
        )
    listen_disabled = view.counter("stats", "listen_disabled_num") if not view.redis else None
    if listen_disabled:
        found.append(f"the connection limit was hit {plural(listen_disabled, 'time')}")
    if found:
        result = Signal(True, "; ".join(found))
    else:
        p99 = f"round trips p99 {human_us(trips['p99_us'])}" if trips else "no round trips timed"
        logs = ", no timeouts logged" if view.log_scan is not None else ""
        result = Signal(False, f"{p99}, no connection rejected in the window{logs}")
    if view.log_scan is None:
        result.lacks("log", "the timeouts and pool-exhausted errors the application saw")
    return result


@cause(
    "timeouts.backend-down",
    evidence=("target_down", "unavailable_log_lines", "answered"),
    missing=("log",),
    judges_down=True,
)
def backend_down(view: TargetView, params: Params) -> Findings:
    found = Findings()
    if view.facts.get("status") == "down":
        error = _error(view)
        found.saw("target_down", f"did not answer: {error.get('message', 'no answer')}")
    elif view.facts.get("saturated"):
        found.saw("answered", "up: it answered, with a refusal at its connection limit")
    elif view.up:
        trips = _round_trips(view)
        first = f" (PONG in {human_us(trips['min_us'])})" if trips else ""
        found.saw("answered", f"up and answering{first}")
    logged = _log_lines(view, "backend_unavailable")
    if logged is None:
        found.lacks("log", "its 'backend unavailable' lines")
    elif logged:
        found.saw(
            "unavailable_log_lines",
            "the application logged "
            + plural(logged["backend_unavailable"], "backend-unavailable line"),
        )
    return found


@cause(
    "timeouts.backend-saturated",
    evidence=(
        "at_connection_limit",
        "rejected_in_window",
        "rejected_since_start",
        "near_limit",
        "blocked_clients",
        "listen_disabled",
        "room_to_spare",
    ),
    missing=("window",),
    judges_down=True,
)
def backend_saturated(view: TargetView, params: Params) -> Findings:
    found = Findings()
    saturated = view.facts.get("saturated")
    if isinstance(saturated, dict):
        found.saw(
            "at_connection_limit",
            f"it turned cachediag away at its connection limit ({saturated.get('limit')})",
        )
        return found
    if not view.readable:
        return found
    connected, limit, rejected = _connections(view)
    rejected_now = view.delta("stats", "rejected_connections")
    if rejected_now:
        found.saw(
            "rejected_in_window",
            f"{plural(rejected_now, 'connection')} rejected in the last "
            f"{view.facts['window']['seconds']:.1f} s",
        )
    elif rejected:
        found.saw("rejected_since_start", f"{plural(rejected, 'connection')} rejected since start")
    if view.redis and not view.has_window:
        found.lacks("window", "rejected connections of now")
    used = 100 * connected / limit if connected is not None and limit else None
    if used is not None and used >= float(params.get("near_percent", 80)):
        found.saw(
            "near_limit", f"{connected:,.0f} of {limit:,.0f} connections in use ({used:.0f}%)"
        )
    blocked = view.counter("clients", "blocked_clients") if view.redis else None
    if blocked:
        found.saw("blocked_clients", f"{plural(blocked, 'client')} blocked in a blocking call")
    listen_disabled = None if view.redis else view.counter("stats", "listen_disabled_num")
    if listen_disabled:
        found.saw(
            "listen_disabled",
            f"the connection limit was hit {plural(listen_disabled, 'time')} "
            "(listen_disabled_num): new connections waited",
        )
    if used is not None and used < 50 and not rejected and not listen_disabled:
        found.saw(
            "room_to_spare",
            f"{connected:,.0f} of {limit:,.0f} connections in use, none ever rejected",
        )
    return found


@cause(
    "timeouts.server-stalls",
    evidence=(
        "stalls_while_measured",
        "stalls_slowed_round_trips",
        "recent_slow_commands",
        "slow_fork",
        "big_keys",
        "conn_yields",
        "no_stalls",
    ),
    missing=("latency_monitor", "slowlog"),
)
def server_stalls(view: TargetView, params: Params) -> Findings:
    found = Findings()
    slow_us = float(params.get("slow_us", SLOW_US))
    trips = _round_trips(view)
    p99 = trips["p99_us"] if trips else None
    fast = p99 is not None and p99 < slow_us
    if not view.redis:
        yields = view.counter("stats", "conn_yields")
        if yields:
            found.saw(
                "conn_yields",
                f"{plural(yields, 'connection yield')} (conn_yields): clients sent more "
                "requests at once than a worker serves in one turn, the others waited",
            )
        elif yields == 0 and fast:
            found.saw("no_stalls", f"no connection yields, round trips p99 {human_us(p99 or 0)}")
        return found
    stalls = stall_view.stall_facts(view.facts)
    if stalls is None:
        found.lacks("slowlog", "not collected")
        return found
    during = stall_view.during_measurement(view.facts, slow_us)
    if clause := stall_view.stall_clause(during):
        found.saw("stalls_while_measured", f"Redis was busy while cachediag measured: {clause}")
        if p99 is not None and p99 >= slow_us:
            found.saw(
                "stalls_slowed_round_trips",
                f"round trips p99 {human_us(p99)}, fastest "
                f"{human_us(trips['min_us'] if trips else 0)}: the slow ones waited behind "
                "those commands",
            )
    else:
        recent = stall_view.recent(view.facts, slow_us, float(params.get("recent_s", 300)))
        parts = []
        if recent["commands"]:
            parts.append(stall_view.commands_text(recent["commands"]))
        if recent["events"]:
            parts.append(f"latency events {stall_view.events_text(recent['events'])}")
        if parts:
            found.saw("recent_slow_commands", "in the last minutes: " + "; ".join(parts))
    fork_us = number(section(view.facts, "persistence"), "latest_fork_usec")
    if fork_us and fork_us >= float(params.get("fork_us", 100_000)):
        found.saw("slow_fork", f"the last fork (RDB/AOF) stopped Redis for {human_us(fork_us)}")
    if big := _big_collections(view, int(params.get("big_elements", 10_000))):
        found.saw(
            "big_keys",
            f"big collections in the sample: {big}: a command that reads one whole "
            "(HGETALL, SMEMBERS, LRANGE 0 -1) blocks every client while it runs",
        )
    slowlog = stalls.get("slowlog") or {}
    if slowlog.get("error"):
        found.lacks("slowlog", str(slowlog["error"]))
    threshold = (stalls.get("latency") or {}).get("threshold_ms")
    if threshold == 0:
        found.lacks("latency_monitor", "forks, evictions and expiry cycles are not recorded")
    if not found.observed and fast and not slowlog.get("error"):
        found.saw(
            "no_stalls",
            f"no command slower than {human_us(slow_us)} in SLOWLOG, round trips p99 "
            f"{human_us(trips['p99_us'])}"
            if trips
            else "no slow command in SLOWLOG",
        )
    return found


def _big_collections(view: TargetView, elements: int) -> str:
    """ "myhash (hash, 250,000 elements)" for the sampled collections of at least `elements`."""
    big = sorted(
        (
            (int(item["length"]), str(item.get("key", "")), str(item.get("type", "")))
            for item in view.sample_keys
            if item.get("type") not in (None, "string")
            and isinstance(item.get("length"), int)
            and item["length"] >= elements
        ),
        reverse=True,
    )
    return ", ".join(f"{key} ({kind}, {n:,} elements)" for n, key, kind in big[:3])


@cause(
    "timeouts.pool-exhausted",
    evidence=("pool_log_lines", "established_vs_formula", "no_pool_lines"),
    missing=("log",),
    judges_down=True,
)
def pool_exhausted(view: TargetView, params: Params) -> Findings:
    found = Findings()
    logged = _log_lines(view, "pool_exhausted")
    if logged is None:
        found.lacks("log", "its 'pool exhausted' lines")
        return found
    if not logged:
        found.saw("no_pool_lines", "no 'pool exhausted' line in the application's log")
        return found
    samples = view.log_samples("pool_exhausted")
    example = f", e.g. {samples[0]!r}" if samples else ""
    found.saw(
        "pool_log_lines",
        "the application logged "
        + plural(logged["pool_exhausted"], "pool-exhausted line")
        + example,
    )
    cores = ((view.host or {}).get("cpu") or {}).get("cores")
    established = view.facts.get("established")
    if isinstance(cores, int) and isinstance(established, int):
        formula = cores * 2 + 1
        found.saw(
            "established_vs_formula",
            f"{plural(established, 'connection')} from this host to it; Solution 2B's "
            f"(cores × 2) + 1 is {formula} for {plural(cores, 'core')}"
            + (
                ": the pool is smaller than that"
                if established < formula
                else ": the pool is that big already, look for connections not given back"
            ),
        )
    return found


@cause(
    "timeouts.network",
    evidence=(
        "connect_timed_out",
        "slow_connect",
        "slow_round_trips_not_server",
        "retransmits",
        "packet_drops",
        "fast_network",
    ),
    missing=("host",),
    judges_down=True,
)
def network(view: TargetView, params: Params) -> Findings:
    found = Findings()
    error = _error(view)
    if view.facts.get("status") == "down" and error.get("kind") == "timeout":
        found.saw(
            "connect_timed_out",
            f"{error.get('message', 'connect timed out')}: packets are dropped on the way "
            "(a firewall or security group?)",
        )
    trips = _round_trips(view)
    slow_us = float(params.get("slow_us", SLOW_US))
    if trips and view.readable:
        during = stall_view.during_measurement(view.facts, slow_us) if view.redis else None
        stalled = bool(during and stall_view.stall_clause(during))
        if trips["p99_us"] >= slow_us and not stalled:
            found.saw(
                "slow_round_trips_not_server",
                f"round trips p99 {human_us(trips['p99_us'])} with no server stall logged "
                "while measuring",
            )
        connect_us = (view.facts.get("connect") or {}).get("tcp_us")
        if isinstance(connect_us, (int, float)) and connect_us >= slow_us:
            found.saw(
                "slow_connect",
                f"TCP connect took {human_us(connect_us)} against a fastest round trip of "
                f"{human_us(trips['min_us'])}: the path (or the server's accept queue) is slow",
            )
        fast_us = float(params.get("fast_us", 1000))
        if trips["p99_us"] < fast_us and (connect_us or 0) < fast_us:
            found.saw(
                "fast_network",
                f"TCP connect {human_us(connect_us or 0)}, round trips p99 "
                f"{human_us(trips['p99_us'])}",
            )
    if view.host is None:
        found.lacks("host")
        return found
    tcp = view.host.get("tcp") or {}
    retrans, out = tcp.get("retrans_percent_run"), tcp.get("out_segs_run")
    counted = isinstance(out, int) and out >= 100
    if (
        isinstance(retrans, (int, float))
        and counted
        and retrans >= float(params.get("retrans_percent", 1.0))
    ):
        found.saw("retransmits", f"{retrans:.1f}% of TCP segments retransmitted while measuring")
    interfaces = (view.host.get("net") or {}).get("interfaces") or {}
    dropping = [
        f"{name} +{info['delta']}"
        for name, info in interfaces.items()
        if isinstance(info, dict) and (info.get("delta") or 0) > 0
    ]
    if dropping:
        found.saw("packet_drops", f"drops or errors while measuring on {', '.join(dropping)}")
    return found


@cause(
    "timeouts.timeout-too-aggressive",
    evidence=("p99_near_timeout", "timeout_log_lines", "p99_far_below", "slow_from_stalls"),
    missing=("app_timeout",),
)
def timeout_too_aggressive(view: TargetView, params: Params) -> Findings:
    found = Findings()
    timeout_ms = float(params.get("app_timeout_ms", 0) or 0)
    trips = _round_trips(view)
    logged = _log_lines(view, "timeout") or {}
    if logged:
        found.saw(
            "timeout_log_lines",
            f"the application logged {plural(logged['timeout'], 'timeout')}",
        )
    if not timeout_ms:
        found.lacks("app_timeout")
        return found
    if trips is None:
        return found
    timeout_us = timeout_ms * 1000
    worst = trips["max_us"]
    if trips["p99_us"] >= float(params.get("near_share", 0.5)) * timeout_us:
        found.saw(
            "p99_near_timeout",
            f"round trips p99 {human_us(trips['p99_us'])} (max {human_us(worst)}) against the "
            f"application's {human_us(timeout_us)} timeout",
        )
        during = stall_view.during_measurement(view.facts, SLOW_US) if view.redis else None
        if during and (clause := stall_view.stall_clause(during)):
            found.saw(
                "slow_from_stalls",
                f"those round trips waited behind Redis' own stalls ({clause}): fix them before "
                "raising the timeout",
            )
    elif trips["p99_us"] < float(params.get("far_share", 0.1)) * timeout_us:
        found.saw(
            "p99_far_below",
            f"round trips p99 {human_us(trips['p99_us'])}, far below the application's "
            f"{human_us(timeout_us)} timeout",
        )
    return found
