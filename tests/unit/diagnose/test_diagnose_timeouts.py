"""Issue 2's causes on real servers: down, saturated, stalling, the pool (from the app's log),
a slow network path (a relay that holds replies), a timeout set too tight; and two at once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from diagnose_helpers import assert_first, live, symptom_of
from servers import (
    REDIS_MAXCLIENTS_REFUSAL,
    ConnectionHog,
    DelayProxy,
    RedisServer,
    Staller,
    free_port,
    start_redis,
)

from cachediag.diagnose.weights import load_weights, with_params


@pytest.fixture(scope="module")
def healthy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = start_redis(tmp_path_factory.mktemp("diagnose-timeouts"))
    yield server
    server.stop()


def timeouts(
    facts: dict[str, Any], app_timeout_ms: float | None = None, steady: bool = False
) -> Any:
    """The timeouts diagnosis; `steady`: a scenario that does not vary the path's latency.

    A loaded test machine stalls loopback round trips past 10 ms now and then: real slow
    round trips, but not what such a scenario is about, so their threshold is raised for
    it (a param of the weights: data).
    """
    weights = load_weights()
    if steady:
        weights = with_params(weights, "timeouts.network", slow_us=10**9)
    if app_timeout_ms is not None:
        weights = with_params(
            weights, "timeouts.timeout-too-aggressive", app_timeout_ms=app_timeout_ms
        )
    return symptom_of(facts, "timeouts", weights)


def test_backend_down() -> None:
    result = timeouts(live(redis=(f"redis://127.0.0.1:{free_port()}",)), steady=True)
    assert result.signal.present is True
    assert_first(result, "backend-down")
    assert "refused" in result.causes[0].evidence_for[0].text


def test_backend_saturated(redis_factory: Any) -> None:
    server = redis_factory("--maxclients", "20")
    hog = ConnectionHog(server.port, REDIS_MAXCLIENTS_REFUSAL)
    try:
        result = timeouts(live(redis=(server.url,)), steady=True)
    finally:
        hog.close()
    assert_first(result, "backend-saturated")
    verdicts = {c.id: c.verdict for c in result.causes}
    assert verdicts["timeouts.backend-down"] == "ruled out"  # it answered, with a refusal


def test_server_stalls_and_the_latency_monitor_named_as_missing(redis_factory: Any) -> None:
    server = redis_factory("--enable-debug-command", "yes")
    with Staller(server, 0.03):
        result = timeouts(live(redis=(server.url,)))
    assert_first(result, "server-stalls")
    stalls = result.causes[0]
    assert "DEBUG" in stalls.evidence_for[0].text
    (monitor,) = [m for m in stalls.missing if m.id == "latency_monitor"]
    assert monitor.what.startswith("latency monitoring is off")
    assert monitor.how == (
        "CONFIG SET latency-monitor-threshold 10 (a write; cachediag will not do it for you)"
    )


def test_pool_exhausted_from_the_applications_log(healthy: RedisServer, tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text(
        "".join(
            f"2026-12-01T10:00:{i:02d}Z ERROR Connection pool exhausted: 10 active, 3 waiting\n"
            for i in range(12)
        )
    )
    result = timeouts(live(redis=(healthy.url,), logs=(log,)), steady=True)
    assert result.signal.present is True
    assert_first(result, "pool-exhausted")
    pool = result.causes[0]
    assert "Connection pool exhausted" in pool.evidence_for[0].text
    assert any("(cores × 2) + 1" in e.text for e in pool.evidence_for)


def test_without_a_log_the_pool_is_unknown_and_the_flag_is_named(healthy: RedisServer) -> None:
    result = timeouts(live(redis=(healthy.url,)), steady=True)
    pool = next(c for c in result.causes if c.id == "timeouts.pool-exhausted")
    assert pool.verdict == "unknown"
    assert [(m.id, m.how) for m in pool.missing] == [("log", "--log FILE")]


def test_slow_network_path(healthy: RedisServer) -> None:
    with DelayProxy(healthy.port, 0.015) as proxy:
        result = timeouts(live(redis=(f"redis://127.0.0.1:{proxy.port}",)))
    assert_first(result, "network")
    assert "no server stall" in result.causes[0].evidence_for[0].text


def test_timeout_too_aggressive(healthy: RedisServer) -> None:
    # A loopback Redis answers in tens of µs: a 0.02 ms timeout is below its round trips.
    facts = live(redis=(healthy.url,))
    without = timeouts(facts, steady=True)
    tight = next(c for c in without.causes if c.id == "timeouts.timeout-too-aggressive")
    assert tight.verdict == "unknown"
    assert [m.how for m in tight.missing] == ["--app-timeout MS"]
    result = timeouts(facts, app_timeout_ms=0.02, steady=True)
    assert_first(result, "timeout-too-aggressive")


def test_two_causes_slow_path_and_a_tight_timeout(healthy: RedisServer) -> None:
    with DelayProxy(healthy.port, 0.015) as proxy:
        facts = live(redis=(f"redis://127.0.0.1:{proxy.port}",))
    result = timeouts(facts, app_timeout_ms=25)
    assert_first(result, "network", "timeout-too-aggressive")
