"""Several nodes' key statistics merged: the same figures as one scan of all their keys."""

from __future__ import annotations

from cachediag.keyspace.fleet import Group, groups, merged_scan, share
from cachediag.keyspace.keystats import KeyStats
from cachediag.scan.redis import KeyInfo
from cachediag.targets.parse import parse_redis


def _infos(prefix: str, sizes: list[int], kind: str = "string") -> list[KeyInfo]:
    return [
        KeyInfo(
            f"{prefix}:{i}".encode(), kind, -1 if i % 2 else 5000, size, size // 2, None, prefix
        )
        for i, size in enumerate(sizes)
    ]


def test_merged_stats_equal_one_scan_of_everything() -> None:
    first, second = _infos("user", [100, 300, 50]), _infos("cart", [1000, 20], "hash")
    one = KeyStats(top=3)
    one.add_redis(first + second)
    a, b = KeyStats(top=3), KeyStats(top=3)
    a.add_redis(first)
    b.add_redis(second)
    merged = KeyStats(top=3)
    merged.merge(a, "10.0.0.1:6379")
    merged.merge(b, "10.0.0.2:6379")
    whole, parts = one.to_dict(), merged.to_dict()
    for name in ("totals", "namespaces", "histogram", "findings"):
        assert parts[name] == whole[name], name
    assert [e["key"] for e in parts["top"]] == [e["key"] for e in whole["top"]]
    assert [e["node"] for e in parts["top"]] == ["10.0.0.2:6379", "10.0.0.1:6379", "10.0.0.1:6379"]
    types = {row["type"]: row for row in parts["types"]}
    assert types["hash"]["biggest"]["key"] == "cart:0"
    assert types["hash"]["biggest"]["node"] == "10.0.0.2:6379"
    assert types["string"]["keys"] == 3 and types["string"]["bytes"] == 450


def test_groups_keep_a_system_together_and_leave_replicas_out() -> None:
    import dataclasses

    lone = parse_redis("redis://127.0.0.1:6379/0", "flag")
    node = parse_redis("redis://127.0.0.1:7000/0", "flag")
    system = "redis-cluster://127.0.0.1:7000"
    primary = dataclasses.replace(node, system=system, role="primary")
    replica = dataclasses.replace(
        node, name="redis://127.0.0.1:7001/0", port=7001, system=system, role="replica"
    )
    found = groups([primary, lone, replica])
    assert [g.system for g in found] == [system, None]
    assert found[0].nodes == [primary] and found[0].skipped == 1
    assert found[0].target.name == system
    assert groups([primary, replica], replicas=True)[0].nodes == [primary, replica]
    assert Group(None, [lone]).target is lone


def test_budgets_and_scan_facts_over_nodes() -> None:
    assert share(100_000, 3) == 33_334 and share(0, 3) == 0 and share(10, 1) == 10
    merged = merged_scan(
        [
            {"complete": True, "stop_reason": None, "elapsed_s": 1.5, "scanned": 10, "dbsize": 10},
            {
                "complete": False,
                "stop_reason": "max-keys",
                "elapsed_s": 0.5,
                "scanned": 5,
                "dbsize": 9,
            },
        ]
    )
    assert merged["complete"] is False and merged["stop_reason"] == "max-keys"
    assert merged["elapsed_s"] == 1.5 and merged["scanned"] == 15 and merged["dbsize"] == 19
