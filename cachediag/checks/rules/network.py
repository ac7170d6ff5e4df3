"""Rules for the checklist's Network Issues section that judge one target."""

from __future__ import annotations

from cachediag.checks.base import Facts, Outcome, Thresholds, failed, passed, rule, skipped, warned
from cachediag.checks.rules.cache import down_outcome

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
