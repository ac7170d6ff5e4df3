"""A Redis Cluster judged as one system: slots, replicas, balance, hot shards, config drift.

Each rule takes a system's facts, {"name", "kind", "nodes": [each node's target facts]}
(checks/evaluate.py groups them by the node facts' `system`), and reads what every node
said of itself (INFO, CONFIG GET, CLUSTER INFO, CLUSTER NODES). Pure: no I/O.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

from cachediag.checks.base import Facts, Outcome, Thresholds, passed, rule, skipped, warned
from cachediag.checks.base import failed as failed_outcome
from cachediag.checks.facts_view import human_bytes, keyspace_totals, number, plural, section
from cachediag.checks.window import window_delta, window_seconds

SLOTS = 16384


def up_nodes(system: Facts) -> list[Facts]:
    return [node for node in system.get("nodes") or [] if node.get("status") == "up"]


def role_of(node: Facts) -> str:
    """primary or replica: what the node's own INFO says, else what discovery recorded."""
    role = section(node, "replication").get("role")
    if role in ("master", "slave"):
        return "primary" if role == "master" else "replica"
    return str((node.get("system") or {}).get("role") or "primary")


def primaries(system: Facts) -> list[Facts]:
    return [node for node in up_nodes(system) if role_of(node) == "primary"]


def _none_up(system: Facts) -> Outcome | None:
    if not up_nodes(system):
        return skipped("not measured: no node of the cluster answered")
    return None


def _cluster_view(system: Facts) -> list[dict[str, Any]]:
    """CLUSTER NODES as the first node that answered it sees the cluster."""
    for node in up_nodes(system):
        nodes = (node.get("cluster") or {}).get("nodes")
        if nodes:
            return list(nodes)
    return []


def _names(nodes: list[str]) -> str:
    return ", ".join(nodes[:5]) + (f" and {len(nodes) - 5} more" if len(nodes) > 5 else "")


@rule("redis.cluster_state", system=True)
def cluster_state(system: Facts, th: Thresholds) -> Outcome:
    none = _none_up(system)
    if none:
        return none
    problems: list[str] = []
    observed: dict[str, Any] = {}
    not_ok = []
    assigned = []
    for node in up_nodes(system):
        info = (node.get("cluster") or {}).get("info") or {}
        if info.get("cluster_state") not in (None, "ok"):
            not_ok.append(f"{node['address']} ({info.get('cluster_state')})")
        slots = number(info, "cluster_slots_assigned")
        if slots is not None:
            assigned.append(int(slots))
    down = [node["address"] for node in system["nodes"] if node.get("status") != "up"]
    view = _cluster_view(system)
    unhealthy = [f"{n['address']} ({n['health']})" for n in view if n.get("health") != "online"]
    migrating = sorted(
        {
            (slot, node["address"])
            for node in up_nodes(system)
            for entry in (node.get("cluster") or {}).get("nodes") or []
            if "myself" in entry.get("flags", [])
            for slot in entry.get("migrating", []) + entry.get("importing", [])
        }
    )
    observed["slots_assigned"] = min(assigned) if assigned else None
    observed["nodes"] = len(system["nodes"])
    observed["unreachable"] = down
    observed["unhealthy"] = unhealthy
    observed["open_slots"] = sorted({slot for slot, _ in migrating})
    if not_ok:
        problems.append(f"cluster_state is not ok on {_names(not_ok)}")
    if assigned and min(assigned) < SLOTS:
        problems.append(f"only {min(assigned):,} of {SLOTS:,} slots are assigned")
    if unhealthy:
        problems.append(f"nodes failing or handshaking: {_names(unhealthy)}")
    if down:
        problems.append(f"{plural(len(down), 'node')} did not answer: {_names(down)}")
    if problems:
        return failed_outcome("; ".join(problems), **observed)
    if migrating:
        open_slots = sorted({slot for slot, _ in migrating})
        shown = ", ".join(str(slot) for slot in open_slots[:10])
        holders = sorted({address for _, address in migrating})
        return warned(
            f"{plural(len(open_slots), 'open slot')} ({shown}) importing or migrating on "
            f"{_names(holders)}: a resharding is in progress or was left half-done",
            **observed,
        )
    return passed(
        f"cluster_state ok, all {SLOTS:,} slots assigned, "
        f"{plural(len(system['nodes']), 'node')} healthy, no open slots",
        **observed,
    )


def _host(address: str) -> str:
    return address.rsplit(":", 1)[0].strip("[]")


@rule("redis.cluster_replicas", system=True)
def cluster_replicas(system: Facts, th: Thresholds) -> Outcome:
    none = _none_up(system)
    if none:
        return none
    view = _cluster_view(system)
    if not view:
        return skipped("not measured: no node answered CLUSTER NODES")
    by_id = {node["id"]: node for node in view}
    serving = [n for n in view if n["role"] == "primary" and n.get("slots")]
    without: list[str] = []
    same_host: list[str] = []
    for primary in serving:
        replicas = [
            n for n in view if n["role"] == "replica" and n.get("primary_id") == primary["id"]
        ]
        healthy = [n for n in replicas if n.get("health") == "online"]
        if not healthy:
            without.append(primary["address"])
        elif all(_host(n["address"]) == _host(primary["address"]) for n in healthy):
            same_host.append(primary["address"])
    hosts = sorted({_host(n["address"]) for n in by_id.values()})
    observed = {
        "primaries": len(serving),
        "without_replica": without,
        "replica_on_same_host": same_host,
        "hosts": hosts,
    }
    if without:
        return warned(
            f"{plural(len(without), 'primary', 'primaries')} without a healthy replica "
            f"({_names(without)}): losing one loses its slots",
            **observed,
        )
    if same_host:
        where = (
            f"every node runs on the one host {hosts[0]}"
            if len(hosts) == 1
            else f"the replicas of {_names(same_host)} run on their primary's host"
        )
        return warned(
            f"each primary has a replica, but {where}: one machine's failure takes a primary "
            "and its replica together (fine for a test cluster, not for production)",
            **observed,
        )
    return passed(
        f"each of the {plural(len(serving), 'primary', 'primaries')} has a replica on another host",
        **observed,
    )


def _spread(values: dict[str, float], limit: float) -> tuple[float, list[tuple[str, float]]]:
    """The mean, and the nodes above `limit` times it (biggest first)."""
    mean = statistics.fmean(values.values()) if values else 0.0
    over = sorted(
        ((name, value) for name, value in values.items() if mean > 0 and value > limit * mean),
        key=lambda item: -item[1],
    )
    return mean, over


def _keys(node: Facts) -> float:
    dbsize = node.get("dbsize")
    return float(dbsize) if isinstance(dbsize, int) else keyspace_totals(node)[0]


@rule("redis.cluster_balance", system=True)
def cluster_balance(system: Facts, th: Thresholds) -> Outcome:
    none = _none_up(system)
    if none:
        return none
    limit = float(th.get("warn_above_mean", 1.5))
    nodes = primaries(system)
    if len(nodes) < 2:
        return skipped("not measured: fewer than two primaries answered")
    keys = {node["address"]: _keys(node) for node in nodes}
    memory = {
        node["address"]: float(number(section(node, "memory"), "used_memory") or 0.0)
        for node in nodes
    }
    keys_mean, keys_over = _spread(keys, limit)
    memory_mean, memory_over = _spread(memory, limit)
    observed = {
        "keys": {name: int(value) for name, value in keys.items()},
        "used_memory": {name: int(value) for name, value in memory.items()},
        "keys_mean": round(keys_mean, 1),
        "memory_mean": round(memory_mean, 1),
    }
    problems = [
        f"{name} holds {value:,.0f} keys, {value / keys_mean:.1f}x the mean of {keys_mean:,.0f}"
        for name, value in keys_over
    ] + [
        f"{name} uses {human_bytes(value)}, {value / memory_mean:.1f}x the mean of "
        f"{human_bytes(memory_mean)}"
        for name, value in memory_over
    ]
    if problems:
        return warned(
            "; ".join(problems) + " (big keys or a hash tag pinning keys to one slot; "
            "rebalance with redis-cli --cluster rebalance)",
            **observed,
        )
    return passed(
        f"{plural(len(nodes), 'primary', 'primaries')} within {limit:g}x of the mean: "
        f"{keys_mean:,.0f} keys and {human_bytes(memory_mean)} on average",
        **observed,
    )


def _ops_per_second(node: Facts) -> float | None:
    seconds = window_seconds(node)
    delta = window_delta(node, "stats", "total_commands_processed")
    if delta is not None and seconds > 0:
        return delta / seconds
    return number(section(node, "stats"), "instantaneous_ops_per_sec")


@rule("redis.cluster_hot_shard", system=True, windowed=True)
def cluster_hot_shard(system: Facts, th: Thresholds) -> Outcome:
    none = _none_up(system)
    if none:
        return none
    limit = float(th.get("warn_above_mean", 2.0))
    floor = float(th.get("min_ops_per_second", 10))
    nodes = primaries(system)
    if len(nodes) < 2:
        return skipped("not measured: fewer than two primaries answered")
    rates = {node["address"]: _ops_per_second(node) for node in nodes}
    known = {name: rate for name, rate in rates.items() if rate is not None}
    windowed = all(window_seconds(node) > 0 for node in nodes)
    observed: dict[str, Any] = {
        "ops_per_second": {name: round(rate, 1) for name, rate in known.items()},
        "over": "window" if windowed else "instantaneous_ops_per_sec",
    }
    if len(known) < 2:
        return skipped("not measured: no command counters were read", **observed)
    mean, over = _spread(known, limit)
    observed["mean"] = round(mean, 1)
    if mean < floor:
        return passed(
            f"too little traffic to judge ({mean:.1f} ops/s per primary on average, "
            f"under {floor:g})",
            **observed,
        )
    if over:
        hot = "; ".join(f"{name} {rate:,.0f} ops/s ({rate / mean:.1f}x)" for name, rate in over)
        return warned(
            f"hot shard: {hot} against a mean of {mean:,.0f} ops/s per primary: a hot key "
            "or a hash tag sends most traffic to one node (cachediag bigkeys, "
            "redis-cli --hotkeys)",
            **observed,
        )
    return passed(
        f"traffic within {limit:g}x of the mean ({mean:,.0f} ops/s per primary)", **observed
    )


# What is compared across nodes: the settings the checklist judges, and the version.
DRIFT_CONFIG = ("maxmemory", "maxmemory-policy", "tcp-backlog", "appendonly", "save")


def _settings(node: Facts) -> dict[str, str]:
    values = dict((node.get("config") or {}).get("values") or {})
    settings = {name: values[name] for name in DRIFT_CONFIG if name in values}
    version = section(node, "server").get("redis_version")
    if version is not None:
        settings["version"] = str(version)
    maxclients = section(node, "clients").get("maxclients")
    if maxclients is not None:
        settings["maxclients"] = str(maxclients)
    return settings


def _drift(nodes: list[Facts], settings_of: Callable[[Facts], dict[str, str]]) -> dict[str, Any]:
    """Each setting that differs: {setting: {value: [node addresses]}}."""
    by_setting: dict[str, dict[str, list[str]]] = {}
    for node in nodes:
        for name, value in settings_of(node).items():
            by_setting.setdefault(name, {}).setdefault(value, []).append(node["address"])
    return {name: values for name, values in by_setting.items() if len(values) > 1}


@rule("redis.config_drift", system=True)
def config_drift(system: Facts, th: Thresholds) -> Outcome:
    none = _none_up(system)
    if none:
        return none
    nodes = up_nodes(system)
    unreadable = [
        node["address"] for node in nodes if not (node.get("config") or {}).get("available")
    ]
    drift = _drift(nodes, _settings)
    observed = {"differences": drift, "config_unreadable": unreadable, "nodes": len(nodes)}
    if drift:
        parts = []
        for name, values in sorted(drift.items()):
            # The odd ones out named: the value most nodes share is the baseline.
            ranked = sorted(values.items(), key=lambda item: (-len(item[1]), item[0]))
            common, rest = ranked[0], ranked[1:]
            odd = "; ".join(f"{value!r} on {_names(addresses)}" for value, addresses in rest)
            parts.append(f"{name} {common[0]!r} on {plural(len(common[1]), 'node')}, {odd}")
        return warned(
            "settings differ across nodes: " + " · ".join(parts) + " (a failover or a "
            "resharding moves data to a node that behaves differently)",
            **observed,
        )
    if unreadable and len(unreadable) == len(nodes):
        return skipped("not measured: CONFIG GET is refused on every node", **observed)
    compared = ", ".join((*DRIFT_CONFIG, "version"))
    return passed(
        f"the same {compared} on all {plural(len(nodes), 'node')}"
        + (f" (CONFIG unreadable on {_names(unreadable)})" if unreadable else ""),
        **observed,
    )
