"""The whole checklist judged over facts recorded from real servers (no server needed).

tests/data/recorded_noeviction_facts.json was recorded by `collect_facts` against a
redis-server with `maxmemory-policy noeviction`, 30 cache-kit entries without TTL, one
non-envelope value, a timestamped key and 150 misses, and a `memcached -M` with 10
entries without expiry and 150 misses.
"""

from __future__ import annotations

import json
from pathlib import Path

from cachediag.checks.checklist import load_checklist
from cachediag.checks.evaluate import evaluate
from cachediag.render import json_format, table

FACTS = json.loads(
    (Path(__file__).resolve().parents[2] / "data" / "recorded_noeviction_facts.json").read_text()
)


def statuses() -> dict[tuple[str, str], str]:
    report = evaluate(load_checklist(), FACTS)
    return {(r.id, r.target.split("://")[0]): r.status for r in report.results}


def test_recorded_facts_verdicts() -> None:
    got = statuses()
    expected = {
        ("redis.running", "redis"): "pass",
        ("redis.eviction_policy", "redis"): "fail",
        ("redis.memory", "redis"): "warn",
        ("redis.hit_rate", "redis"): "fail",
        ("redis.ttl", "redis"): "fail",
        ("redis.serialization", "redis"): "fail",
        ("redis.key_determinism", "redis"): "warn",
        ("memcached.running", "memcached"): "pass",
        ("memcached.eviction_policy", "memcached"): "fail",
        ("memcached.hit_rate", "memcached"): "fail",
        ("memcached.ttl", "memcached"): "fail",
    }
    assert {key: got[key] for key in expected} == expected


def test_every_check_has_a_result_and_renders() -> None:
    report = evaluate(load_checklist(), FACTS)
    assert {r.id for r in report.results} == set(load_checklist().ids)
    assert report.exit_code == 1
    assert json.loads(json_format.render(report))["summary"]["fail"] >= 6
    text = table.render(report, terminal=False)
    assert "redis.eviction_policy" in text and "Cache Issues" in text and "System Issues" in text
