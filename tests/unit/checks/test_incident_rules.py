"""Verdicts of issue 10 over recorded facts: saturated servers, bounded caches, refused
writes, replicas, and wording that does not mislead (cases 1, 4, 5, 6 and 11)."""

from __future__ import annotations

import pytest
from facts_builder import NOW, key, memcached_facts, redis_facts, replica, saturated

from cachediag.checks.checklist import load_checklist
from cachediag.checks.evaluate import evaluate
from cachediag.checks.facts_view import human_bytes, plural, redis_failed_writes
from cachediag.checks.judge import Judge
from cachediag.checks.registry import RULES

CHECKLIST = load_checklist()
SPECS = {spec.id: spec for spec in CHECKLIST.checks}
MIB = 2**20


def judge(check_id: str, facts: dict) -> tuple[str, str, dict]:
    outcome = RULES[check_id](facts, SPECS[check_id].thresholds)
    return outcome.status, outcome.summary, outcome.observed


def remedy(check_id: str, facts: dict) -> str:
    return SPECS[check_id].remedy_for(RULES[check_id](facts, SPECS[check_id].thresholds))


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


# -- case 4: a full allkeys-* cache is a bounded cache, judged by what eviction costs ---------


def full_lru(
    hits: int, misses: int, evicted: int, uptime: int = 86_400, keys: int = 50_000
) -> dict:
    return redis_facts(
        info={
            "server": {"uptime_in_seconds": uptime},
            "memory": {"used_memory": 50 * MIB, "maxmemory": 50 * MIB},
            "stats": {"keyspace_hits": hits, "keyspace_misses": misses, "evicted_keys": evicted},
        },
        dbsize=keys,
    )


def test_full_allkeys_lru_with_good_hit_rate_passes() -> None:
    facts = full_lru(hits=9_000, misses=1_000, evicted=20_000)
    status, summary, observed = judge("redis.memory", facts)
    assert status == "pass"
    assert summary.startswith("50.0 MiB of 50.0 MiB (100.0%): full, as a bounded allkeys-lru cache")
    assert "hit rate 90.0%" in summary and "20,000 keys evicted since start" in summary
    assert observed["policy"] == "allkeys-lru" and observed["evicted"] == 20_000


def test_full_allkeys_lru_that_evicts_its_hits_away_warns_with_its_own_remedy() -> None:
    facts = full_lru(hits=1_000, misses=9_000, evicted=20_000)
    status, summary, observed = judge("redis.memory", facts)
    assert status == "warn" and "only 10.0% of lookups hit" in summary
    assert observed["cause"] == "evicting"
    text = remedy("redis.memory", facts)
    assert "Set maxmemory with an allkeys-lru policy" not in text
    assert "Raise maxmemory" in text and "working set does not fit" in text


def test_full_allkeys_lru_whose_entries_live_seconds_warns() -> None:
    # 50,000 keys, 50 evictions a second: an entry lasts about 1,000 s; at 5,000/s, 10 s.
    assert judge("redis.memory", full_lru(9_000, 1_000, evicted=50 * 86_400))[0] == "pass"
    status, summary, observed = judge("redis.memory", full_lru(9_000, 1_000, 5_000 * 86_400))
    assert status == "warn" and "an entry stays about 10 s before it is evicted" in summary
    assert observed["residency_seconds"] == 10


def test_full_allkeys_lru_without_lookups_yet_passes_and_says_so() -> None:
    status, summary, _ = judge("redis.memory", full_lru(0, 0, evicted=3_000, uptime=45))
    assert status == "pass" and "too few lookups yet" in summary
    assert "3,000 keys evicted in the 45 s since start" in summary and "/hour" not in summary


def test_allkeys_cache_that_still_refused_writes_warns() -> None:
    facts = redis_facts(info=oom(3, maxmemory_policy="allkeys-lru"))
    status, summary, _ = judge("redis.memory", facts)
    assert status == "warn"
    assert (
        "3 writes refused with OOM so far (errorstat_OOM), although allkeys-lru evicts" in summary
    )
    assert "client-output-buffer-limit" in remedy("redis.memory", facts)


def test_allkeys_below_the_limit_reads_as_before() -> None:
    status, summary, _ = judge("redis.memory", redis_facts())
    assert (status, summary) == ("pass", "50.0 MiB of 100.0 MiB (50.0%)")


# -- case 5: a policy that cannot evict is a fail, with the writes it refused ----------------


def oom(count: int, **memory: object) -> dict:
    return {
        "errorstats": {"errorstat_OOM": {"count": count}},
        "commandstats": {"cmdstat_set": {"calls": 73, "rejected_calls": count, "failed_calls": 0}},
        "memory": {"used_memory": 2 * MIB, "maxmemory": 2 * MIB, **memory},
    }


def test_volatile_policy_without_volatile_keys_fails_with_refused_writes() -> None:
    facts = redis_facts(
        info={
            **oom(2_927, maxmemory_policy="volatile-lru"),
            "keyspace": {"db0": {"keys": 73, "expires": 0}},
        }
    )
    status, summary, observed = judge("redis.eviction_policy", facts)
    assert status == "fail"
    assert "none of the 73 keys has one" in summary and "as under noeviction" in summary
    assert "2,927 writes refused with OOM so far (errorstat_OOM)" in summary
    assert observed["oom"] == 2_927 and observed["rejected_calls"] == 2_927
    memory_status, memory_summary, _ = judge("redis.memory", facts)
    assert memory_status == "fail" and "2,927 writes refused" in memory_summary


def test_volatile_policy_with_no_keys_at_all_is_not_failed() -> None:
    facts = redis_facts(
        info={"memory": {"maxmemory_policy": "volatile-lru"}, "keyspace": {}}, dbsize=0
    )
    assert judge("redis.eviction_policy", facts)[0] == "pass"


def test_volatile_policy_that_ran_out_of_ttl_keys_fails() -> None:
    facts = redis_facts(
        info={
            **oom(12, maxmemory_policy="volatile-ttl"),
            "keyspace": {"db0": {"keys": 100, "expires": 90}},
        }
    )
    status, summary, _ = judge("redis.eviction_policy", facts)
    assert status == "fail" and "12 writes refused" in summary


def test_noeviction_says_how_many_writes_failed() -> None:
    facts = redis_facts(info=oom(1, maxmemory_policy="noeviction"))
    status, summary, _ = judge("redis.eviction_policy", facts)
    assert status == "fail" and summary.endswith("1 write refused with OOM so far (errorstat_OOM)")
    clean = redis_facts(info={"memory": {"maxmemory_policy": "noeviction"}, "errorstats": {}})
    assert judge("redis.eviction_policy", clean)[1] == (
        "noeviction: once maxmemory is reached every write fails with OOM"
    )


def test_refused_writes_make_memory_below_the_limit_a_warning() -> None:
    facts = redis_facts(info=oom(5, used_memory=MIB, maxmemory_policy="noeviction"))
    status, summary, _ = judge("redis.memory", facts)
    assert status == "warn" and summary == (
        "1.0 MiB of 2.0 MiB (50.0%); 5 writes refused with OOM so far (errorstat_OOM)"
    )


def test_failed_writes_reader() -> None:
    assert redis_failed_writes(redis_facts()) == {"oom": None, "rejected_calls": None}
    assert redis_failed_writes(redis_facts(info={"errorstats": {}})) == {
        "oom": 0,
        "rejected_calls": None,
    }
    assert redis_failed_writes(redis_facts(info=oom(7))) == {"oom": 7, "rejected_calls": 7}


def test_memcached_minus_m_counts_refused_writes_in_the_right_number() -> None:
    facts = memcached_facts(
        settings={"evictions": "off"}, items={"items:1:outofmemory": 1, "items:1:number": 5}
    )
    status, summary, _ = judge("memcached.eviction_policy", facts)
    assert status == "fail" and summary.endswith("; 1 write refused so far (outofmemory)")


# -- case 6: replicas judged as replicas, primaries by their replicas ------------------------


def test_replica_with_its_primary_gone_fails() -> None:
    facts = replica(
        master_link_status="down", master_last_io_seconds_ago=-1, master_link_down_since_seconds=75
    )
    status, summary, observed = judge("redis.replication", facts)
    assert status == "fail"
    assert summary.startswith("replica of 127.0.0.1:6380: the link to its primary is down for 75 s")
    assert observed["cause"] == "link_down"
    text = remedy("redis.replication", facts)
    assert "fail over" in text and "REPLICAOF NO ONE" in text


def test_replica_that_never_synced_fails() -> None:
    facts = replica(master_link_status="down", master_link_down_since_seconds=-1)
    assert "has not synced since it started" in judge("redis.replication", facts)[1]


@pytest.mark.parametrize(
    ("replication", "status", "words"),
    [
        ({}, "pass", "link up, last heard from it 1 s ago"),
        ({"master_last_io_seconds_ago": 45}, "warn", "nothing heard from its primary for 45 s"),
        ({"master_sync_in_progress": 1, "master_sync_left_bytes": 2 * MIB}, "warn", "2.0 MiB left"),
    ],
)
def test_replica_link(replication: dict, status: str, words: str) -> None:
    got_status, summary, _ = judge("redis.replication", replica(**replication))
    assert got_status == status and words in summary


def test_primary_with_replicas() -> None:
    def primary(*lines: str, offset: int = 5_000_000) -> dict:
        slaves = {f"slave{i}": line for i, line in enumerate(lines)}
        return redis_facts(
            info={
                "replication": {
                    "role": "master",
                    "connected_slaves": len(lines),
                    "master_repl_offset": offset,
                    **slaves,
                }
            }
        )

    in_step = primary("ip=10.0.0.2,port=6379,state=online,offset=5000000,lag=0")
    status, summary, observed = judge("redis.replication", in_step)
    assert (status, summary) == ("pass", "a primary with 1 replica, all online and in step")
    assert observed["replicas"] == [
        {"address": "10.0.0.2:6379", "state": "online", "lag_seconds": 0, "offset_lag_bytes": 0}
    ]
    behind = primary(
        "ip=10.0.0.2,port=6379,state=online,offset=5000000,lag=0",
        "ip=10.0.0.3,port=6379,state=online,offset=1000000,lag=1",
        "ip=10.0.0.4,port=6379,state=online,offset=5000000,lag=40",
        "ip=10.0.0.5,port=6379,state=wait_bgsave,offset=0,lag=0",
    )
    status, summary, _ = judge("redis.replication", behind)
    assert status == "warn" and summary.startswith("a primary with 4 replicas: ")
    assert "10.0.0.3:6379 is 3.8 MiB of writes behind" in summary
    assert "10.0.0.4:6379 last acknowledged 40 s ago" in summary
    assert "10.0.0.5:6379 is wait_bgsave, not online" in summary
    assert judge("redis.replication", redis_facts())[0] == "skip"  # standalone


def test_noeviction_on_a_read_only_replica_is_not_a_write_failure() -> None:
    memory = {"maxmemory_policy": "noeviction", "used_memory": 100 * MIB}
    facts = replica()
    facts["info"]["memory"].update(memory)
    status, summary, observed = judge("redis.eviction_policy", facts)
    assert status == "pass" and "read-only replica that ignores maxmemory" in summary
    assert observed["role"] == "replica"
    assert judge("redis.memory", facts)[0] == "pass"
    writable = replica(slave_read_only=0)
    writable["info"]["memory"].update(memory)
    assert judge("redis.eviction_policy", writable)[0] == "fail"
    assert judge("redis.memory", writable)[0] == "fail"
    strict = replica()
    strict["info"]["memory"].update(memory)
    strict["config"]["values"]["replica-ignore-maxmemory"] = "no"
    assert judge("redis.eviction_policy", strict)[0] == "fail"


def test_replication_is_listed() -> None:
    spec = SPECS["redis.replication"]
    assert spec.section == "Cache Issues" and spec.thresholds == {
        "warn_last_io_seconds_above": 30,
        "warn_lag_seconds_above": 10,
        "warn_offset_lag_bytes_above": 1048576,
    }
    assert set(spec.remedies) == {"link_down", "syncing"}


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
