"""Issue 10, case 7: the hit rate of now, not since boot, and never inflated by cachediag.

Real servers, real traffic (redis-py as the application): a healthy morning then a
deploy that makes most lookups miss; three checks in a row on a server that had 300
hits and 700 misses; every scanning command's own lookups, set against INFO.
"""

from __future__ import annotations

import json

import pytest
from servers import Traffic, burst
from test_bigkeys import validate


def hit_rate_result(run) -> dict:  # type: ignore[no-untyped-def]
    (result,) = [r for r in run.json()["results"] if r["id"] == "redis.hit_rate"]
    return result


def test_a_deploy_that_makes_lookups_miss_fails_now(cachediag, redis_server) -> None:
    burst(redis_server, hits=19_000, misses=1_000)  # a healthy morning: 95%
    with Traffic(redis_server, ratio=0.1):  # after the deploy: 90% of lookups miss
        now = cachediag("check", "--json", "--redis", redis_server.url, "--only", "redis.hit_rate")
        lifetime = cachediag(
            "check",
            "--json",
            "--redis",
            redis_server.url,
            "--only",
            "redis.hit_rate",
            "--window",
            "0",
        )
    result = hit_rate_result(now)
    assert result["status"] == "fail", result
    assert now.code == 1
    assert result["observed"]["basis"] == "window"
    assert result["observed"]["hit_rate"] == pytest.approx(0.1, abs=0.05)
    assert result["observed"]["lifetime"]["hit_rate"] > 0.8
    assert "over the last 2.0 s" in result["summary"] and "since start" in result["summary"]
    assert "Solution 1A" in result["remedy"]
    # --window 0 is the old reading: since boot, and it says so.
    old = hit_rate_result(lifetime)
    assert old["status"] == "pass" and old["observed"]["basis"] == "lifetime"
    assert "since start" in old["summary"] and lifetime.code == 0


def test_a_recovery_passes_though_the_morning_was_bad(cachediag, redis_server) -> None:
    burst(redis_server, hits=1_000, misses=19_000)  # since boot: 5%
    with Traffic(redis_server, ratio=0.9):
        run = cachediag("check", "--json", "--redis", redis_server.url, "--only", "redis.hit_rate")
    result = hit_rate_result(run)
    assert result["status"] == "pass" and run.code == 0, result
    assert result["observed"]["hit_rate"] == pytest.approx(0.9, abs=0.05)
    assert result["observed"]["lifetime"]["hit_rate"] < 0.2


def test_three_consecutive_checks_stay_at_30_percent(cachediag, redis_server) -> None:
    client = redis_server.client()
    for i in range(500):
        client.set(f"user:{i}", "v")
    client.config_resetstat()
    burst(redis_server, hits=300, misses=700)
    readings = []
    for _ in range(3):
        run = cachediag("check", "--json", "--redis", redis_server.url, "--only", "redis.hit_rate")
        result = hit_rate_result(run)
        readings.append((result["status"], result["observed"]["hit_rate"], run.code))
        # No traffic in the window: since boot, said as such, without our own lookups.
        assert "no lookups in the last 2.0 s" in result["summary"], result["summary"]
        assert result["observed"]["basis"] == "lifetime"
    assert readings == [("pass", 0.3, 0)] * 3
    # The earlier runs' samples were there, and were left out by their commands.
    assert sum(result["observed"]["inspection_lookups_excluded"].values()) >= 2 * 1_000
    assert client.info("stats")["keyspace_hits"] > 3_000


def test_checks_under_traffic_read_the_traffic_not_the_samples(cachediag, redis_server) -> None:
    client = redis_server.client()
    for i in range(1_000):
        client.set(f"user:{i}", "v")
    with Traffic(redis_server, ratio=0.3):
        rates = []
        for _ in range(3):
            run = cachediag(
                "check", "--json", "--redis", redis_server.url, "--only", "redis.hit_rate"
            )
            result = hit_rate_result(run)
            assert result["observed"]["basis"] == "window", result
            assert result["observed"]["sample_lookups_per_run"] >= 2_000
            rates.append(result["observed"]["hit_rate"])
    assert rates == [pytest.approx(0.3, abs=0.05)] * 3


def _info_lookups(client) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    stats = client.info("stats")
    return stats["keyspace_hits"], stats["keyspace_misses"]


def _seed_mixed(client) -> None:  # type: ignore[no-untyped-def]
    """Strings, hashes and lists, some sharing a namespace: the engine mis-guesses types."""
    pipe = client.pipeline(transaction=False)
    for i in range(1_500):
        pipe.set(f"s:{i}", "value")
    for i in range(200):
        pipe.hset(f"h:{i}", "field", "1")
    for i in range(50):
        pipe.rpush(f"mixed:{i}", "x")
        pipe.set(f"mixed:{i + 100}", "y")
    pipe.execute()


@pytest.mark.parametrize(
    "command",
    [
        ["bigkeys", "--max-keys", "0"],
        ["inspect"],
        ["ttl"],
        ["inspect", "s:1", "h:1", "nope:1"],
        ["ttl", "s:1", "nope:1", "nope:2"],
    ],
    ids=["bigkeys", "inspect-sample", "ttl-sample", "inspect-keys", "ttl-keys"],
)
def test_every_scan_says_what_it_added_to_the_counters(
    cachediag, redis_server, command: list[str]
) -> None:
    client = redis_server.client()
    _seed_mixed(client)
    before = _info_lookups(client)
    run = cachediag(*command, "--redis", redis_server.url, "--json")
    after = _info_lookups(client)
    validate(run.json(), command[0])
    (row,) = run.json()["targets"]
    added = row["lookups_added"]
    # Counted from the replies, and exactly what the server counted (nothing else ran).
    assert (added["hits"], added["misses"]) == (after[0] - before[0], after[1] - before[1])
    assert added["exact"] is True
    assert added["hits"] > 0
    if "nope:1" in command:
        assert added["misses"] > 0
    text = cachediag(*command, "--redis", redis_server.url)
    assert f"this run added {added['hits']:,} hits" in text.out, text.out


def test_keys_an_acl_hides_add_no_lookups(cachediag, redis_server) -> None:
    client = redis_server.client()
    _seed_mixed(client)
    client.execute_command("ACL", "SETUSER", "reader", "on", ">pw", "~s:*", "+@all")
    before = _info_lookups(client)
    run = cachediag(
        "bigkeys", "--redis", f"redis://reader:pw@127.0.0.1:{redis_server.port}", "--json"
    )
    after = _info_lookups(client)
    (row,) = run.json()["targets"]
    assert row["scan"]["denied"] > 0
    added = row["lookups_added"]
    assert (added["hits"], added["misses"]) == (after[0] - before[0], after[1] - before[1])


def test_a_type_filtered_scan_says_its_count_is_a_floor(cachediag, redis_server) -> None:
    _seed_mixed(redis_server.client())
    run = cachediag("bigkeys", "--redis", redis_server.url, "--type", "hash", "--json")
    (row,) = run.json()["targets"]
    assert row["lookups_added"]["exact"] is False
    text = cachediag("bigkeys", "--redis", redis_server.url, "--type", "hash")
    assert "SCAN TYPE" in text.out


def test_memcached_scans_say_what_they_added(cachediag, memcached_server) -> None:
    client = memcached_server.client()
    for i in range(50):
        client.set(f"user:{i}", b"v" * 10)
    stats = client.stats()
    before = stats[b"get_hits"], stats[b"get_misses"]
    run = cachediag("inspect", "--memcached", memcached_server.address, "--json")
    stats = client.stats()
    (row,) = run.json()["targets"]
    added = row["lookups_added"]
    assert (added["hits"], added["misses"]) == (
        stats[b"get_hits"] - before[0],
        stats[b"get_misses"] - before[1],
    )
    bigkeys = cachediag("bigkeys", "--memcached", memcached_server.address, "--json")
    assert bigkeys.json()["targets"][0]["lookups_added"] == {
        "hits": 0,
        "misses": 0,
        "exact": True,
    }


def test_the_check_sample_counts_its_memcached_gets(memcached_server) -> None:
    from cachediag.probes import memcached as probe
    from cachediag.targets.parse import parse_memcached

    client = memcached_server.client()
    for i in range(30):
        client.set(f"user:{i}", b"v")
    before = client.stats()
    facts = probe.collect(parse_memcached(memcached_server.address, "flag"), 5, 1000)
    after = client.stats()
    added = facts["sample"]["lookups_added"]
    assert added["hits"] == after[b"get_hits"] - before[b"get_hits"] == 30
    assert added["misses"] == after[b"get_misses"] - before[b"get_misses"]
    assert facts["sample"]["own_lookups"] == added["hits"] + added["misses"]


def test_window_is_documented_in_check_help(cachediag) -> None:
    run = cachediag("check", "--help", env={"COLUMNS": "200"})
    assert "--window" in run.out and "since boot" in run.out
    listed = json.loads(cachediag("check", "--list", "--json", "--only", "redis.hit_rate").out)
    thresholds = listed["checks"][0]["thresholds"]
    assert thresholds["min_window_lookups"] == 20
    assert thresholds["exclude_inspection_commands"] is True
