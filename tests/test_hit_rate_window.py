"""Issue 10, case 7: every scanning command's own lookups, set against INFO."""

from __future__ import annotations

import pytest


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
