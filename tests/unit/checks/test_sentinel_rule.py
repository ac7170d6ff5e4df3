"""redis.sentinel over a Sentinel set's facts: agreement, quorum, failover, the primary."""

from __future__ import annotations

import copy
from typing import Any

from facts_builder import redis_facts

from cachediag.checks.checklist import load_checklist
from cachediag.checks.evaluate import evaluate
from cachediag.checks.registry import RULES

NAME = "redis+sentinel://10.0.0.1:26379,10.0.0.2:26379,10.0.0.3:26379/mymaster"
OK = "OK 3 usable Sentinels. Quorum and failover authorization can be reached"


def answer(address: str, primary: str = "10.0.1.1:6379", **extra: Any) -> dict[str, Any]:
    return {
        "address": address,
        "reachable": True,
        "error": None,
        "primary": primary,
        "flags": "master",
        "failover_in_progress": False,
        "other_sentinels": 2,
        "quorum": 2,
        "replicas": [{"address": "10.0.1.2:6379", "flags": "slave", "link": "ok"}],
        "ckquorum": {"ok": True, "message": OK},
        **extra,
    }


def system(*answers: dict[str, Any], role: str = "master") -> dict[str, Any]:
    primary = redis_facts(
        target="redis://10.0.1.1:6379/0",
        address="10.0.1.1:6379",
        system={"name": NAME, "role": "primary", "node_id": None},
    )
    primary["info"]["replication"] = {"role": role}
    return {
        "name": NAME,
        "kind": "redis",
        "master": "mymaster",
        "nodes": [primary],
        "sentinels": list(answers),
    }


def judge(facts: dict[str, Any]) -> Any:
    return RULES["redis.sentinel"](facts, {})


def three() -> list[dict[str, Any]]:
    return [answer(f"10.0.0.{i}:26379") for i in (1, 2, 3)]


def test_agreeing_sentinels_pass() -> None:
    outcome = judge(system(*three()))
    assert (
        outcome.status == "pass" and "3 sentinels agree on primary 10.0.1.1:6379" in outcome.summary
    )


def test_split_brain_fails_naming_both_sides() -> None:
    answers = three()
    answers[2] = answer("10.0.0.3:26379", primary="10.0.1.2:6379")
    outcome = judge(system(*answers))
    assert outcome.status == "fail" and "split brain" in outcome.summary
    assert "10.0.1.2:6379 by 10.0.0.3:26379" in outcome.summary


def test_no_quorum_fails() -> None:
    answers = [
        answer(a["address"], ckquorum={"ok": False, "message": "NOQUORUM 1 usable Sentinels"})
        for a in three()
    ]
    outcome = judge(system(*answers))
    assert outcome.status == "fail" and "NOQUORUM" in outcome.summary


def test_a_failover_in_progress_warns() -> None:
    answers = three()
    answers[0] = answer("10.0.0.1:26379", failover_in_progress=True)
    outcome = judge(system(*answers))
    assert outcome.status == "warn" and "failover is in progress" in outcome.summary


def test_an_unreachable_sentinel_warns_and_none_fails() -> None:
    answers = three()
    answers[1] = {"address": "10.0.0.2:26379", "reachable": False, "error": "refused"}
    outcome = judge(system(*answers))
    assert outcome.status == "warn" and "10.0.0.2:26379 (refused)" in outcome.summary
    gone = [{"address": a["address"], "reachable": False, "error": "timed out"} for a in three()]
    assert judge(system(*gone)).status == "fail"


def test_a_primary_that_says_it_is_a_replica_fails() -> None:
    outcome = judge(system(*three(), role="slave"))
    assert outcome.status == "fail" and "says it is a slave" in outcome.summary


def test_evaluate_joins_the_sentinels_to_their_nodes() -> None:
    facts = system(*three())
    document = {
        "targets": facts["nodes"],
        "collected_at": 0,
        "systems": [
            {
                "name": NAME,
                "kind": "redis-sentinel",
                "master": "mymaster",
                "sentinels": copy.deepcopy(facts["sentinels"]),
            }
        ],
    }
    report = evaluate(load_checklist(), document)
    (result,) = [r for r in report.results if r.id == "redis.sentinel"]
    assert result.target == NAME and result.status == "pass"
    # A cluster (no sentinels in its facts) is no Sentinel set.
    cluster = {"targets": facts["nodes"], "collected_at": 0}
    (result,) = [r for r in evaluate(load_checklist(), cluster).results if r.id == "redis.sentinel"]
    assert result.status == "skip"
