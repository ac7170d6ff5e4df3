"""The cluster rules over facts recorded from a real 3-primary, 3-replica cluster
(tests/data/recorded_cluster_facts.json, made by tests/data/record_cluster_facts.py), and
over copies of them with one fault planted each."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from cachediag.checks.checklist import load_checklist
from cachediag.checks.evaluate import evaluate, systems_of
from cachediag.checks.registry import RULES

FACTS = json.loads(
    (Path(__file__).resolve().parents[2] / "data" / "recorded_cluster_facts.json").read_text()
)
SYSTEM = "redis-cluster://127.0.0.1:7000"
CLUSTER_IDS = (
    "redis.cluster_state",
    "redis.cluster_replicas",
    "redis.cluster_balance",
    "redis.cluster_hot_shard",
    "redis.config_drift",
)


def facts() -> dict[str, Any]:
    return copy.deepcopy(FACTS)


def judge(document: dict[str, Any], check_id: str) -> Any:
    spec = next(s for s in load_checklist().checks if s.id == check_id)
    return RULES[check_id](systems_of(document["targets"])[SYSTEM], spec.thresholds)


def node(document: dict[str, Any], port: int) -> dict[str, Any]:
    return next(t for t in document["targets"] if t["address"] == f"127.0.0.1:{port}")


def test_the_recorded_cluster_is_one_system_of_six_nodes() -> None:
    systems = systems_of(FACTS["targets"])
    assert list(systems) == [SYSTEM]
    assert len(systems[SYSTEM]["nodes"]) == 6
    report = evaluate(load_checklist(), FACTS)
    by_target = {(r.id, r.target): r.status for r in report.results}
    assert by_target[("redis.cluster_state", SYSTEM)] == "pass"
    assert by_target[("redis.cluster_balance", SYSTEM)] == "pass"
    assert by_target[("redis.config_drift", SYSTEM)] == "pass"
    # On loopback every node shares one host: the replicas exist but protect nothing.
    replicas = judge(FACTS, "redis.cluster_replicas")
    assert replicas.status == "warn" and "one host 127.0.0.1" in replicas.summary
    # Each per-node check names its node; each cluster check the cluster, once.
    assert sum(1 for r in report.results if r.id == "redis.running") == 6
    assert sum(1 for r in report.results if r.id == "redis.cluster_state") == 1
    system_entry = next(t for t in report.targets if t["name"] == SYSTEM)
    assert len(system_entry["nodes"]) == 6 and system_entry["status"] == "up"


def test_a_node_down_fails_the_cluster_state_naming_it() -> None:
    document = facts()
    dead = node(document, 7001)
    dead["status"] = "down"
    outcome = judge(document, "redis.cluster_state")
    assert outcome.status == "fail"
    assert "127.0.0.1:7001" in outcome.summary


def test_unassigned_slots_and_a_failed_node_fail() -> None:
    document = facts()
    for target in document["targets"]:
        target["cluster"]["info"]["cluster_slots_assigned"] = 10923
        target["cluster"]["info"]["cluster_state"] = "fail"
        for entry in target["cluster"]["nodes"]:
            if entry["address"] == "127.0.0.1:7002":
                entry["health"] = "failed"
    outcome = judge(document, "redis.cluster_state")
    assert outcome.status == "fail"
    assert "10,923 of 16,384 slots" in outcome.summary
    assert "127.0.0.1:7002 (failed)" in outcome.summary


def test_an_open_slot_warns() -> None:
    document = facts()
    seed = node(document, 7000)
    myself = next(e for e in seed["cluster"]["nodes"] if "myself" in e["flags"])
    myself["migrating"] = [42]
    outcome = judge(document, "redis.cluster_state")
    assert outcome.status == "warn"
    assert "42" in outcome.summary and outcome.observed["open_slots"] == [42]


def test_a_primary_without_a_replica_warns() -> None:
    document = facts()
    for target in document["targets"]:
        for entry in target["cluster"]["nodes"]:
            if (
                entry["role"] == "replica"
                and entry["primary_id"] == node(document, 7000)["system"]["node_id"]
            ):
                entry["health"] = "failed"
    outcome = judge(document, "redis.cluster_replicas")
    assert outcome.status == "warn"
    assert outcome.observed["without_replica"] == ["127.0.0.1:7000"]


def test_replicas_on_other_hosts_pass() -> None:
    document = facts()
    for target in document["targets"]:
        for index, entry in enumerate(target["cluster"]["nodes"]):
            entry["address"] = f"10.0.0.{index + 1}:6379"
    assert judge(document, "redis.cluster_replicas").status == "pass"


def test_an_unbalanced_primary_warns() -> None:
    document = facts()
    heavy = node(document, 7002)
    heavy["dbsize"] = 10 * heavy["dbsize"]
    outcome = judge(document, "redis.cluster_balance")
    assert outcome.status == "warn"
    assert "127.0.0.1:7002 holds" in outcome.summary


def _ops(document: dict[str, Any], port: int, per_second: float) -> None:
    target = node(document, port)
    seconds = target["window"]["seconds"]
    before = target["window"]["first"]["stats"]["total_commands_processed"]
    target["info"]["stats"]["total_commands_processed"] = before + int(per_second * seconds)


def test_a_hot_shard_warns_and_a_quiet_cluster_passes() -> None:
    quiet = judge(FACTS, "redis.cluster_hot_shard")
    assert quiet.status == "pass" and "too little traffic" in quiet.summary
    document = facts()
    for port, rate in ((7000, 100), (7001, 100), (7002, 2000)):
        _ops(document, port, rate)
    outcome = judge(document, "redis.cluster_hot_shard")
    assert outcome.status == "warn"
    assert "127.0.0.1:7002" in outcome.summary
    assert outcome.observed["ops_per_second"]["127.0.0.1:7002"] == pytest.approx(2000, rel=0.01)


def test_config_drift_names_the_odd_node() -> None:
    document = facts()
    node(document, 7004)["config"]["values"]["maxmemory-policy"] = "allkeys-lru"
    outcome = judge(document, "redis.config_drift")
    assert outcome.status == "warn"
    assert "maxmemory-policy" in outcome.summary and "127.0.0.1:7004" in outcome.summary
    assert outcome.observed["differences"]["maxmemory-policy"]["allkeys-lru"] == ["127.0.0.1:7004"]


def test_a_lone_server_is_skipped_by_the_cluster_checks() -> None:
    document = facts()
    lone = copy.deepcopy(document["targets"][0])
    lone.pop("system")
    lone["target"] = "redis://127.0.0.1:6379/0"
    report = evaluate(load_checklist(), {**document, "targets": [lone]})
    results = [r for r in report.results if r.id in CLUSTER_IDS]
    assert len(results) == len(CLUSTER_IDS)
    assert all(r.status == "skip" and "not part of a cluster" in r.summary for r in results)


def test_a_cluster_with_no_node_up_is_skipped() -> None:
    document = facts()
    for target in document["targets"]:
        target["status"] = "down"
    for check_id in CLUSTER_IDS:
        assert judge(document, check_id).status == "skip"
