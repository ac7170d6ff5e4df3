"""`cachediag watch` on Memcached: the trouble counters that moved in each interval
(issue 10, case 12): writes refused for memory, connections rejected at the limit,
connection yields, items gone before any read."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
from typing import Any

from conftest import cachediag_binary
from test_schemas import assert_valid

from cachediag.render.watch import line, pressure_notes
from cachediag.server.watch import memcached_counters, pressure


def counters(**values: float) -> dict[str, float]:
    base = memcached_counters({"uptime": 10})
    return {**base, "refused_writes": 0.0, **values}


def test_watch_pressure_counts_what_moved_in_the_interval() -> None:
    moved = pressure(
        "memcached",
        counters(refused_writes=10, rejected_connections=2),
        counters(refused_writes=250, rejected_connections=5, conn_yields=1, uptime=11),
    )
    assert moved["refused_writes"] == 240 and moved["rejected_connections"] == 3
    assert moved["conn_yields"] == 1 and moved["listen_disabled"] == 0
    # A restart (or a counter going back) is a reset, not a negative rate.
    reset = pressure("memcached", counters(refused_writes=5, uptime=100), counters(uptime=1))
    assert set(reset.values()) == {None}
    assert pressure("redis", counters(), counters()) == {}


def test_watch_says_in_words_what_moved() -> None:
    row = {
        "target": "memcached://127.0.0.1:11211",
        "kind": "memcached",
        "status": "up",
        "ops_per_sec": 10.0,
        "hit_rate": None,
        "used_memory": 1024,
        "clients": 3,
        "evictions_per_sec": 0.0,
        "expired_per_sec": 0.0,
        "keys": 5,
        "refused_writes": 240,
        "rejected_connections": 3,
        "conn_yields": 0,
    }
    assert pressure_notes(row) == [
        "240 writes refused (SERVER_ERROR out of memory)",
        "3 connections rejected at the connection limit",
    ]
    text = line([row], "12:00:00")
    assert text.endswith(
        "! 240 writes refused (SERVER_ERROR out of memory); "
        "3 connections rejected at the connection limit"
    )
    assert pressure_notes({**row, "refused_writes": 0, "rejected_connections": None}) == []


def test_watch_shows_writes_refused_in_the_interval(cachediag, memcached_factory) -> None:
    server = memcached_factory("-m", "2", "-M")
    client = server.client()
    stop = threading.Event()
    refused = 0

    def write() -> None:
        nonlocal refused
        i = 0
        while not stop.is_set():
            try:
                client.set(f"k{i}", b"x" * 2000, noreply=False)
            except Exception:  # noqa: BLE001 - SERVER_ERROR out of memory once full
                refused += 1
            i += 1

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    try:
        time.sleep(0.5)  # past 2 MB: every write is refused from here on
        run = cachediag(
            "watch", "--memcached", server.address, "--count", "2", "--interval", "0.5", "--json"
        )
    finally:
        stop.set()
        thread.join(5)
    assert run.code == 0, run.err
    lines = [json.loads(line) for line in run.out.splitlines()]
    for document in lines:
        assert_valid("watch", document)
    rows = [doc["targets"][0] for doc in lines if doc["type"] == "interval"]
    assert all(row["refused_writes"] > 0 for row in rows)
    summary = lines[-1]["targets"][server_name(server)]
    assert summary["pressure"]["refused_writes"] == sum(row["refused_writes"] for row in rows)
    assert 0 < summary["pressure"]["refused_writes"] <= refused


def server_name(server: Any) -> str:
    return f"memcached://{server.address}"


def test_watch_shows_connections_rejected_at_the_limit(memcached_factory, tmp_path) -> None:
    server = memcached_factory("-c", "30")
    held: list[socket.socket] = []
    stop = threading.Event()

    def knock() -> None:
        # Hold connections past the limit, then keep knocking: each knock is rejected.
        while not stop.is_set():
            try:
                conn = socket.create_connection(("127.0.0.1", server.port), timeout=1)
            except OSError:
                continue
            if len(held) < 40:
                held.append(conn)
            else:
                conn.close()
            time.sleep(0.01)

    env = {k: v for k, v in os.environ.items() if not k.startswith(("CACHEDIAG_", "REDISCLI_"))}
    proc = subprocess.Popen(
        [cachediag_binary(), "watch", "--memcached", server.address, "--interval", "0.5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    thread = threading.Thread(target=knock, daemon=True)
    try:
        assert proc.stdout is not None
        # The first interval's line: watch holds its connection before the limit is reached.
        assert "ops/s" in proc.stdout.readline()
        thread.start()
        found = ""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and "rejected" not in found:
            found = proc.stdout.readline()
    finally:
        stop.set()
        thread.join(5)
        proc.terminate()
        proc.communicate(timeout=10)
        for conn in held:
            conn.close()
    assert "connections rejected at the connection limit" in found, found
