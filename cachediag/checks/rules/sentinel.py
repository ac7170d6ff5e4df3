"""`redis.sentinel`: a Sentinel-managed primary, judged by what every sentinel says.

Every sentinel that answers must name the same primary (two answers: a split brain, the
clients of each side writing to a different node); SENTINEL CKQUORUM must be OK (enough
sentinels reachable to agree on a failover and authorize it); no failover may be in
progress; and the node named primary must say it is one. Pure: reads the set's
`sentinels` (facts["systems"]) and its nodes' INFO.
"""

from __future__ import annotations

from typing import Any

from cachediag.checks.base import Facts, Outcome, Thresholds, failed, passed, rule, skipped, warned
from cachediag.checks.facts_view import plural, section


@rule("redis.sentinel", system=True)
def sentinel(system: Facts, th: Thresholds) -> Outcome:
    answers = system.get("sentinels")
    if answers is None:
        return skipped("not applicable: not a Sentinel-managed set (redis+sentinel://)")
    reachable = [a for a in answers if a.get("reachable") and not a.get("error")]
    unreachable = [f"{a['address']} ({a.get('error')})" for a in answers if a not in reachable]
    named = sorted({a["primary"] for a in reachable if a.get("primary")})
    observed: dict[str, Any] = {
        "master": system.get("master"),
        "sentinels": len(answers),
        "reachable": len(reachable),
        "unreachable": unreachable,
        "primaries_named": named,
    }
    if not reachable:
        return failed(
            f"no sentinel answered for {system.get('master')}: " + "; ".join(unreachable),
            **observed,
        )
    if len(named) > 1:
        by = {p: [a["address"] for a in reachable if a.get("primary") == p] for p in named}
        sides = "; ".join(f"{primary} by {', '.join(who)}" for primary, who in by.items())
        return failed(
            f"split brain: the sentinels name different primaries ({sides}): clients "
            "following each write to a different node",
            **observed,
        )
    if not named:
        return failed(f"no sentinel knows a primary for {system.get('master')}", **observed)
    quorum = [a for a in reachable if (a.get("ckquorum") or {}).get("ok")]
    if not quorum:
        message = (reachable[0].get("ckquorum") or {}).get("message") or "no answer"
        return failed(
            f"SENTINEL CKQUORUM fails: {message}: a failover could not be agreed on or authorized",
            **observed,
        )
    failing_over = [a["address"] for a in reachable if a.get("failover_in_progress")]
    if failing_over:
        return warned(
            f"a failover is in progress (seen by {', '.join(failing_over)}): the primary is "
            "changing; writes may fail until it ends",
            **observed,
        )
    primary = named[0]
    node = next((n for n in system.get("nodes") or [] if n.get("address") == primary), None)
    if node is not None and node.get("status") == "up":
        role = section(node, "replication").get("role")
        if role not in (None, "master"):
            return failed(
                f"the sentinels name {primary} the primary, but it says it is a {role}",
                **observed,
            )
    tail = (
        f"; {plural(len(unreachable), 'sentinel')} unreachable: " + "; ".join(unreachable)
        if unreachable
        else ""
    )
    summary = (
        f"{plural(len(reachable), 'sentinel')} agree on primary {primary}, quorum reachable "
        f"({quorum[0]['ckquorum']['message']}), no failover in progress{tail}"
    )
    return (warned if unreachable else passed)(summary, **observed)
