"""Rules for the checklist's Network Issues section that judge one target."""

from __future__ import annotations

from typing import Any

from cachediag.checks.base import (
    Facts,
    Outcome,
    Thresholds,
    failed,
    passed,
    rule,
    skipped,
    warned,
)
from cachediag.checks.facts_view import human_us
from cachediag.checks.rules.cache import down_outcome, info_gap

_NETWORK_FAILURES = ("refused", "timeout", "dns", "unreachable")


@rule("redis.reachable", "memcached.reachable", judges_down=True)
def reachable(facts: Facts, th: Thresholds) -> Outcome:
    if facts.get("status") == "skipped":
        return down_outcome(facts)
    connect = facts.get("connect") or {}
    addresses = connect.get("addresses") or []
    established = facts.get("established")
    observed = {"addresses": addresses, "established_from_this_host": established}
    if not connect.get("ok"):
        error = connect.get("error") or {}
        if error.get("kind") in _NETWORK_FAILURES:
            return failed(f"not reachable: {error.get('message')}", **observed)
    text = f"reachable at {', '.join(addresses) or facts.get('address')}"
    if established is not None:
        text += f"; {established} other established connections from this host"
    return passed(text, **observed)


@rule("redis.firewall", "memcached.firewall", judges_down=True)
def firewall(facts: Facts, th: Thresholds) -> Outcome:
    if facts.get("status") == "skipped":
        return down_outcome(facts)
    connect = facts.get("connect") or {}
    error = connect.get("error") or {}
    if error.get("kind") == "timeout":
        return failed(
            "connect timed out: packets are silently dropped, "
            "as a firewall or security group rule does",
            cause="timeout",
        )
    if error.get("kind") == "dns":
        return skipped("no TCP connection was tried: the name did not resolve", cause="dns")
    if error.get("kind") == "unreachable":
        return warned(
            f"{error.get('message')}: a router or a firewall REJECT rule answers for this path",
            cause="unreachable",
        )
    if error.get("kind") == "refused":
        return passed(
            "connection refused: packets get through (a host answered), the port is closed",
            cause="refused",
        )
    if not connect.get("ok"):
        return passed(f"no sign of a firewall drop ({error.get('message', 'connect failed')})")
    return passed("TCP connect succeeded: no rule blocks this port from here", cause=None)


@rule("redis.slow_commands")
def slow_commands(facts: Facts, th: Thresholds) -> Outcome:
    """Stalls inside Redis (SLOWLOG, LATENCY LATEST): the other cause of slow round trips."""
    from cachediag.checks import stalls as view

    if gap := info_gap(facts):
        return gap
    stalls = view.stall_facts(facts)
    if stalls is None:
        why = (facts.get("errors") or {}).get("probe") or "SLOWLOG was not read"
        return Outcome("error", f"no SLOWLOG reading: {why}")
    slowlog, monitor = stalls.get("slowlog") or {}, stalls.get("latency") or {}
    if slowlog.get("error") and monitor.get("error"):
        return skipped(f"{slowlog['error']}; {monitor['error']}")
    warn_us, fail_us = th.get("warn_above_us", 10_000), th.get("fail_above_us", 100_000)
    recent_s = th.get("recent_seconds", 300)
    found = view.recent(facts, warn_us, recent_s)
    during = view.during_measurement(facts, warn_us)
    observed: dict[str, Any] = {
        "slow_commands": found["commands"],
        "latency_events": found["events"],
        "during_measurement": sum(g["count"] for g in during["commands"]) + len(during["events"]),
        "slowlog_length": slowlog.get("length"),
        "slowlog_log_slower_than_us": slowlog.get("log_slower_than_us"),
        "latency_monitor_threshold_ms": monitor.get("threshold_ms"),
    }
    notes = [
        n for n in (slowlog.get("error"), monitor.get("error"), view.monitor_note(stalls)) if n
    ]
    tail = "".join(f"; {note}" for note in notes)
    if found["commands"] or found["events"]:
        worst = max(
            [g["max_us"] for g in found["commands"]]
            + [(e.get("latest_ms") or 0) * 1000 for e in found["events"]]
        )
        observed["max_us"] = worst
        parts = []
        if found["commands"]:
            parts.append(
                f"slow commands {view.commands_text(found['commands'])}"
                f"{view.truncation_note(found)}"
            )
        if found["events"]:
            parts.append(f"latency events {view.events_text(found['events'])}")
        text = (
            f"server-side stalls in the last {_minutes(recent_s)}: {' and '.join(parts)}; "
            "each one blocks every client of this Redis for that long"
        )
        if observed["during_measurement"]:
            text += f" ({observed['during_measurement']} while cachediag measured)"
        return Outcome("fail" if worst >= fail_us else "warn", text + tail, observed)
    if slowlog.get("error") is None and (slowlog.get("log_slower_than_us") or 0) < 0:
        return skipped("SLOWLOG is off (slowlog-log-slower-than -1)" + tail, **observed)
    text = f"no command slower than {human_us(warn_us)} in the last {_minutes(recent_s)}"
    if found["older_commands"]:
        oldest = found["older_commands"]
        text += f" (earlier: {view.commands_text(oldest)})"
    return Outcome("pass", text + tail, observed)


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 120 else f"{seconds:.0f} s"
