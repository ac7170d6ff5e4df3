"""`cachediag memory`: readings with `check`'s verdicts, on seeded Redis and filled Memcached."""

from __future__ import annotations

from typing import Any

import pytest

from cachediag.server.memory import parse_memory_stats, projection, slab_table


def seed(server: Any) -> None:
    """100 keys with a TTL and 50 without, across namespaces."""
    client = server.client()
    pipe = client.pipeline()
    for i in range(60):
        pipe.set(f"user:{i}", "u" * 100, ex=3600)
    for i in range(40):
        pipe.set(f"session:{i}", "s" * 50, ex=600)
    for i in range(50):
        pipe.set(f"product:{i}", "p" * 200)
    pipe.execute()


def readings(row: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in row["readings"]}


def test_projection_is_the_guides_arithmetic() -> None:
    assert projection(5_000_000, 1024)["text"] == "5,000,000 keys × 1.0 KiB ≈ 4.8 GiB"
    assert projection(0, 1024) is None and projection(10, None) is None


def test_memory_stats_reply_becomes_a_dict() -> None:
    reply = [
        b"peak.allocated",
        100,
        b"db.0",
        [b"overhead.hashtable.main", 72],
        b"fragmentation",
        b"1.5",
    ]
    assert parse_memory_stats(reply) == {
        "peak.allocated": 100,
        "db.0": {"overhead.hashtable.main": 72},
        "fragmentation": "1.5",
    }


def test_slab_table_follows_memcached_tool() -> None:
    slabs = {
        "1:chunk_size": 96,
        "1:total_pages": 1,
        "1:free_chunks": 0,
        "2:chunk_size": 2048,
        "2:total_pages": 0,
    }
    items = {
        "items:1:number": 10,
        "items:1:age": 5,
        "items:1:evicted": 3,
        "items:1:evicted_time": 2,
        "items:1:outofmemory": 1,
    }
    (row,) = slab_table(slabs, items)  # class 2 has no pages: not shown, as in memcached-tool
    assert row == {
        "class": 1,
        "item_size": 96,
        "item_size_text": "96B",
        "max_age": 5,
        "pages": 1,
        "count": 10,
        "full": True,
        "evicted": 3,
        "evict_time": 2,
        "oom": 1,
    }


def test_seeded_redis(cachediag, redis_server) -> None:
    seed(redis_server)
    run = cachediag("memory", "--redis", redis_server.url, "--json")
    assert run.code == 0, run.err
    doc = run.json()
    assert doc["schema"] == "cachediag.memory/v1"
    (row,) = doc["targets"]
    got = readings(row)
    assert got["used_memory"]["value"] > 0 and got["used_memory"]["verdict"]["status"] == "pass"
    assert got["maxmemory"]["value"] == 64 * 1024 * 1024
    assert got["maxmemory_policy"]["value"] == "allkeys-lru"
    assert got["maxmemory_policy"]["verdict"]["status"] == "pass"
    assert got["dbsize"]["value"] == 150
    assert got["keys_without_ttl"]["value"] == 50
    # 50 of 150 without TTL is over check's 10% warning threshold, under its 50% failure.
    assert got["keys_without_ttl"]["verdict"]["status"] == "warn"
    assert got["keys_without_ttl"]["verdict"]["remedy"]
    assert got["evicted_keys"]["value"] == 0 and got["evicted_keys"]["verdict"]["status"] == "pass"
    assert got["mem_fragmentation_ratio"]["verdict"]["check"] == "redis.fragmentation"
    assert row["databases"] == [
        {
            "db": "db0",
            "keys": 150,
            "with_ttl": 100,
            "without_ttl": 50,
            "avg_ttl_ms": row["databases"][0]["avg_ttl_ms"],
        }
    ]
    assert row["projection"]["keys"] == 150
    assert row["projection"]["average_entry_bytes"] == got["average_entry_bytes"]["value"] > 50
    assert row["sampled_keys"] == 150
    assert row["memory_doctor"]
    assert row["memory_stats"]["keys.count"] == 150
    assert row["notes"] == []


def test_text_report_has_verdicts_and_projection(cachediag, redis_server) -> None:
    seed(redis_server)
    run = cachediag("memory", "--redis", redis_server.url)
    assert run.code == 0
    for text in (
        "used_memory",
        "maxmemory_policy",
        "allkeys-lru",
        "projection: 150 keys ×",
        "keys per database",
        "MEMORY DOCTOR",
        "warn",
    ):
        assert text in run.out


def test_noeviction_without_limit_fails_like_check(cachediag, redis_factory) -> None:
    server = redis_factory()
    seed(server)
    run = cachediag("memory", "--redis", server.url, "--json")
    assert run.code == 1
    got = readings(run.json()["targets"][0])
    assert got["maxmemory"]["value"] == 0
    assert got["used_memory"]["verdict"]["status"] == "warn"
    assert got["maxmemory_policy"]["verdict"]["status"] == "fail"


def test_acl_user_without_memory_or_config_gets_the_rest(cachediag, redis_server) -> None:
    seed(redis_server)
    redis_server.cli(
        "ACL", "SETUSER", "viewer", "on", ">viewpw", "~*", "+@all", "-memory", "-config"
    )
    run = cachediag(
        "memory", "--redis", f"redis://viewer:viewpw@127.0.0.1:{redis_server.port}/0", "--json"
    )
    assert run.code == 0, run.err
    row = run.json()["targets"][0]
    notes = " ".join(row["notes"])
    assert "CONFIG GET is unavailable" in notes
    assert "MEMORY DOCTOR is unavailable" in notes and "MEMORY STATS is unavailable" in notes
    assert "MEMORY USAGE is unavailable" in notes
    got = readings(row)
    assert got["used_memory"]["value"] > 0
    assert got["maxmemory_policy"]["value"] == "allkeys-lru"  # from INFO memory
    assert got["average_entry_bytes"]["value"]  # string lengths stand in for MEMORY USAGE
    assert row["memory_doctor"] is None and row["memory_stats"] == {}
    assert "viewpw" not in run.out


def fill(server: Any, megabytes: int) -> int:
    client = server.client()
    stored = 0
    value = b"x" * 1000
    for i in range(megabytes * 1100):
        try:
            client.set(f"fill:{i}", value, noreply=False)
            stored += 1
        except Exception:  # -M answers SERVER_ERROR out of memory when full
            pass
    return stored


def test_memcached_filled_past_a_small_limit_evicts(cachediag, memcached_factory) -> None:
    server = memcached_factory("-m", "2")
    fill(server, 4)
    run = cachediag("memory", "--memcached", server.address, "--json")
    # The allocator is full and the busy class keeps an item about a second: no longer
    # a pass with evictions warning, but memcached.memory failing (issue 10, case 3).
    assert run.code == 1, run.err
    row = run.json()["targets"][0]
    got = readings(row)
    assert got["total_malloced"]["value"] == 2 * 1024 * 1024
    assert got["total_malloced"]["verdict"]["status"] == "fail"
    assert got["limit_maxbytes"]["value"] == 2 * 1024 * 1024
    assert got["evictions"]["value"] > 0 and got["evictions"]["verdict"]["status"] == "warn"
    assert got["eviction_setting"]["value"] == "on"
    assert 0 < got["curr_items"]["value"] < 4 * 1100
    busiest = max(row["slabs"], key=lambda s: s["count"])
    assert busiest["evicted"] > 0 and busiest["pages"] >= 1 and busiest["item_size"] >= 1000
    assert row["projection"]["keys"] == got["curr_items"]["value"]

    text = cachediag("memory", "--memcached", server.address).out
    assert "memcached-tool display" in text and "Full?" in text and "Evict_Time" in text


def test_memcached_with_evictions_off_fails(cachediag, memcached_factory) -> None:
    server = memcached_factory("-m", "2", "-M")
    fill(server, 4)
    run = cachediag("memory", "--memcached", server.address, "--json")
    assert run.code == 1
    row = run.json()["targets"][0]
    got = readings(row)
    assert got["eviction_setting"]["value"] == "off"
    assert got["eviction_setting"]["verdict"]["status"] == "fail"
    assert got["evictions"]["value"] == 0
    assert any(slab["oom"] > 0 for slab in row["slabs"])


@pytest.mark.parametrize("args", [("--redis",), ("--memcached",)])
def test_down_target_is_reported_not_raised(cachediag, closed_port, args) -> None:
    address = f"127.0.0.1:{closed_port}"
    run = cachediag("memory", args[0], address, "--json")
    assert run.code == 1
    row = run.json()["targets"][0]
    assert row["status"] == "down" and "refused" in row["error"]["message"]
