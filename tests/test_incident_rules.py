"""Verdicts of issue 10 over recorded facts: saturated servers (case 1) and wording that
does not mislead (case 11)."""

from __future__ import annotations

import pytest
from facts_builder import NOW, key, memcached_facts, redis_facts, saturated

from cachediag.checks.checklist import load_checklist
from cachediag.checks.evaluate import evaluate
from cachediag.checks.facts_view import human_bytes, plural
from cachediag.checks.judge import Judge
from cachediag.checks.registry import RULES

CHECKLIST = load_checklist()
SPECS = {spec.id: spec for spec in CHECKLIST.checks}
MIB = 2**20


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


# -- case 11: wording ------------------------------------------------------------------------


def test_evictions_are_not_extrapolated_from_a_minute_of_uptime() -> None:
    facts = redis_facts(info={"server": {"uptime_in_seconds": 62}, "stats": {"evicted_keys": 607}})
    status, summary, observed = judge("redis.evictions", facts)
    assert status == "warn" and "/hour" not in summary
    assert summary.startswith("607 keys evicted in the 62 s since start: the cache is full")
    assert "CONFIG RESETSTAT" in summary
    assert observed["per_hour"] is None
    one = redis_facts(info={"stats": {"evicted_keys": 1}})
    assert judge("redis.evictions", one)[1].startswith("1 key evicted since start (1.0/day)")


def test_a_fresh_start_is_a_cold_cache_not_one_being_cleared() -> None:
    facts = redis_facts(info={"server": {"uptime_in_seconds": 1}})
    status, summary, _ = judge("redis.restarts", facts)
    assert status == "warn" and "being cleared" not in summary
    assert summary.startswith("restarted 1 s ago: the cache is cold and warming up")
    flushed = redis_facts(info={"commandstats": {"cmdstat_flushdb": {"calls": 1}}})
    assert judge("redis.restarts", flushed)[1] == (
        "flushed 1 time since start or the last CONFIG RESETSTAT: each flush empties the cache"
    )
    memcached = memcached_facts(stats={"cmd_flush": 3, "uptime": 7_200})
    assert (
        "flushed 3 times since start or the last stats reset"
        in judge("memcached.restarts", memcached)[1]
    )


def test_counts_are_pluralized() -> None:
    assert [plural(n, "key") for n in (0, 1, 2, 1234)] == [
        "0 keys",
        "1 key",
        "2 keys",
        "1,234 keys",
    ]
    sample = [key(f"user:{int(NOW)}")]
    summary = judge("redis.key_determinism", redis_facts(sample={"keys": sample}))[1]
    assert "user:*: 1 key, e.g." in summary
    pool = redis_facts(
        info={"stats": {"rejected_connections": 1}, "clients": {"blocked_clients": 1}}
    )
    assert "1 connection rejected" in judge("redis.pool", pool)[1]
    assert "1 client blocked" in judge("redis.pool", pool)[1]


def test_sizes_are_powers_of_1024_and_say_so() -> None:
    assert [human_bytes(v) for v in (512, 1536, 50 * MIB, 3 * 2**30)] == [
        "512 B",
        "1.5 KiB",
        "50.0 MiB",
        "3.0 GiB",
    ]
