"""Cache and network rules judged over recorded facts, at their thresholds."""

from __future__ import annotations

import pytest
from facts_builder import (
    NOW,
    down,
    key,
    memcached_facts,
    redis_facts,
    slow_entry,
    stalls,
    window,
)

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
    # No window in these facts (--window 0): the rate since start, and it says so.
    assert summary == "hit rate 12.5% since start (125 hits, 875 misses)"
    assert observed == {"hits": 125, "misses": 875, "hit_rate": 0.125, "basis": "lifetime"}


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


# -- issue 10, case 7: the hit rate over the window, without the scanners' lookups ----------


def windowed(first: tuple[int, int], now: tuple[int, int], **extra: dict) -> dict:
    """Facts whose window's first reading had `first` (hits, misses) and INFO now has `now`."""
    stats = {"keyspace_hits": first[0], "keyspace_misses": first[1]}
    return redis_facts(**window(stats, **extra), **hits(*now))


def test_hit_rate_is_judged_over_the_window() -> None:
    # A healthy morning (9,000 of 10,000), then 100 hits of 1,000 in the last 2 s.
    status, summary, observed = judge("redis.hit_rate", windowed((9_000, 1_000), (9_100, 1_900)))
    assert status == "fail"
    assert summary == (
        "hit rate 10.0% over the last 2.0 s (100 hits, 900 misses); 82.7% since start"
    )
    assert observed["basis"] == "window" and observed["hit_rate"] == 0.1
    assert observed["window"] == {"hits": 100, "misses": 900, "hit_rate": 0.1, "seconds": 2.0}
    assert observed["lifetime"]["hit_rate"] == 0.8273


@pytest.mark.parametrize(
    ("first", "now", "said"),
    [
        ((900, 100), (900, 100), "no lookups in the last 2.0 s; hit rate 90.0% since start"),
        ((890, 100), (900, 100), "only 10 lookups in the last 2.0 s (100% hits): too few; hit"),
        ((5_000, 100), (900, 100), "the counters were reset during the 2.0 s window; hit"),
    ],
)
def test_without_enough_window_the_rate_since_start_is_judged_and_said(
    first: tuple[int, int], now: tuple[int, int], said: str
) -> None:
    status, summary, observed = judge("redis.hit_rate", windowed(first, now))
    assert status == "pass" and observed["basis"] == "lifetime"
    assert summary.startswith(said), summary


def test_a_failed_first_reading_is_said() -> None:
    facts = redis_facts(window={"requested_s": 2.0, "seconds": 0.0, "first": None, "error": "x"})
    _, summary, observed = judge("redis.hit_rate", facts)
    assert summary.startswith("the window's first reading failed (x); hit rate 90.0% since start")
    assert "window" not in observed


def test_scanners_lookups_are_left_out_since_start_and_in_the_window() -> None:
    inspection = {"cmdstat_pttl": {"calls": 500}, "cmdstat_getrange": {"calls": 500}}
    facts = redis_facts(info={"stats": {"keyspace_hits": 1_300, "keyspace_misses": 700}})
    facts["info"]["commandstats"].update(inspection)
    status, summary, observed = judge("redis.hit_rate", facts)
    assert observed["hit_rate"] == 0.3 and status == "pass"
    assert observed["inspection_lookups_excluded"] == {"PTTL": 500, "GETRANGE": 500}
    assert "1,000 lookups by scanners' commands left out (GETRANGE 500, PTTL 500)" in summary
    # The same over a window: another engineer's bigkeys ran while we measured.
    first_stats = {"keyspace_hits": 300, "keyspace_misses": 200}
    during = redis_facts(
        **window(first_stats, commandstats={"cmdstat_get": {"calls": 1}}),
        info={"stats": {"keyspace_hits": 1_300, "keyspace_misses": 700}},
    )
    during["info"]["commandstats"].update(inspection)
    _, _, observed = judge("redis.hit_rate", during)
    assert observed["basis"] == "window" and observed["window"]["hits"] == 0
    # A site whose readers use these commands turns it off.
    off = RULES["redis.hit_rate"](
        facts, {**CHECKLIST["redis.hit_rate"].thresholds, "exclude_inspection_commands": False}
    )
    assert off.observed["hit_rate"] == 0.65 and "inspection_lookups_excluded" not in off.observed


def test_own_sample_is_said_even_when_too_few_lookups() -> None:
    facts = redis_facts(
        info={"stats": {"keyspace_hits": 600, "keyspace_misses": 0}, "commandstats": {}},
        sample={"own_lookups": 600},
    )
    facts["info"]["commandstats"] = {
        "cmdstat_pttl": {"calls": 300},
        "cmdstat_strlen": {"calls": 300},
    }
    status, summary, observed = judge("redis.hit_rate", facts)
    assert status == "skip"
    assert "600 more by scanners' commands left out" in summary
    assert "the key sample then added 600 lookups" in summary
    assert observed["sample_lookups_per_run"] == 600


def test_memcached_sample_note_counts_misses_too() -> None:
    facts = memcached_facts(
        stats={"get_hits": 1_000, "get_misses": 500},
        sample={"own_lookups": 100, "lookups_added": {"hits": 90, "misses": 10}},
    )
    _, summary, observed = judge("memcached.hit_rate", facts)
    assert "adds ~100 lookups (hits, and misses for items gone)" in summary
    assert observed["sample_lookups_per_run"] == 100


# -- issue 10, case 12: rejected connections now -------------------------------------------


def test_pool_fails_on_connections_rejected_in_the_window() -> None:
    facts = redis_facts(
        **window({"rejected_connections": 5}), info={"stats": {"rejected_connections": 8}}
    )
    status, summary, observed = judge("redis.pool", facts)
    assert status == "fail"
    assert "3 rejected in the last 2.0 s: clients are being turned away now" in summary
    assert observed["rejected_in_window"] == 3
    quiet = redis_facts(
        **window({"rejected_connections": 8}), info={"stats": {"rejected_connections": 8}}
    )
    assert judge("redis.pool", quiet)[0] == "warn"  # rejected since start only, as before


# -- issue 10, case 8: stalls inside Redis ---------------------------------------------------


def slow(p99: int = 30_000, **stall_args) -> dict:  # type: ignore[no-untyped-def]
    return redis_facts(ping={"samples_us": [100] * 19 + [p99]}, **stalls(**stall_args))


def test_latency_names_server_stalls() -> None:
    status, summary, observed = judge("redis.latency", slow(entries=(slow_entry(),)))
    assert status == "warn" and observed["cause"] == "server"
    assert "server-side: Redis was busy with slow commands DEBUG SLEEP ×1 (up to 30.00 ms)" in (
        summary
    )
    assert "not on the network (fastest round trip 100 µs)" in summary


@pytest.mark.parametrize(
    ("stall_args", "cause", "said"),
    [
        ({}, "network-or-host", "no command slower than 10.00 ms in SLOWLOG while cachediag"),
        ({"slowlog_error": "SLOWLOG GET is unavailable: NOPERM"}, "unknown", "is not known"),
        ({"log_slower_than_us": 50_000}, "unknown", "logs only commands slower than 50.00 ms"),
        # An old stall (an hour ago) does not explain this measurement.
        ({"entries": (slow_entry(age_s=3600, during=False),)}, "network-or-host", "no command"),
    ],
)
def test_latency_without_stalls_while_measuring(stall_args: dict, cause: str, said: str) -> None:
    status, summary, observed = judge("redis.latency", slow(**stall_args))
    assert status == "warn" and observed["cause"] == cause
    assert said in summary, summary


def test_fast_round_trips_say_nothing_of_stalls() -> None:
    _, summary, observed = judge("redis.latency", slow(p99=300, entries=(slow_entry(),)))
    assert "cause" not in observed and "server-side" not in summary
    assert "cause" not in judge("memcached.latency", memcached_facts())[2]


def test_slow_commands_verdicts() -> None:
    warn = judge("redis.slow_commands", slow(entries=(slow_entry(), slow_entry())))
    assert warn[0] == "warn"
    assert warn[1].startswith(
        "server-side stalls in the last 5 min: slow commands DEBUG SLEEP ×2 (up to 30.00 ms); "
        "each one blocks every client of this Redis for that long (2 while cachediag measured)"
    )
    assert "latency-monitor-threshold 0" in warn[1]
    assert warn[2]["slow_commands"][0]["count"] == 2
    keys = slow_entry("KEYS", duration_us=250_000, age_s=120, during=False, keys=None)
    assert judge("redis.slow_commands", slow(entries=(keys,)))[0] == "fail"
    old = judge("redis.slow_commands", slow(entries=(slow_entry(age_s=7200, during=False),)))
    assert old[0] == "pass"
    assert old[1].startswith("no command slower than 10.00 ms in the last 5 min (earlier: DEBUG")
    fast = slow_entry("GET", duration_us=500)
    assert judge("redis.slow_commands", slow(entries=(fast,)))[0] == "pass"


def test_slow_commands_from_latency_events_and_truncated_logs() -> None:
    event = {"event": "fork", "at": int(NOW - 5), "latest_ms": 120, "max_ms": 340, "age_s": 5.0}
    status, summary, _ = judge("redis.slow_commands", slow(events=(event,), threshold_ms=10))
    assert status == "fail" and "latency events fork 120 ms (max 340 ms)" in summary
    assert "latency-monitor-threshold" not in summary
    many = slow(entries=(slow_entry(),), truncated=32)
    assert "(in the latest 32 SLOWLOG entries)" in judge("redis.slow_commands", many)[1]


def test_slow_commands_cannot_always_be_read() -> None:
    off = judge("redis.slow_commands", slow(log_slower_than_us=-1))
    assert off[0] == "skip" and "SLOWLOG is off" in off[1]
    denied = slow(slowlog_error="SLOWLOG GET is unavailable: NOPERM", latency_error="NOPERM too")
    assert judge("redis.slow_commands", denied)[0] == "skip"
    assert judge("redis.slow_commands", redis_facts())[0] == "error"  # the probe broke off
    assert judge("redis.slow_commands", down("redis", "refused", "refused"))[0] == "error"


def test_ttl_namespace_counts_from_a_partial_sample_say_they_are_sampled() -> None:
    """A count from the key sample must not read like a total of the keyspace."""
    from cachediag.checks.registry import RULES

    keys = [{"key": f"product:{i}", "ttl_ms": -1} for i in range(231)]
    keys += [{"key": f"session:{i}", "ttl_ms": 5000} for i in range(769)]
    facts = {
        "kind": "redis",
        "status": "up",
        "info": {"keyspace": {"db0": {"keys": 304_949, "expires": 200_000}}},
        "sample": {"keys": keys},
    }
    outcome = RULES["redis.ttl"](facts, {"warn_above": 0.2, "fail_above": 0.5})
    assert "among 1,000 sampled keys, most in product:* (231)" in outcome.summary
    assert outcome.observed["namespaces_sampled_keys"] == 1000
    facts["info"]["keyspace"]["db0"] = {"keys": 1000, "expires": 769}
    whole = RULES["redis.ttl"](facts, {"warn_above": 0.2, "fail_above": 0.5})
    assert "; most in product:* (231)" in whole.summary and "sampled" not in whole.summary
