"""Verdicts of issue 10 over recorded facts: saturated servers (case 1)."""

from __future__ import annotations

import pytest
from facts_builder import NOW, redis_facts, saturated

from cachediag.checks.checklist import load_checklist
from cachediag.checks.evaluate import evaluate
from cachediag.checks.judge import Judge
from cachediag.checks.registry import RULES

CHECKLIST = load_checklist()
SPECS = {spec.id: spec for spec in CHECKLIST.checks}


def judge(check_id: str, facts: dict) -> tuple[str, str, dict]:
    outcome = RULES[check_id](facts, SPECS[check_id].thresholds)
    return outcome.status, outcome.summary, outcome.observed


def results(facts: dict) -> dict[str, dict]:
    report = evaluate(CHECKLIST, {"targets": [facts], "collected_at": NOW})
    return {
        r.id: {"status": r.status, "summary": r.summary, "remedy": r.remedy} for r in report.results
    }


# -- case 1: a server at its connection limit is up and saturated, never "restart it" ---------


@pytest.mark.parametrize(
    ("kind", "limit", "counter"),
    [
        ("redis", "maxclients", "rejected_connections"),
        ("memcached", "memcached -c", "listen_disabled_num"),
    ],
)
def test_saturated_server_is_up_and_full_not_down(kind: str, limit: str, counter: str) -> None:
    by_id = results(saturated(kind))
    running = by_id[f"{kind}.running"]
    assert running["status"] == "fail"
    assert "saturated" in running["summary"] and limit in running["summary"]
    assert "down" not in running["summary"]
    assert "Solution 2B" in running["remedy"] and counter in running["remedy"]
    assert "leak" in running["remedy"] and "Do not restart" in running["remedy"]
    assert "Start or restart" not in running["remedy"]
    pool = by_id[f"{kind}.pool"]
    assert pool["status"] == "fail"
    assert pool["summary"].startswith(f"every connection is taken ({limit} reached)")
    assert "Solution 2B" in pool["remedy"]
    for check_id in (f"{kind}.connectivity", f"{kind}.reachable", f"{kind}.firewall"):
        assert by_id[check_id]["status"] == "pass", (check_id, by_id[check_id])
    others = [
        r for check_id, r in by_id.items() if check_id.startswith(kind) and r["status"] == "skip"
    ]
    assert others  # hit rate, memory, ttl ... cannot be read
    for r in others:
        assert "connection limit" in r["summary"] and f"({limit})" in r["summary"]
        assert "target is down" not in r["summary"]


def test_saturated_summary_counts_connections_from_this_host() -> None:
    facts = saturated("redis") | {"established": 50}
    status, summary, observed = judge("redis.running", facts)
    assert status == "fail" and "50 connections to it from this host" in summary
    assert observed == {
        "cause": "saturated",
        "limit": "maxclients",
        "established_from_this_host": 50,
    }


def test_judge_picks_the_remedy_of_the_cause() -> None:
    verdict = Judge.load()("redis.running", saturated("redis"))
    assert verdict["status"] == "fail" and "Do not restart" in verdict["remedy"]
    down = Judge.load()("redis.running", {**redis_facts(), "status": "down"})
    assert down["remedy"].startswith("Start or restart Redis")
