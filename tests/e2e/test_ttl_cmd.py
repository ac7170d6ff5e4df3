"""`cachediag ttl`: per-key readings and the keyspace report, on seeded Redis and Memcached."""

from __future__ import annotations

from typing import Any

import pytest

from cachediag.keyspace.ttl import BUCKET_NAMES, bucket_of, reading, summarize

HOUR = 3600


@pytest.mark.parametrize(
    ("ttl", "bucket"),
    [
        (-1, "no expiry"),
        (0, "< 1 h"),
        (3599, "< 1 h"),
        (3600, "1–4 h"),
        (5 * HOUR, "4–12 h"),
        (13 * HOUR, "12–24 h"),
        (2 * 86400, "1–7 d"),
        (8 * 86400, "> 7 d"),
    ],
)
def test_buckets(ttl: int, bucket: str) -> None:
    assert bucket_of(ttl) == bucket


def test_the_guides_reading_of_ttl_replies() -> None:
    assert reading(-1) == "no expiration set: cached forever"
    assert reading(-2) == "key does not exist"
    assert reading(3600) == "3600 seconds remaining (1h 0m)"
    assert reading(1) == "1 second remaining (1s)"


def test_namespaces_with_most_keys_without_ttl_come_first() -> None:
    items = (
        [(f"user:{i}", 100.0) for i in range(5)]
        + [(f"cart:{i}", -1) for i in range(2)]
        + [("cfg:a", -1), ("cfg:b", 9e6)]
    )
    result = summarize(items)
    # Most keys without TTL first; among equals, the bigger namespace first.
    assert [ns["namespace"] for ns in result["namespaces"]] == [
        "cart:*",
        "cfg:a",
        "user:*",
        "cfg:b",
    ]
    assert result["namespaces"][0]["without_ttl"] == 2
    assert (
        result["buckets"]["no expiry"] == 3
        and result["buckets"]["< 1 h"] == 5
        and result["buckets"]["> 7 d"] == 1
    )
    assert list(result["buckets"]) == list(BUCKET_NAMES)


def seed(server: Any) -> None:
    client = server.client()
    pipe = client.pipeline()
    for i in range(30):
        pipe.set(f"user:{i}", "u", ex=30 * 60)
    for i in range(20):
        pipe.set(f"session:{i}", "s", ex=2 * HOUR)
    for i in range(40):
        pipe.set(f"product:{i}", "p")
    for i in range(10):
        pipe.hset(f"cfg:{i}", "k", "v")
        pipe.expire(f"cfg:{i}", 3 * 86400)
    pipe.execute()


def test_ttl_of_given_keys(cachediag, redis_server) -> None:
    seed(redis_server)
    run = cachediag(
        "ttl", "user:1", "product:1", "cfg:2", "missing:1", "--redis", redis_server.url, "--json"
    )
    assert run.code == 0, run.err
    doc = run.json()
    assert doc["schema"] == "cachediag.ttl/v1" and doc["mode"] == "keys"
    user, product, cfg, missing = doc["targets"][0]["keys"]
    assert 1790 <= user["ttl"] <= 1800 and user["type"] == "string" and user["memory_bytes"] > 0
    assert user["reading"].startswith(f"{user['ttl']} seconds remaining")
    assert product["ttl"] == -1 and product["reading"] == "no expiration set: cached forever"
    assert cfg["type"] == "hash"
    assert missing == {
        "key": "missing:1",
        "ttl": -2,
        "type": None,
        "memory_bytes": None,
        "reading": "key does not exist",
    }


def test_keyspace_report(cachediag, redis_server) -> None:
    seed(redis_server)
    run = cachediag("ttl", "--redis", redis_server.url, "--json")
    assert run.code == 0, run.err  # 40% without TTL: a warning, not a failure
    row = run.json()["targets"][0]
    assert row["databases"][0]["keys"] == 100 and row["databases"][0]["expires"] == 60
    assert row["sampled"] == 100 and row["complete"] is True
    assert row["buckets"] == {
        "no expiry": 40,
        "< 1 h": 30,
        "1–4 h": 20,
        "4–12 h": 0,
        "12–24 h": 0,
        "1–7 d": 10,
        "> 7 d": 0,
    }
    namespaces = {ns["namespace"]: ns for ns in row["namespaces"]}
    assert row["namespaces"][0]["namespace"] == "product:*"
    assert namespaces["product:*"]["without_ttl"] == 40
    assert namespaces["cfg:*"]["buckets"]["1–7 d"] == 10
    assert row["verdict"]["check"] == "redis.ttl" and row["verdict"]["status"] == "warn"
    assert "product:*" in row["verdict"]["summary"]

    text = cachediag("ttl", "--redis", redis_server.url).out
    assert (
        "product:*" in text and "no expiry" in text and "1–7 d" in text and "verdict: warn" in text
    )


def test_sample_is_bounded_and_filtered(cachediag, redis_server) -> None:
    seed(redis_server)
    bounded = cachediag("ttl", "--redis", redis_server.url, "--max-keys", "10", "--json").json()[
        "targets"
    ][0]
    assert bounded["sampled"] == 10 and bounded["complete"] is False

    matched = cachediag("ttl", "--redis", redis_server.url, "--pattern", "product:*", "--json")
    row = matched.json()["targets"][0]
    assert row["sampled"] == 40 and [ns["namespace"] for ns in row["namespaces"]] == ["product:*"]
    # With a pattern the verdict is about the matching keys: all 40 lack a TTL.
    assert row["verdict"]["status"] == "fail" and matched.code == 1


def test_mostly_without_ttl_fails(cachediag, redis_factory) -> None:
    server = redis_factory()
    server.client().mset({f"k:{i}": "v" for i in range(10)})
    run = cachediag("ttl", "--redis", server.url, "--json")
    assert run.code == 1
    assert run.json()["targets"][0]["verdict"]["status"] == "fail"


def test_memcached_keyspace_and_keys(cachediag, memcached_server) -> None:
    client = memcached_server.client()
    for i in range(6):
        client.set(f"user:{i}", b"u", expire=600)
    for i in range(4):
        client.set(f"page:{i}", b"p")
    client.set("feed:1", b"f", expire=5 * HOUR)
    run = cachediag("ttl", "--memcached", memcached_server.address, "--json")
    assert run.code == 0, run.err  # 4 of 11 without expiry (36%): a warning
    row = run.json()["targets"][0]
    assert row["sampled"] == 11
    assert (
        row["buckets"]["no expiry"] == 4
        and row["buckets"]["< 1 h"] == 6
        and row["buckets"]["4–12 h"] == 1
    )
    assert row["namespaces"][0]["namespace"] == "page:*"
    assert row["verdict"]["check"] == "memcached.ttl" and row["verdict"]["status"] == "warn"

    keys = cachediag(
        "ttl",
        "user:1",
        "page:1",
        "nope",
        "bad key",
        "--memcached",
        memcached_server.address,
        "--json",
    )
    user, page, nope, bad = keys.json()["targets"][0]["keys"]
    assert 590 <= user["ttl"] <= 600 and user["value_bytes"] == 1
    # memory_bytes is the item as its slab holds it (key, value, header), as in bigkeys.
    assert user["memory_bytes"] > len("user:1") + 1 and user["slab_class"] == 1
    assert page["ttl"] == -1 and nope["ttl"] == -2
    assert bad["ttl"] is None and "not a valid Memcached key" in bad["reading"]


def test_unsafe_key_names_are_escaped(cachediag, redis_server) -> None:
    redis_server.client().set("evil:\x1b]0;title\x07", "v")
    run = cachediag("ttl", "--redis", redis_server.url)
    assert "\x1b" not in run.out and "\\x1b" in run.out


def test_a_sparse_pattern_stops_after_bounded_scan_calls(cachediag, redis_factory) -> None:
    server = redis_factory("--enable-debug-command", "yes")
    server.cli("DEBUG", "POPULATE", "300000", "filler")
    server.client().set("rare:1", "x")
    run = cachediag(
        "ttl", "--redis", server.url, "--pattern", "nomatch:*", "--max-keys", "10", "--json"
    )
    assert run.code == 0, run.err
    row = run.json()["targets"][0]
    assert row["sampled"] == 0 and row["complete"] is False
    assert any("SCAN stopped before the end" in note for note in row["notes"])


class Meter:
    """A progress observer that records what the engine told it."""

    def __init__(self) -> None:
        self.updates: list[tuple[int, int | None]] = []
        self.finished = False

    def update(self, done: int, total: int | None, elapsed: float) -> None:
        self.updates.append((done, total))

    def note(self, message: str) -> None:
        pass

    def finish(self) -> None:
        self.finished = True


def test_the_keyspace_sample_runs_on_the_scan_engine(redis_server) -> None:
    """Progress, and PTTL alone per key: ttl's sample is the engine's, at ttl's old cost."""
    from cachediag.checks.judge import Judge
    from cachediag.keyspace.ttl import keyspace_report
    from cachediag.targets.parse import parse_redis

    seed(redis_server)
    redis_server.cli("CONFIG", "RESETSTAT")
    meter = Meter()
    target = parse_redis(redis_server.url, "flag")
    row = keyspace_report(target, 5, 1000, None, Judge.load(), meter)
    assert row["sampled"] == 100 and row["complete"] is True
    assert meter.updates and meter.updates[-1][1] == 100 and meter.finished  # DBSIZE as total
    stats = redis_server.cli("INFO", "commandstats")
    calls = {
        line.split(":")[0].removeprefix("cmdstat_"): int(line.split("calls=")[1].split(",")[0])
        for line in stats.split()
        if line.startswith("cmdstat_")
    }
    assert calls["pttl"] == 100
    assert not {"memory", "type", "strlen", "hlen"} & set(calls)
