"""`cachediag watch`: rates from two snapshots, piped lines, JSON lines, Ctrl-C with a summary."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest
from conftest import cachediag_binary

from cachediag.server.watch import Totals, rates


def snapshot(**values: float) -> dict[str, float]:
    base = {
        "ops": 0,
        "hits": 0,
        "misses": 0,
        "evicted": 0,
        "expired": 0,
        "used_memory": 1000,
        "clients": 1,
        "keys": 0,
        "uptime": 10,
    }
    return {**base, **values}


def test_rates_over_an_interval() -> None:
    row = rates(
        "redis",
        snapshot(ops=100, hits=10, misses=10),
        snapshot(ops=301, hits=40, misses=20, evicted=6, expired=2),
        2.0,
    )
    # 201 commands minus our own INFO, over 2 s.
    assert row["ops_per_sec"] == 100.0
    assert row["hit_rate"] == 0.75 and row["lookups"] == 40
    assert row["evictions_per_sec"] == 3.0 and row["expired_per_sec"] == 1.0
    assert rates("memcached", snapshot(ops=0), snapshot(ops=10), 1.0)["ops_per_sec"] == 10.0


def test_no_lookups_means_no_hit_rate_and_a_restart_reads_as_reset() -> None:
    assert rates("redis", snapshot(), snapshot(ops=1), 1.0)["hit_rate"] is None
    reset = rates("redis", snapshot(ops=500, uptime=100), snapshot(ops=3, uptime=1), 1.0)
    assert reset["reset"] is True and reset["ops_per_sec"] is None


def test_totals_summarize_the_intervals() -> None:
    totals = Totals()
    totals.add(
        {
            "status": "up",
            **rates("redis", snapshot(), snapshot(ops=11, hits=3, misses=1, used_memory=10), 1.0),
        },
        1.0,
    )
    totals.add(
        {
            "status": "up",
            **rates("redis", snapshot(), snapshot(ops=21, hits=1, misses=3, used_memory=30), 1.0),
        },
        1.0,
    )
    totals.add({"status": "down", "error": {"message": "x"}}, 1.0)
    summary = totals.to_dict()
    assert summary["intervals"] == 2 and summary["ops"] == 30 and summary["avg_ops_per_sec"] == 15.0
    assert summary["peak_ops_per_sec"] == 20.0 and summary["hit_rate"] == 0.5
    assert (summary["memory_first"], summary["memory_last"], summary["memory_max"]) == (10, 30, 30)
    assert summary["failed_polls"] == 1


@pytest.fixture
def traffic(redis_server, memcached_server) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """Half hits, half misses on both servers until the test ends."""
    stop = threading.Event()
    redis_client, mc = redis_server.client(), memcached_server.client()
    redis_client.set("present", "1")
    mc.set("present", b"1")

    def run() -> None:
        while not stop.is_set():
            redis_client.get("present")
            redis_client.get("absent")
            mc.get("present")
            mc.get("absent")
            time.sleep(0.002)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(5)


def test_count_2_json_lines_side_by_side(
    cachediag, redis_server, memcached_server, traffic
) -> None:
    run = cachediag(
        "watch",
        "--redis",
        redis_server.url,
        "--memcached",
        memcached_server.address,
        "--count",
        "2",
        "--interval",
        "0.4",
        "--json",
    )
    assert run.code == 0, run.err
    docs = [json.loads(line) for line in run.out.splitlines()]
    assert [d["type"] for d in docs] == ["interval", "interval", "summary"]
    assert all(d["schema"] == "cachediag.watch/v1" for d in docs)
    for interval in docs[:2]:
        redis_row, mc_row = interval["targets"]
        assert redis_row["kind"] == "redis" and mc_row["kind"] == "memcached"
        for row in (redis_row, mc_row):
            assert row["ops_per_sec"] > 10
            assert row["hit_rate"] == pytest.approx(0.5, abs=0.1)
            assert row["clients"] >= 2 and row["used_memory"] > 0 and row["keys"] >= 1
            assert row["evictions_per_sec"] == 0
    summary = docs[2]["targets"]
    assert summary[redis_server.url]["intervals"] == 2
    assert summary[redis_server.url]["hit_rate"] == pytest.approx(0.5, abs=0.1)


def test_piped_one_line_per_interval_and_summary_on_stderr(
    cachediag, redis_server, memcached_server
) -> None:
    run = cachediag(
        "watch",
        "--redis",
        redis_server.url,
        "--memcached",
        memcached_server.address,
        "--count",
        "2",
        "--interval",
        "0.2",
    )
    assert run.code == 0, run.err
    lines = run.out.splitlines()
    assert len(lines) == 2
    for line in lines:
        assert (
            redis_server.url in line
            and " | memcached://" in line
            and "ops/s" in line
            and "hit" in line
        )
    assert "watch summary" in run.err


def test_down_target_shown_and_exit_1(cachediag, redis_server, closed_port) -> None:
    run = cachediag(
        "watch",
        "--redis",
        redis_server.url,
        "--memcached",
        f"127.0.0.1:{closed_port}",
        "--count",
        "1",
        "--interval",
        "0.2",
    )
    assert run.code == 1
    assert "down: connection to" in run.out and "refused" in run.out
    assert "ops/s" in run.out


def test_evictions_per_second_on_a_full_cache(cachediag, memcached_factory) -> None:
    server = memcached_factory("-m", "2")
    client = server.client()
    stop = threading.Event()

    def fill() -> None:
        i = 0
        while not stop.is_set():
            client.set(f"k{i}", b"x" * 2000)
            i += 1

    thread = threading.Thread(target=fill, daemon=True)
    thread.start()
    try:
        time.sleep(0.5)  # past 2 MB
        run = cachediag(
            "watch", "--memcached", server.address, "--count", "1", "--interval", "0.5", "--json"
        )
    finally:
        stop.set()
        thread.join(5)
    interval = json.loads(run.out.splitlines()[0])
    assert interval["targets"][0]["evictions_per_sec"] > 0


def test_ctrl_c_exits_cleanly_with_a_summary(redis_server, tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CACHEDIAG_", "REDISCLI_"))}
    proc = subprocess.Popen(
        [cachediag_binary(), "watch", "--redis", redis_server.url, "--interval", "0.2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
        env=env,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()  # waits for the first interval
    assert b"ops/s" in first
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert b"watch summary" in err and b"Traceback" not in err
