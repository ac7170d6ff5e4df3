"""Cache and network rules judged over recorded facts, at their thresholds."""

from __future__ import annotations

import pytest
from facts_builder import NOW, down, key, memcached_facts, redis_facts

from cachediag.checks.checklist import load_checklist
from cachediag.checks.registry import RULES

CHECKLIST = {spec.id: spec for spec in load_checklist().checks}
CKIT_V1 = b"CKIT\x01payload"
CKIT_V2 = b"CKIT\x02payload"


def judge(check_id: str, facts: dict) -> tuple[str, str, dict]:
    outcome = RULES[check_id](facts, CHECKLIST[check_id].thresholds)
    return outcome.status, outcome.summary, outcome.observed


def hits(h: int, m: int) -> dict:
    return {"info": {"stats": {"keyspace_hits": h, "keyspace_misses": m}}}


@pytest.mark.parametrize(
    ("h", "m", "status"),
    [(125, 875, "fail"), (25, 75, "warn"), (30, 70, "pass"), (19, 81, "fail"), (5, 50, "skip")],
)
def test_redis_hit_rate(h: int, m: int, status: str) -> None:
    assert judge("redis.hit_rate", redis_facts(**hits(h, m)))[0] == status


def test_hit_rate_summary_and_observed() -> None:
    _, summary, observed = judge("redis.hit_rate", redis_facts(**hits(125, 875)))
    assert summary == "hit rate 12.5% (125 hits, 875 misses)"
    assert observed == {"hits": 125, "misses": 875, "hit_rate": 0.125}


def test_memcached_hit_rate() -> None:
    facts = memcached_facts(stats={"get_hits": 10, "get_misses": 990})
    assert judge("memcached.hit_rate", facts)[0] == "fail"


@pytest.mark.parametrize("policy", ["noeviction", "volatile-lru"])
@pytest.mark.parametrize(
    ("used_mb", "status"), [(50, "pass"), (80, "warn"), (94, "warn"), (95, "fail")]
)
def test_redis_memory(used_mb: int, status: str, policy: str) -> None:
    # Graded by the limit where the limit is where writes fail (an allkeys-* cache is
    # judged by its evictions instead: tests/test_incident_rules.py).
    facts = redis_facts(
        info={"memory": {"used_memory": used_mb * 2**20, "maxmemory_policy": policy}}
    )
    assert judge("redis.memory", facts)[0] == status


def test_redis_without_maxmemory_warns() -> None:
    status, summary, _ = judge("redis.memory", redis_facts(info={"memory": {"maxmemory": 0}}))
    assert status == "warn" and "no maxmemory" in summary


def test_memcached_memory() -> None:
    facts = memcached_facts(stats={"bytes": 63 * 2**20})
    assert judge("memcached.memory", facts)[0] == "fail"


@pytest.mark.parametrize(
    ("keys", "expires", "status"),
    [(100, 95, "pass"), (100, 85, "warn"), (100, 40, "fail"), (0, 0, "pass")],
)
def test_redis_ttl(keys: int, expires: int, status: str) -> None:
    facts = redis_facts(info={"keyspace": {"db0": {"keys": keys, "expires": expires}}})
    assert judge("redis.ttl", facts)[0] == status


def test_ttl_names_namespaces_without_expiry() -> None:
    sample = [key(f"user:{i}", ttl_ms=-1) for i in range(5)] + [key("product:1")]
    facts = redis_facts(
        info={"keyspace": {"db0": {"keys": 6, "expires": 1}}}, sample={"keys": sample}
    )
    status, summary, observed = judge("redis.ttl", facts)
    assert status == "fail"
    assert observed["namespaces_without_ttl"] == ["user:* (5)"]
    assert "user:*" in summary


def test_memcached_ttl_from_sample() -> None:
    sample = [
        {"key": f"a:{i}", "exp": -1 if i < 3 else 9_999_999_999, "size": 70} for i in range(10)
    ]
    assert judge("memcached.ttl", memcached_facts(sample={"keys": sample}))[0] == "warn"
    crawler_off = memcached_facts(sample={"keys": [], "error": "the LRU crawler is disabled"})
    status, summary, _ = judge("memcached.ttl", crawler_off)
    assert status == "skip" and "crawler is disabled" in summary


def test_serialization_fails_on_garbage_among_envelopes() -> None:
    sample = [
        key("user:1", head=CKIT_V1),
        key("user:2", head=CKIT_V2),
        key("user:3", head=b"garbage!"),
        key("user:4", head=b"CKIT"),
    ]
    status, summary, observed = judge("redis.serialization", redis_facts(sample={"keys": sample}))
    assert status == "fail"
    assert (
        "user:*" in summary and "invalid magic header" in summary and "cannot be decoded" in summary
    )
    assert observed["namespaces"]["user:*"] == {"valid": 2, "invalid_magic": 1, "undecodable": 1}


def test_serialization_pass_skip() -> None:
    clean = [key("user:1", head=CKIT_V1), key("other:1", head=b"json")]
    assert judge("redis.serialization", redis_facts(sample={"keys": clean}))[0] == "pass"
    plain = [key("user:1", head=b"{}")]
    assert judge("redis.serialization", redis_facts(sample={"keys": plain}))[0] == "skip"
    assert judge("redis.serialization", redis_facts())[0] == "skip"  # empty sample


def test_key_determinism() -> None:
    sample = [key(f"user:{i}:{int(NOW) - i}") for i in range(3)] + [key("product:1")]
    status, summary, observed = judge("redis.key_determinism", redis_facts(sample={"keys": sample}))
    assert status == "warn"
    assert "user:*:*" in summary and "epoch seconds" in summary
    assert observed["namespaces"] == {"user:*:*": 3}
    assert (
        judge("redis.key_determinism", redis_facts(sample={"keys": [key("user:1")]}))[0] == "pass"
    )


def test_eviction_policy() -> None:
    noeviction = redis_facts(info={"memory": {"maxmemory_policy": "noeviction"}})
    assert judge("redis.eviction_policy", noeviction)[0] == "fail"
    volatile = redis_facts(
        info={
            "memory": {"maxmemory_policy": "volatile-lru"},
            "keyspace": {"db0": {"keys": 100, "expires": 10}},
        }
    )
    assert judge("redis.eviction_policy", volatile)[0] == "warn"
    assert judge("redis.eviction_policy", redis_facts())[0] == "pass"
    minus_m = memcached_facts(settings={"evictions": "off"})
    assert judge("memcached.eviction_policy", minus_m)[0] == "fail"
    assert judge("memcached.eviction_policy", memcached_facts())[0] == "pass"


def test_evictions_rate() -> None:
    status, _, observed = judge(
        "redis.evictions", redis_facts(info={"stats": {"evicted_keys": 240}})
    )
    assert status == "warn" and observed["per_hour"] == 10.0
    assert judge("memcached.evictions", memcached_facts())[0] == "pass"


def test_entry_size() -> None:
    big = [key("user:1", memory=600), key("user:2", memory=500)]
    assert judge("redis.entry_size", redis_facts(sample={"keys": big}))[0] == "warn"
    huge = [key("blob:1", memory=2 * 2**20)] + [key(f"k:{i}", memory=1) for i in range(10_000)]
    status, summary, _ = judge("redis.entry_size", redis_facts(sample={"keys": huge}))
    assert status == "warn" and "blob:1" in summary
    small = [key("user:1", memory=100)]
    assert judge("redis.entry_size", redis_facts(sample={"keys": small}))[0] == "pass"


def test_fragmentation() -> None:
    high = redis_facts(
        info={
            "memory": {
                "mem_fragmentation_ratio": 2.0,
                "used_memory": 100 * 2**20,
                "used_memory_rss": 200 * 2**20,
            }
        }
    )
    assert judge("redis.fragmentation", high)[0] == "warn"
    swap = redis_facts(
        info={
            "memory": {
                "mem_fragmentation_ratio": 0.5,
                "used_memory": 100 * 2**20,
                "used_memory_rss": 50 * 2**20,
            }
        }
    )
    assert judge("redis.fragmentation", swap)[0] == "fail"
    tiny = redis_facts(
        info={
            "memory": {
                "mem_fragmentation_ratio": 6.0,
                "used_memory": 2**20,
                "used_memory_rss": 7 * 2**20,
            }
        }
    )
    assert judge("redis.fragmentation", tiny)[0] == "pass"


def test_restarts() -> None:
    assert (
        judge("redis.restarts", redis_facts(info={"server": {"uptime_in_seconds": 60}}))[0]
        == "warn"
    )
    flushed = redis_facts(info={"commandstats": {"cmdstat_flushall": {"calls": 2}}})
    status, summary, _ = judge("redis.restarts", flushed)
    assert status == "warn" and "flushed 2 times" in summary
    assert judge("redis.restarts", redis_facts())[0] == "pass"
    assert judge("memcached.restarts", memcached_facts(stats={"cmd_flush": 1}))[0] == "warn"


def test_pool() -> None:
    assert (
        judge("redis.pool", redis_facts(info={"clients": {"connected_clients": 8000}}))[0] == "warn"
    )
    assert (
        judge("redis.pool", redis_facts(info={"stats": {"rejected_connections": 3}}))[0] == "warn"
    )
    assert judge("redis.pool", redis_facts())[0] == "pass"
    assert judge("memcached.pool", memcached_facts(stats={"listen_disabled_num": 2}))[0] == "fail"


@pytest.mark.parametrize(("p99", "status"), [(9_000, "pass"), (20_000, "warn"), (150_000, "fail")])
def test_latency(p99: int, status: str) -> None:
    facts = redis_facts(ping={"samples_us": [100] * 99 + [p99]})
    assert judge("redis.latency", facts)[0] == status


@pytest.mark.parametrize(
    ("error_kind", "running", "connectivity", "firewall", "reachable"),
    [
        ("refused", "fail", "fail", "pass", "fail"),
        ("timeout", "fail", "fail", "fail", "fail"),
        ("dns", "fail", "fail", "skip", "fail"),  # no TCP attempt: nothing to say of firewalls
        ("auth", "fail", "pass", "pass", "pass"),
        ("protocol", "fail", "pass", "pass", "pass"),
    ],
)
def test_down_targets(
    error_kind: str, running: str, connectivity: str, firewall: str, reachable: str
) -> None:
    facts = down("redis", error_kind, f"{error_kind} happened")
    assert judge("redis.running", facts)[0] == running
    assert error_kind in judge("redis.running", facts)[1]
    assert judge("redis.connectivity", facts)[0] == connectivity
    assert judge("redis.firewall", facts)[0] == firewall
    assert judge("redis.reachable", facts)[0] == reachable


def test_timeout_is_named_a_firewall_drop() -> None:
    facts = down("memcached", "timeout", "connection timed out after 2s")
    assert "firewall" in judge("memcached.connectivity", facts)[1]


def test_default_target_with_nothing_listening_is_skipped() -> None:
    facts = down("redis", "refused", "refused", default=True)
    for check_id in ("redis.running", "redis.connectivity", "redis.firewall", "redis.reachable"):
        status, summary, _ = judge(check_id, facts)
        assert status == "skip"
        assert summary == "nothing listening at the default address; name one with --redis"


def test_impossible_keyspace_counts_are_an_error() -> None:
    facts = redis_facts(info={"keyspace": {"db0": {"keys": -1, "expires": 5}}})
    assert judge("redis.ttl", facts)[0] == "error"
