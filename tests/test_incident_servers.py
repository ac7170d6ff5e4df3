"""Issue 10's incidents on real servers, through the installed `cachediag`: a server at its
connection limit (case 1), asserting the verdict, the remedy and the exit code."""

from __future__ import annotations

import pytest
from servers import MEMCACHED_MAXCONNS_REFUSAL, REDIS_MAXCLIENTS_REFUSAL, ConnectionHog


def by_id(run) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    return {r["id"]: r for r in run.json()["results"]}


# -- case 1 ----------------------------------------------------------------------------------


def test_redis_at_maxclients_is_saturated_not_down(cachediag, redis_factory) -> None:
    server = redis_factory("--maxclients", "50")
    hog = ConnectionHog(server.port, REDIS_MAXCLIENTS_REFUSAL)
    try:
        assert len(hog.held) == 50
        run = cachediag("check", "--json", "--redis", server.url, "--only", "redis.*")
        ping = cachediag("ping", "--json", "--redis", server.url)
        table = cachediag("ping", "--redis", server.url)
        memory = cachediag("memory", "--redis", server.url)
    finally:
        hog.close()
    assert run.code == 1, run.err
    assert run.json()["targets"][0]["status"] == "up"
    results = by_id(run)
    running = results["redis.running"]
    assert running["status"] == "fail"
    assert running["summary"].startswith("up but saturated: at its connection limit (maxclients)")
    assert running["observed"]["cause"] == "saturated"
    assert "Do not restart" in running["remedy"] and "Start or restart" not in running["remedy"]
    assert "Solution 2B" in running["remedy"] and "rejected_connections" in running["remedy"]
    assert results["redis.pool"]["status"] == "fail"
    assert results["redis.connectivity"]["status"] == "pass"
    skipped = [r for r in results.values() if r["status"] == "skip"]
    assert {r["id"] for r in skipped} >= {"redis.hit_rate", "redis.memory", "redis.latency"}
    for r in skipped:
        assert "at its connection limit (maxclients)" in r["summary"], r
        assert "the target is down" not in r["summary"]
    # ping: unhealthy, and why
    assert ping.code == 1
    row = ping.json()["targets"][0]
    assert row["status"] == "unhealthy" and row["error"]["kind"] == "saturated"
    assert row["error"]["limit"] == "maxclients"
    assert "saturated" in table.out and "maxclients" in table.out
    # a step command says the same, not "down"
    assert memory.code == 1 and "up but saturated" in memory.out
    assert "down:" not in memory.out


def test_redis_with_a_password_at_maxclients_is_not_an_auth_failure(
    cachediag, redis_factory
) -> None:
    server = redis_factory("--maxclients", "20", password="s3cret-pw")
    hog = ConnectionHog(server.port, REDIS_MAXCLIENTS_REFUSAL)
    try:
        run = cachediag("check", "--json", "--redis", server.url, "--only", "redis.running")
    finally:
        hog.close()
    running = by_id(run)["redis.running"]
    assert running["status"] == "fail" and "saturated" in running["summary"]
    assert "authentication" not in running["summary"]


def test_memcached_at_its_connection_limit_is_saturated(cachediag, memcached_factory) -> None:
    server = memcached_factory("-c", "50")
    hog = ConnectionHog(server.port, MEMCACHED_MAXCONNS_REFUSAL)
    try:
        run = cachediag("check", "--json", "--memcached", server.address, "--only", "memcached.*")
        ping = cachediag("ping", "--json", "--memcached", server.address)
    finally:
        hog.close()
    assert run.code == 1, run.err
    results = by_id(run)
    running = results["memcached.running"]
    assert running["status"] == "fail"
    assert "saturated" in running["summary"] and "(memcached -c)" in running["summary"]
    assert "not a Memcached server" not in running["summary"]
    assert "Do not restart" in running["remedy"] and "listen_disabled_num" in running["remedy"]
    assert "Solution 2B" in running["remedy"]
    assert results["memcached.hit_rate"]["status"] == "skip"
    assert "connection limit (memcached -c)" in results["memcached.hit_rate"]["summary"]
    assert ping.code == 1
    row = ping.json()["targets"][0]
    assert row["status"] == "unhealthy" and row["error"]["kind"] == "saturated"


@pytest.mark.parametrize("kind", ["redis", "memcached"])
def test_saturated_reason_is_in_the_table_too(
    cachediag, redis_factory, memcached_factory, kind
) -> None:
    if kind == "redis":
        server = redis_factory("--maxclients", "10")
        hog = ConnectionHog(server.port, REDIS_MAXCLIENTS_REFUSAL)
        flag, where = "--redis", server.url
    else:
        mc = memcached_factory("-c", "40")
        hog = ConnectionHog(mc.port, MEMCACHED_MAXCONNS_REFUSAL)
        flag, where = "--memcached", mc.address
    try:
        run = cachediag("check", flag, where, "--only", f"{kind}.running")
    finally:
        hog.close()
    assert run.code == 1
    assert "saturated" in run.out and "Do not restart" in run.out
