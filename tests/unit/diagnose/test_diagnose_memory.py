"""Issue 3's causes: one scenario per cause on a real Redis (shared, reset between them),
a replica for the backlog, a slow subscriber for client buffers; fragmentation, which a
test cannot make in seconds, on recorded-shape facts."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from diagnose_helpers import assert_first, live, symptom_of
from facts_builder import redis_facts
from servers import AppLoop, RedisServer, start_redis, wait_for_link

from cachediag.diagnose.weights import load_weights

HOUR = 3600


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = start_redis(tmp_path_factory.mktemp("diagnose-memory"))
    yield server
    server.stop()


@pytest.fixture
def redis(shared: RedisServer) -> RedisServer:
    """Healthy apart from the scenario: a limit with an evicting policy, TTLs on writes."""
    client = shared.client()
    client.flushall()
    client.script_flush()
    client.config_set("maxmemory", "64mb")
    client.config_set("maxmemory-policy", "allkeys-lru")
    client.config_resetstat()
    return shared


def fill(server: RedisServer, count: int, size: int, ttl: int | None = HOUR, prefix="user") -> None:
    pipe = server.client().pipeline(transaction=False)
    for i in range(count):
        pipe.set(f"{prefix}:{i}", b"x" * size, ex=ttl)
    pipe.execute()


def memory(facts: dict[str, Any]) -> Any:
    return symptom_of(facts, "memory")


def test_entries_too_large(redis: RedisServer) -> None:
    fill(redis, 200, 4096)
    result = memory(live(redis=(redis.url,)))
    assert_first(result, "entries-too-large")
    assert "by namespace: user:* " in result.causes[0].evidence_for[0].text


def test_no_ttl(redis: RedisServer) -> None:
    fill(redis, 300, 64, ttl=None)
    result = memory(live(redis=(redis.url,)))
    assert_first(result, "no-ttl")
    assert result.causes[0].evidence_for[0].text.startswith("100% of keys never expire")


def test_unbounded_growth(redis: RedisServer) -> None:
    fill(redis, 300, 64)
    with AppLoop(redis, lambda c, i: c.set(f"session:{i}:{time.time_ns()}", b"s", ex=HOUR)):
        result = memory(live(redis=(redis.url,)))
    assert_first(result, "unbounded-growth")


def test_no_eviction(redis: RedisServer) -> None:
    client = redis.client()
    client.config_set("maxmemory", "2mb")
    client.config_set("maxmemory-policy", "noeviction")
    pipe = client.pipeline(transaction=False)
    for i in range(20_000):
        pipe.set(f"user:{i}", b"x" * 64, ex=HOUR)
    refused = sum(isinstance(r, Exception) for r in pipe.execute(raise_on_error=False))
    assert refused > 0
    result = memory(live(redis=(redis.url,)))
    assert result.signal.present is True and "refused" in result.signal.summary
    assert_first(result, "no-eviction")
    assert {e.id for e in result.causes[0].evidence_for} == {"policy_cannot_evict", "oom_refusals"}


def test_application_leak(redis: RedisServer) -> None:
    fill(redis, 300, 64)

    def step(client: Any, i: int) -> None:
        # A script with the id in its body: every call caches one more script, forever.
        pipe = client.pipeline(transaction=False)
        for j in range(50):
            pipe.eval(f"return '{i}-{j}-{'x' * 2000}'", 0)
        pipe.execute()

    with AppLoop(redis, step):
        result = memory(live(redis=(redis.url,)))
    assert_first(result, "application-leak")
    assert "Lua scripts cache" in result.causes[0].evidence_for[0].text


def test_client_output_buffers(redis: RedisServer) -> None:
    fill(redis, 300, 64)
    subscriber = socket.socket()
    subscriber.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    subscriber.connect(("127.0.0.1", redis.port))
    try:
        subscriber.sendall(b"*2\r\n$9\r\nSUBSCRIBE\r\n$4\r\nnews\r\n")
        time.sleep(0.1)  # subscribed; from now on it never reads
        client = redis.client()
        message = b"m" * 65536
        for _ in range(160):  # 10 MiB the subscriber does not read
            client.publish("news", message)
        result = memory(live(redis=(redis.url,)))
    finally:
        subscriber.close()
    assert_first(result, "client-buffers")


def test_replication_backlog(redis_factory: Any) -> None:
    primary = redis_factory("--repl-backlog-size", "16mb", "--maxmemory", "256mb")
    primary.client().config_set("maxmemory-policy", "allkeys-lru")
    replica = redis_factory("--replicaof", "127.0.0.1", str(primary.port))
    wait_for_link(replica, "up")
    for _ in range(80):  # 8 MB of writes through the backlog, on 1,000 keys rewritten
        fill(primary, 1000, 100)
    result = memory(live(redis=(primary.url,)))
    assert_first(result, "replication-backlog")


def test_fragmentation_on_recorded_shape_facts() -> None:
    # 6 GiB of RSS for 2 GiB of data, a limit with LRU, TTLs on every key: only fragmentation.
    gib = 2**30
    facts = redis_facts(
        info={
            "memory": {
                "used_memory": 2 * gib,
                "used_memory_rss": 6 * gib,
                "mem_fragmentation_ratio": 3.0,
                "maxmemory": 8 * gib,
                "maxmemory_policy": "allkeys-lru",
                "mem_clients_normal": 2**20,
                "mem_replication_backlog": 0,
            },
            "keyspace": {"db0": {"keys": 1000, "expires": 1000}},
        },
        sample={"keys": []},
    )
    document = {"schema": "cachediag.facts/v1", "targets": [facts]}
    result = symptom_of(document, "memory", load_weights())
    assert result.causes[0].id == "memory.fragmentation"
    assert result.causes[0].verdict == "likely"
    assert {c.verdict for c in result.causes[1:]} <= {"ruled out", "unknown"}
