"""`check` over a real Redis Cluster (3 primaries, 3 replicas on loopback): a URL naming
any node finds every node, each per-node result names its node, the cluster checks judge
the whole; a drift and an open slot planted on the running cluster are caught."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema

import cachediag
from cachediag.backends import expand
from cachediag.probes.collect import collect_facts
from cachediag.targets.parse import parse_redis

SCHEMAS = Path(cachediag.__file__).parent / "schemas"
CLUSTER_CHECKS = [
    "--only",
    "redis.cluster_*",
    "--only",
    "redis.config_drift",
    "--only",
    "redis.running",
    "--window",
    "0.5",
]


def _check(cachediag: Any, url: str, *extra: str) -> dict[str, Any]:
    run = cachediag("check", "--json", "--redis", url, *CLUSTER_CHECKS, *extra)
    assert run.code in (0, 1), run.err
    document: dict[str, Any] = run.json()
    jsonschema.validate(document, json.loads((SCHEMAS / "check-v1.json").read_text()))
    return document


def _system(cluster: Any) -> str:
    return f"redis-cluster://127.0.0.1:{cluster.seed.port}"


def test_any_node_finds_the_whole_cluster(cachediag: Any, redis_cluster: Any) -> None:
    replica = next(n for n in redis_cluster.nodes if redis_cluster.role_of(n) == "slave")
    document = _check(cachediag, replica.url)
    node_names = {f"redis://127.0.0.1:{n.port}/0" for n in redis_cluster.nodes}
    running = [r for r in document["results"] if r["id"] == "redis.running"]
    assert {r["target"] for r in running} == node_names
    system = f"redis-cluster://127.0.0.1:{replica.port}"
    entry = next(t for t in document["targets"] if t["name"] == system)
    assert set(entry["nodes"]) == node_names
    by_id = {r["id"]: r for r in document["results"] if r["target"] == system}
    assert by_id["redis.cluster_state"]["status"] == "pass", by_id["redis.cluster_state"]
    assert by_id["redis.cluster_balance"]["status"] == "pass"
    assert sum(by_id["redis.cluster_balance"]["observed"]["keys"].values()) == 30_000
    assert by_id["redis.config_drift"]["status"] == "pass"
    # Loopback: every node on one host, so the replicas guard against nothing but a
    # process dying; said as a warning that names the host.
    assert by_id["redis.cluster_replicas"]["status"] == "warn"
    assert "127.0.0.1" in by_id["redis.cluster_replicas"]["summary"]


def test_config_drift_on_one_node_is_named(cachediag: Any, redis_cluster: Any) -> None:
    odd = redis_cluster.nodes[4]
    odd.cli("CONFIG", "SET", "maxmemory-policy", "allkeys-lru")
    try:
        document = _check(cachediag, redis_cluster.seed.url)
    finally:
        odd.cli("CONFIG", "SET", "maxmemory-policy", "noeviction")
    drift = next(
        r
        for r in document["results"]
        if r["id"] == "redis.config_drift" and r["target"] == _system(redis_cluster)
    )
    assert drift["status"] == "warn"
    assert f"127.0.0.1:{odd.port}" in drift["summary"] and "allkeys-lru" in drift["summary"]


def test_an_open_slot_is_a_resharding_left_half_done(cachediag: Any, redis_cluster: Any) -> None:
    source, target = redis_cluster.nodes[0], redis_cluster.nodes[1]
    target_id = target.cli("CLUSTER", "MYID").strip()
    source_id = source.cli("CLUSTER", "MYID").strip()
    slot = "0"  # served by the first primary: `--cluster create` gives it 0-5460
    source.cli("CLUSTER", "SETSLOT", slot, "MIGRATING", target_id)
    target.cli("CLUSTER", "SETSLOT", slot, "IMPORTING", source_id)
    try:
        document = _check(cachediag, redis_cluster.seed.url)
    finally:
        source.cli("CLUSTER", "SETSLOT", slot, "STABLE")
        target.cli("CLUSTER", "SETSLOT", slot, "STABLE")
    state = next(
        r
        for r in document["results"]
        if r["id"] == "redis.cluster_state" and r["target"] == _system(redis_cluster)
    )
    assert state["status"] == "warn", state
    assert state["observed"]["open_slots"] == [0]


def test_the_cluster_facts_validate(redis_cluster: Any) -> None:
    nodes = expand([parse_redis(redis_cluster.seed.url, "flag")], 2.0)
    assert len(nodes) == 6 and [n.role for n in nodes[:3]] == ["primary"] * 3
    facts = collect_facts(nodes, 2.0, sample_keys=10, host=False)
    jsonschema.validate(facts, json.loads((SCHEMAS / "facts-v1.json").read_text()))
    assert all(t["cluster"]["info"]["cluster_state"] == "ok" for t in facts["targets"])
    assert {t["system"]["name"] for t in facts["targets"]} == {_system(redis_cluster)}


def test_replicas_key_samples_read_their_own_keys(redis_cluster: Any) -> None:
    nodes = expand([parse_redis(redis_cluster.seed.url, "flag")], 2.0)
    facts = collect_facts(nodes, 2.0, sample_keys=20, host=False)
    replicas = [t for t in facts["targets"] if t["system"]["role"] == "replica"]
    assert len(replicas) == 3
    for target in replicas:  # READONLY: no MOVED for every TYPE
        assert target["sample"]["error"] is None and len(target["sample"]["keys"]) == 20


def test_an_inventory_name_names_the_cluster(
    cachediag: Any, redis_cluster: Any, tmp_path: Path
) -> None:
    config = tmp_path / "cachediag.toml"
    config.write_text(
        f'[[targets]]\nname = "sessions"\nurl = "redis://127.0.0.1:{redis_cluster.seed.port}"\n'
    )
    config.chmod(0o600)
    run = cachediag(
        "check", "--json", "--config", str(config), "--only", "redis.cluster_state", "--window", "0"
    )
    assert run.code == 0, run.err
    (state,) = run.json()["results"]
    assert state["target"] == "sessions" and state["status"] == "pass"


def test_latency_and_watch_show_every_node(cachediag: Any, redis_cluster: Any) -> None:
    names = {f"redis://127.0.0.1:{n.port}/0" for n in redis_cluster.nodes}
    latency = cachediag("latency", "--redis", redis_cluster.seed.url, "--samples", "5", "--json")
    assert latency.code == 0, latency.err
    assert {row["target"] for row in latency.json()["targets"]} == names
    watch = cachediag(
        "watch", "--redis", redis_cluster.seed.url, "--count", "1", "--interval", "0.2", "--json"
    )
    assert watch.code == 0, watch.err
    interval = json.loads(watch.out.splitlines()[0])
    assert interval["type"] == "interval"
    assert {row["target"] for row in interval["targets"]} == names
