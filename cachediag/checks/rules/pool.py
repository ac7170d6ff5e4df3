"""`memcached.pool_balance`: a pool of Memcached servers judged as one.

The application hashes each key to one server (ketama, rendezvous, modulo): a healthy
ring spreads items, bytes and gets about evenly. One server holding far more than the
mean is a broken ring (a client with another server list or hashing) or a hot key. A
server down costs the pool its share of the keys: their lookups miss and go to the
database until it is back. Pure: reads each server's `stats`.
"""

from __future__ import annotations

import statistics
from typing import Any

from cachediag.checks.base import Facts, Outcome, Thresholds, passed, rule, skipped, warned
from cachediag.checks.facts_view import human_bytes, number, plural, stats


def _rates(node: Facts) -> dict[str, float | None]:
    counters = stats(node)
    uptime = number(counters, "uptime") or 0
    gets = number(counters, "cmd_get")
    return {
        "items": number(counters, "curr_items"),
        "bytes": number(counters, "bytes"),
        # Memcached reads its counters once: gets per second since the server started.
        "gets_per_s": gets / uptime if gets is not None and uptime > 0 else None,
    }


def _over(values: dict[str, float], limit: float) -> tuple[float, list[tuple[str, float]]]:
    mean = statistics.fmean(values.values()) if values else 0.0
    over = [(name, v) for name, v in values.items() if mean > 0 and v > limit * mean]
    return mean, sorted(over, key=lambda item: -item[1])


def _shown(measure: str, value: float) -> str:
    if measure == "bytes":
        return human_bytes(value)
    if measure == "gets_per_s":
        return f"{value:,.1f} gets/s"
    return f"{value:,.0f} items"


@rule("memcached.pool_balance", system=True)
def pool_balance(system: Facts, th: Thresholds) -> Outcome:
    limit = float(th.get("warn_above_mean", 2.0))
    nodes = system.get("nodes") or []
    up = [node for node in nodes if node.get("status") == "up" and node.get("stats")]
    down = [node["address"] for node in nodes if node.get("status") != "up"]
    observed: dict[str, Any] = {"servers": len(nodes), "down": down}
    lost = len(down) / len(nodes) if nodes else 0.0
    observed["share_of_keys_lost"] = round(lost, 3)
    if not up:
        return skipped("not measured: no server of the pool answered", **observed)
    readings = {node["address"]: _rates(node) for node in up}
    problems = []
    for measure in ("items", "bytes", "gets_per_s"):
        values = {a: v for a, r in readings.items() if (v := r[measure]) is not None}
        observed[measure] = {a: round(v, 2) for a, v in values.items()}
        if len(values) < 2:
            continue
        mean, over = _over(values, limit)
        observed[f"{measure}_mean"] = round(mean, 2)
        problems += [
            f"{address} {_shown(measure, value)}, {value / mean:.1f}x the mean of "
            f"{_shown(measure, mean)}"
            for address, value in over
        ]
    down_text = ""
    if down:
        down_text = (
            f"{plural(len(down), 'server')} of {len(nodes)} down ({', '.join(down)}): under "
            f"consistent hashing (ketama, rendezvous) about {lost:.0%} of the keys map to it "
            "and miss until it is back or removed from the clients' lists (modulo hashing "
            "moves almost every key)"
        )
    if problems:
        text = "uneven pool: " + "; ".join(problems) + " (a broken hash ring: clients with "
        text += "different server lists or hashing, or a hot key; cachediag ring KEY shows "
        text += "where each hashing puts a key)"
        return warned(text + (f"; {down_text}" if down_text else ""), **observed)
    if down:
        return warned(down_text, **observed)
    if len(up) < 2:
        return skipped("not measured: fewer than two servers answered", **observed)
    return passed(
        f"{plural(len(up), 'server')} within {limit:g}x of the mean in items, bytes and gets",
        **observed,
    )
