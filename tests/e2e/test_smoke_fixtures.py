"""The fixtures themselves: servers start, answer and are configured as asked."""

from __future__ import annotations


def test_redis_fixture_answers(redis_server) -> None:
    assert redis_server.cli("PING").strip() == "PONG"
    assert "allkeys-lru" in redis_server.cli("CONFIG", "GET", "maxmemory-policy")


def test_memcached_fixture_answers(memcached_server) -> None:
    client = memcached_server.client()
    client.set("k", b"v")
    assert client.get("k") == b"v"
