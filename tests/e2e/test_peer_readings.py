"""Issue 10, case 12 (Redis): readings redis-cli gives that cachediag lacked.

`redis-cli --stat`'s blocked clients and new connections, rejected connections in
`watch` and in check's connections item, and `redis-cli --bigkeys`' total and average
key length, each against a real server set up to show it.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time

from conftest import cachediag_binary
from servers import ConnectionFlood, fill_connections, require
from test_schemas import assert_valid


def _watch(server_url: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [cachediag_binary(), "watch", "--redis", server_url, "--json", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _intervals(proc: subprocess.Popen[str]) -> list[dict]:
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    docs = [json.loads(line) for line in out.splitlines()]
    for doc in docs:
        assert_valid("watch", doc)
    return [d["targets"][0] for d in docs if d["type"] == "interval"]


def test_watch_shows_blocked_clients_and_new_connections(cachediag, redis_server) -> None:
    blocker = redis_server.client()
    waiting = threading.Thread(target=lambda: blocker.blpop("queue:empty", timeout=10))
    waiting.start()
    try:
        with ConnectionFlood(redis_server.port):
            rows = _intervals(_watch(redis_server.url, "--count", "2", "--interval", "0.5"))
            piped = cachediag("watch", "--redis", redis_server.url, "--count", "1")
    finally:
        redis_server.client().rpush("queue:empty", "done")  # the blocked client returns
        waiting.join(10)
    for row in rows:
        assert row["blocked_clients"] == 1, row
        assert row["new_connections"] > 5 and row["connections_per_sec"] > 10
        assert row["rejected_connections"] == 0
    assert re.search(r"blocked \d+ conn/s [\d,.]+ rejected 0", piped.out), piped.out


def _wait_for_clients(client, count: int) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 10
    while client.info("clients")["connected_clients"] < count:
        assert time.monotonic() < deadline, "cachediag never connected"
        time.sleep(0.02)


def test_watch_counts_rejected_connections_at_maxclients(redis_factory) -> None:
    server = redis_factory("--maxclients", "8")
    admin = server.client()
    admin.ping()
    baseline = admin.info("clients")["connected_clients"]
    proc = _watch(server.url, "--count", "3", "--interval", "0.5")
    _wait_for_clients(admin, baseline + 1)  # watch is connected and keeps its connection
    held = fill_connections(server.port, 8 - baseline - 1)
    try:
        with ConnectionFlood(server.port):
            rows = _intervals(proc)
    finally:
        for sock in held:
            sock.close()
    assert sum(row["rejected_connections"] for row in rows) > 5, rows
    assert rows[-1]["rejected_connections"] > 0


def test_check_fails_the_pool_when_connections_are_rejected_now(cachediag, redis_factory) -> None:
    server = redis_factory("--maxclients", "8")
    admin = server.client()
    admin.ping()
    baseline = admin.info("clients")["connected_clients"]
    proc = subprocess.Popen(
        [
            cachediag_binary(),
            "check",
            "--json",
            "--redis",
            server.url,
            "--only",
            "redis.pool",
            "--window",
            "3",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for_clients(admin, baseline + 1)
    time.sleep(0.3)  # past the window's first reading
    held = fill_connections(server.port, 8 - baseline - 1)
    try:
        with ConnectionFlood(server.port):
            out, _ = proc.communicate(timeout=30)
    finally:
        for sock in held:
            sock.close()
    (result,) = json.loads(out)["results"]
    assert result["status"] == "fail", result
    assert result["observed"]["rejected_in_window"] > 0
    assert "rejected in the last 3.0 s" in result["summary"]
    assert "Solution 2B" in result["remedy"]
    assert proc.returncode == 1


def test_pool_passes_with_no_rejections_in_the_window(cachediag, redis_server) -> None:
    run = cachediag("check", "--json", "--redis", redis_server.url, "--only", "redis.pool")
    (result,) = run.json()["results"]
    assert result["status"] == "pass" and result["observed"]["rejected_in_window"] == 0


def test_key_lengths_agree_with_redis_cli_bigkeys(cachediag, redis_server) -> None:
    client = redis_server.client()
    pipe = client.pipeline(transaction=False)
    for i in range(700):
        pipe.set(f"user:{i}:profile", "x" * 10)
    for i in range(120):
        pipe.hset(f"cart:{i}", "item", "1")
    pipe.rpush("a-much-longer-queue-name:with:segments", "job")
    pipe.execute()
    reference = subprocess.run(
        [require("redis-cli"), "-p", str(redis_server.port), "--bigkeys"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    match = re.search(r"Total key length in bytes is (\d+) \(avg len ([\d.]+)\)", reference)
    assert match, reference
    doc = cachediag("bigkeys", "--redis", redis_server.url, "--max-keys", "0", "--json").json()
    totals = doc["targets"][0]["totals"]
    assert totals["key_bytes"] == int(match.group(1))
    assert f"{totals['average_key_bytes']:.2f}" == match.group(2)
    sampled = re.search(r"Sampled (\d+) keys", reference)
    assert sampled and totals["keys"] == int(sampled.group(1))
    text = cachediag("bigkeys", "--redis", redis_server.url, "--max-keys", "0")
    assert f"key names: {totals['key_bytes']:,} bytes in total, {match.group(2)} on average" in (
        text.out
    )
