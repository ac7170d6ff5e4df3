"""`cachediag latency`: microsecond round trips, the guide's verdict, live and piped modes."""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest
from conftest import cachediag_binary
from servers import LoopbackServer

from cachediag.server.latency import histogram, verdict


class DelayingProxy(LoopbackServer):
    """Forwards a TCP connection to a real server, holding every reply back by `delay` seconds.

    A slow network between cachediag and a healthy Redis, made in the test.
    """

    def __init__(self, upstream_port: int, delay: float) -> None:
        self.upstream_port = upstream_port
        self.delay = delay
        super().__init__()

    def handle(self, conn: socket.socket) -> None:
        upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
        self.connections.append(upstream)
        threading.Thread(target=self._pump, args=(conn, upstream, 0.0), daemon=True).start()
        threading.Thread(target=self._pump, args=(upstream, conn, self.delay), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket, delay: float) -> None:
        while True:
            try:
                data = source.recv(65536)
                if not data:
                    sink.close()
                    return
                time.sleep(delay)
                sink.sendall(data)
            except OSError:
                return


@pytest.fixture
def slow_proxy(redis_server) -> Iterator:  # type: ignore[no-untyped-def]
    proxies: list[DelayingProxy] = []

    def make(delay: float) -> DelayingProxy:
        proxy = DelayingProxy(redis_server.port, delay)
        proxies.append(proxy)
        return proxy

    yield make
    for proxy in proxies:
        proxy.close()


# -- pure judgement ---------------------------------------------------------------------


def _summary(p50: int, p99: int) -> dict[str, int]:
    return {
        "samples": 100,
        "min_us": p50,
        "p50_us": p50,
        "p99_us": p99,
        "max_us": p99,
        "avg_us": p50,
    }


@pytest.mark.parametrize(
    ("p50", "band", "status"),
    [
        (80, "good", "pass"),
        (999, "good", "pass"),
        (4_000, "acceptable", "pass"),
        (10_001, "slow network", "warn"),
        (150_000, "degraded", "fail"),
    ],
)
def test_verdict_bands_follow_the_guide(p50: int, band: str, status: str) -> None:
    result = verdict(_summary(p50, p50))
    assert (result["band"], result["status"]) == (band, status)


def test_a_slow_tail_under_a_good_median_is_flagged_as_spikes() -> None:
    result = verdict(_summary(90, 250_000))
    assert result["band"] == "good" and result["p99_band"] == "degraded"
    assert result["status"] == "warn" and "spikes" in result["text"]
    # An "acceptable" tail is ordinary jitter, not worth a warning.
    assert verdict(_summary(90, 3_000))["status"] == "pass"


def test_thresholds_come_from_the_caller() -> None:
    assert verdict(_summary(6_000, 6_000), slow_above_us=5_000)["band"] == "slow network"


def test_histogram_spans_first_to_last_used_bucket() -> None:
    buckets = histogram([30, 40, 700, 2_000_000])
    assert buckets[0] == {"le_us": 50, "count": 2}
    assert buckets[-1] == {"le_us": None, "count": 1}
    assert sum(b["count"] for b in buckets) == 4
    assert {"le_us": 1_000, "count": 1} in buckets
    assert histogram([]) == []


# -- against real servers ---------------------------------------------------------------


def test_loopback_redis_is_good_with_connect_time_apart(cachediag, redis_server) -> None:
    run = cachediag(
        "latency", "--redis", redis_server.url, "--samples", "50", "--interval", "0", "--json"
    )
    assert run.code == 0, run.err
    doc = run.json()
    assert doc["schema"] == "cachediag.latency/v1"
    (row,) = doc["targets"]
    assert row["status"] == "up" and row["connect"]["command"] == "PING"
    assert row["summary"]["samples"] == 50
    assert 0 < row["summary"]["min_us"] <= row["summary"]["p50_us"] <= row["summary"]["max_us"]
    assert row["connect"]["tcp_us"] > 0 and row["connect"]["auth_us"] is None
    assert row["verdict"]["status"] == "pass"


def test_auth_time_is_reported_apart(cachediag, redis_factory) -> None:
    server = redis_factory(password="s3cret")
    run = cachediag("latency", "--redis", server.url, "--samples", "5", "--interval", "0", "--json")
    assert run.code == 0, run.err
    (row,) = run.json()["targets"]
    assert row["connect"]["auth_us"] > 0
    assert "s3cret" not in run.out


def test_memcached_is_timed_with_meta_noop(cachediag, memcached_server) -> None:
    run = cachediag(
        "latency",
        "--memcached",
        memcached_server.address,
        "--samples",
        "20",
        "--interval",
        "0",
        "--json",
    )
    assert run.code == 0, run.err
    (row,) = run.json()["targets"]
    assert row["connect"]["command"] == "mn"
    assert row["summary"]["samples"] == 20


def test_a_slow_network_changes_the_verdict(cachediag, redis_server, slow_proxy) -> None:
    fast = cachediag(
        "latency", "--redis", redis_server.url, "--samples", "5", "--interval", "0", "--json"
    )
    slow = cachediag(
        "latency",
        "--redis",
        f"redis://127.0.0.1:{slow_proxy(0.02).port}",
        "--samples",
        "5",
        "--interval",
        "0",
        "--json",
    )
    assert fast.json()["targets"][0]["verdict"]["band"] == "good"
    (row,) = slow.json()["targets"]
    assert row["summary"]["p50_us"] > 20_000
    assert row["verdict"]["band"] == "slow network" and row["verdict"]["status"] == "warn"
    assert slow.code == 0  # slow is a warning, not a failure


def test_a_degraded_link_fails(cachediag, slow_proxy) -> None:
    run = cachediag(
        "latency",
        "--redis",
        f"redis://127.0.0.1:{slow_proxy(0.12).port}",
        "--samples",
        "3",
        "--interval",
        "0",
    )
    assert run.code == 1
    assert "degraded" in run.out and "over 100" in run.out


def test_a_reply_slower_than_the_timeout_stops_that_target(cachediag, slow_proxy) -> None:
    run = cachediag(
        "latency",
        "--redis",
        f"redis://127.0.0.1:{slow_proxy(0.4).port}",
        "--timeout",
        "0.3",
        "--samples",
        "3",
        "--json",
    )
    assert run.code == 1
    (row,) = run.json()["targets"]
    assert row["status"] == "down" and "timed out" in row["error"]["message"]


def test_down_target_beside_a_live_one(cachediag, redis_server, closed_port) -> None:
    run = cachediag(
        "latency",
        "--redis",
        redis_server.url,
        "--memcached",
        f"127.0.0.1:{closed_port}",
        "--samples",
        "5",
        "--interval",
        "0",
        "--json",
    )
    assert run.code == 1
    up, down = run.json()["targets"]
    assert up["summary"]["samples"] == 5
    assert (
        down["status"] == "down"
        and "refused" in down["error"]["message"]
        and down["summary"] is None
    )


def test_history_prints_timestamped_windows_and_dist_draws_bars(cachediag, redis_server) -> None:
    run = cachediag(
        "latency",
        "--redis",
        redis_server.url,
        "--duration",
        "0.7",
        "--history",
        "0.2",
        "--interval",
        "1",
        "--dist",
    )
    assert run.code == 0, run.err
    windows = [
        line
        for line in run.out.splitlines()
        if re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ  redis://", line)
    ]
    assert len(windows) >= 2
    assert all("p50" in line and "samples)" in line for line in windows)
    assert "distribution of redis://" in run.out and "█" in run.out

    doc = cachediag(
        "latency",
        "--redis",
        redis_server.url,
        "--duration",
        "0.5",
        "--history",
        "0.2",
        "--interval",
        "1",
        "--json",
    ).json()
    history = doc["targets"][0]["history"]
    assert len(history) >= 2
    assert sum(h["samples"] for h in history) == doc["targets"][0]["summary"]["samples"]


def test_piped_without_bounds_ends_by_itself(cachediag, redis_server) -> None:
    run = cachediag("latency", "--redis", redis_server.url, "--interval", "0", "--json", timeout=30)
    assert run.code == 0
    assert run.json()["targets"][0]["summary"]["samples"] == 500


def test_live_on_a_terminal_until_ctrl_c(redis_server, tmp_path) -> None:
    """On a terminal the figures redraw in place; Ctrl-C ends with the report, exit 0."""
    main, secondary = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CACHEDIAG_", "REDISCLI_"))}
    proc = subprocess.Popen(
        [cachediag_binary(), "latency", "--redis", redis_server.url],
        stdin=secondary,
        stdout=secondary,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
        env={**env, "COLUMNS": "150"},
    )
    os.close(secondary)
    seen = b""
    deadline = time.monotonic() + 20
    while b"samples" not in seen and time.monotonic() < deadline:
        if select.select([main], [], [], 0.2)[0]:
            seen += os.read(main, 65536)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    code = proc.wait(10)
    while select.select([main], [], [], 0.2)[0]:
        try:
            chunk = os.read(main, 65536)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    os.close(main)
    text = seen.decode("utf-8", "replace")
    assert code == 0, proc.stderr.read().decode() if proc.stderr else ""
    assert "Round-trip latency" in text and "typical round trip" in text


def test_tls_handshake_is_reported_apart(cachediag, redis_factory) -> None:
    server = redis_factory(tls=True)
    run = cachediag(
        "latency",
        "--redis",
        server.url,
        "--tls-ca",
        str(server.workdir / "ca.crt"),
        "--samples",
        "20",
        "--interval",
        "0",
        "--json",
    )
    assert run.code == 0, run.err
    (row,) = run.json()["targets"]
    assert row["connect"]["tls_us"] > 0 and row["connect"]["tcp_us"] > 0
    assert row["summary"]["samples"] == 20
