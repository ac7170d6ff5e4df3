"""Readers on hand-built facts, for what a test cannot make on a loopback server in
seconds: a slow TCP connect, lost packets, a listen queue that was full, big collections
on the hot path, a replica loading a full copy."""

from __future__ import annotations

from typing import Any

from facts_builder import memcached_facts, redis_facts, stalls

from cachediag.diagnose.engine import diagnose
from cachediag.diagnose.weights import load_weights


def run(target: dict[str, Any], symptom: str, host: dict[str, Any] | None = None) -> Any:
    document = {"schema": "cachediag.facts/v1", "targets": [target], "host": host}
    return {
        c.id.split(".", 1)[1]: c
        for c in diagnose(document, load_weights(), symptom).symptoms[0].causes
    }


def host(retrans: float = 0.0, drops: int = 0) -> dict[str, Any]:
    return {
        "tcp": {"retrans_percent_run": retrans, "out_segs_run": 10_000},
        "net": {"interfaces": {"eth0": {"loopback": False, "delta": drops}}},
        "cpu": {"cores": 4},
    }


def test_a_slow_connect_and_lost_packets_point_at_the_network() -> None:
    facts = redis_facts(connect={"tcp_us": 45_000}, ping={"samples_us": [400] * 19 + [30_000]})
    facts.update(stalls())
    causes = run(facts, "timeouts", host(retrans=3.5, drops=120))
    network = causes["network"]
    assert network.verdict == "likely"
    assert {e.id for e in network.evidence_for} == {
        "slow_connect",
        "slow_round_trips_not_server",
        "retransmits",
        "packet_drops",
    }
    assert "eth0 +120" in next(e.text for e in network.evidence_for if e.id == "packet_drops")


def test_big_collections_in_the_sample_weigh_for_server_stalls() -> None:
    facts = redis_facts(
        sample={
            "keys": [
                {
                    "key": "leaderboard",
                    "type": "zset",
                    "ttl_ms": -1,
                    "memory": 9_000_000,
                    "length": 250_000,
                    "head_hex": None,
                },
            ]
        }
    )
    facts.update(stalls(threshold_ms=10))
    stalls_cause = run(facts, "timeouts")["server-stalls"]
    assert [e.id for e in stalls_cause.evidence_for] == ["big_keys"]
    assert "leaderboard (zset, 250,000 elements)" in stalls_cause.evidence_for[0].text
    assert stalls_cause.verdict == "possible"  # big keys alone: no stall was seen


def test_memcached_listen_queue_full_is_saturation() -> None:
    facts = memcached_facts(
        stats={"listen_disabled_num": 37, "curr_connections": 1020}, settings={"maxconns": 1024}
    )
    causes = run(facts, "timeouts")
    saturated = causes["backend-saturated"]
    assert saturated.verdict == "likely"
    assert {e.id for e in saturated.evidence_for} == {"listen_disabled", "near_limit"}


def test_a_replica_loading_its_primary_is_a_cold_cache() -> None:
    facts = redis_facts(
        info={
            "replication": {"role": "slave", "master_sync_in_progress": 1},
            "server": {"uptime_in_seconds": 120},
        }
    )
    cold = run(facts, "low-hit-rate")["cold-cache"]
    assert {e.id for e in cold.evidence_for} == {"restarted_recently", "replica_full_sync"}
    assert cold.verdict == "likely"  # a replica loading a full copy serves a cold cache
