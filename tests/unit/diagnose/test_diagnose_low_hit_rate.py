"""Issue 1's causes on a real Redis: one scenario per cause, each made so that exactly that
cause is present, and one with two at once.

An application thread (servers.AppLoop) does what a cache-aside reader does while the
facts are collected over a short window; `diagnose` then ranks the causes. One Redis is
shared by the scenarios (reset between them: flushed, counters zeroed, limits off).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from servers import AppLoop, RedisServer, cache_aside, reset_redis, start_redis

from cachediag.diagnose.engine import diagnose
from cachediag.diagnose.model import SymptomResult
from cachediag.diagnose.weights import load_weights

WINDOW_S = 0.6
CAUSES = (
    "keys-not-reused",
    "ttl-too-short",
    "nondeterministic-keys",
    "cache-cleared",
    "data-not-cached",
    "memory-pressure",
    "cold-cache",
)


@pytest.fixture(scope="module")
def shared_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = start_redis(tmp_path_factory.mktemp("diagnose-redis"))
    yield server
    server.stop()


@pytest.fixture
def redis(shared_redis: RedisServer) -> RedisServer:
    reset_redis(shared_redis)
    return shared_redis


def collect(server: RedisServer, **kwargs: Any) -> dict[str, Any]:
    """The facts diagnose reads live: check's, over a short window."""
    from cachediag.diagnose.sources import live_facts
    from cachediag.targets.parse import TargetRequest, resolve_targets

    targets = resolve_targets(TargetRequest(redis_flags=(server.url,)))
    return live_facts(targets, 2.0, kwargs.pop("sample_keys", 300), WINDOW_S, None, None)


def low_hit_rate(facts: dict[str, Any]) -> SymptomResult:
    (result,) = diagnose(facts, load_weights(), "low-hit-rate").symptoms
    return result


def verdicts(result: SymptomResult) -> dict[str, str]:
    return {c.id.split(".", 1)[1]: c.verdict for c in result.causes}


def assert_only(result: SymptomResult, expected: str) -> None:
    """`expected` ranks first and is likely; every other cause is ruled out or unknown."""
    table = [(c.id, c.verdict, c.score, [e.text for e in c.evidence_for]) for c in result.causes]
    assert result.causes[0].id == f"low-hit-rate.{expected}", table
    assert result.causes[0].verdict == "likely", table
    others = {k: v for k, v in verdicts(result).items() if k != expected}
    assert set(others) == set(CAUSES) - {expected}
    assert set(others.values()) <= {"ruled out", "unknown"}, table


def run_app(
    server: RedisServer, step: Callable[[Any, int], None], warmup_s: float = 0.0, **kwargs: Any
) -> dict:
    """The facts, collected while the application runs (for `warmup_s` before they are)."""
    with AppLoop(server, step):
        time.sleep(warmup_s)
        return collect(server, **kwargs)


# -- one cause each ---------------------------------------------------------------------------


def test_ttl_too_short(redis: RedisServer) -> None:
    # 5,000 users read in turn, cached for 1 s: each is read again after its entry expired
    # (once the first entries have: the keyspace stops growing when expiries keep pace).
    facts = run_app(redis, lambda c, i: cache_aside(c, f"user:{i % 5000}", ttl=1), warmup_s=1.2)
    result = low_hit_rate(facts)
    assert_only(result, "ttl-too-short")
    assert result.signal.present is True  # nearly every lookup misses
    ttl = result.causes[0]
    assert {e.id for e in ttl.evidence_for} >= {"expiries_match_writes", "sample_ttls_short"}


def test_keys_not_reused(redis: RedisServer) -> None:
    # Each search caches its own key (a hash of the query), never asked for again.
    rng = random.Random(7)
    facts = run_app(redis, lambda c, i: cache_aside(c, f"search:{rng.getrandbits(64):016x}"))
    result = low_hit_rate(facts)
    assert_only(result, "keys-not-reused")
    assert result.causes[0].evidence_for[0].id == "keys_grow_with_misses"


def test_nondeterministic_keys(redis: RedisServer) -> None:
    # The key carries the time of the request: 50 users, a new key for each read.
    def step(client: Any, i: int) -> None:
        cache_aside(client, f"user:{i % 50}:{time.time_ns() // 1_000_000}")

    result = low_hit_rate(run_app(redis, step))
    assert_only(result, "nondeterministic-keys")
    assert "epoch milliseconds" in result.causes[0].evidence_for[0].text


def test_cache_cleared(redis: RedisServer) -> None:
    # 200 users, and something flushing the cache every 220 requests.
    def step(client: Any, i: int) -> None:
        cache_aside(client, f"user:{i % 200}")
        if i % 220 == 219:
            client.flushdb()

    result = low_hit_rate(run_app(redis, step, warmup_s=0.3))
    assert_only(result, "cache-cleared")
    cleared = result.causes[0]
    assert cleared.evidence_for[0].id == "flushes_in_window"
    # without --log, the FLUSHDB lines the application logs are named as missing
    assert any(m.id == "log" and m.how == "--log FILE" for m in cleared.missing)


def test_data_not_cached(redis: RedisServer) -> None:
    # CacheStrategy::Fresh: reads the cache only, never writes what it missed.
    for i in range(50):
        redis.client().set(f"user:{i}", b"x" * 64)
    rng = random.Random(3)
    facts = run_app(redis, lambda c, i: c.get(f"user:{rng.randrange(50, 100_000)}"))
    assert_only(low_hit_rate(facts), "data-not-cached")


def test_memory_pressure(redis: RedisServer) -> None:
    client = redis.client()
    client.config_set("maxmemory", "4mb")
    client.config_set("maxmemory-policy", "allkeys-lru")
    value = b"v" * 1024
    for start in range(0, 6000, 500):  # full before the window: 6 MB of 1 KiB entries
        pipe = client.pipeline(transaction=False)
        for i in range(start, start + 500):
            pipe.set(f"product:{i}", value)
        pipe.execute()
    rng = random.Random(5)
    facts = run_app(redis, lambda c, i: cache_aside(c, f"product:{rng.randrange(20_000)}", value))
    result = low_hit_rate(facts)
    assert_only(result, "memory-pressure")
    assert {e.id for e in result.causes[0].evidence_for} >= {"evictions_in_window"}


def test_cold_cache(redis: RedisServer) -> None:
    # Just started and filled: 3,000 misses, then the same users read back (all hits).
    client = redis.client()
    for start in range(0, 3000, 500):
        pipe = client.pipeline(transaction=False)
        for i in range(start, start + 500):
            pipe.get(f"user:{i}")
            pipe.set(f"user:{i}", b"x" * 64)
        pipe.execute()
    rng = random.Random(11)
    facts = run_app(redis, lambda c, i: cache_aside(c, f"user:{rng.randrange(3000)}"))
    result = low_hit_rate(facts)
    assert_only(result, "cold-cache")
    assert result.causes[0].evidence_for[-1].id == "hit_rate_climbing"


# -- two at once ------------------------------------------------------------------------------


def test_two_causes_rank_above_the_rest(redis: RedisServer) -> None:
    # Keys with the time in them, and a cache flushed every 150 requests.
    def step(client: Any, i: int) -> None:
        cache_aside(client, f"user:{i % 50}:{time.time_ns() // 1_000_000}")
        if i % 150 == 149:
            client.flushdb()

    result = low_hit_rate(run_app(redis, step, warmup_s=0.3))
    top = {c.id.split(".", 1)[1] for c in result.causes[:2]}
    assert top == {"nondeterministic-keys", "cache-cleared"}, verdicts(result)
    assert [c.verdict for c in result.causes[:2]] == ["likely", "likely"]
    assert {c.verdict for c in result.causes[2:]} <= {"ruled out", "unknown"}, verdicts(result)


# -- offline: the same facts give the same ranking --------------------------------------------


def test_facts_file_gives_the_same_ranking(redis: RedisServer, tmp_path: Path) -> None:
    import json

    from cachediag.diagnose.sources import read_facts_file

    facts = run_app(redis, lambda c, i: cache_aside(c, f"user:{i % 5000}", ttl=1), warmup_s=1.2)
    path = tmp_path / "facts.json"
    path.write_text(json.dumps(facts))
    offline = low_hit_rate(read_facts_file(path))
    live = low_hit_rate(facts)
    assert [(c.id, c.verdict, c.score) for c in offline.causes] == [
        (c.id, c.verdict, c.score) for c in live.causes
    ]
