"""memcached.memory over recorded facts: the slab allocator, not item bytes (issue 10, case 3)."""

from __future__ import annotations

from typing import Any

from facts_builder import full_slab_facts, memcached_facts, memcached_slab_facts, slab_class

from cachediag.checks.checklist import load_checklist
from cachediag.checks.registry import RULES
from cachediag.checks.slab_view import refused_writes, slab_memory
from cachediag.render.units import human_bytes_iec

MIB = 2**20
HOUR = 3600


def judge(check_id: str, facts: dict[str, Any], **overrides: Any) -> tuple[str, str, dict]:
    spec = next(s for s in load_checklist().checks if s.id == check_id)
    outcome = RULES[check_id](facts, {**spec.thresholds, **overrides})
    return outcome.status, outcome.summary, outcome.observed


def busy_class(**kwargs: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """A full 1.2 KiB class of 15 pages: everything but what the test sets."""
    values = {"chunk_size": 1184, "pages": 15, "free_chunks": 0, "items": 13_275}
    return slab_class(12, **{**values, **kwargs})


def test_the_case_that_passed_now_fails_on_the_allocator() -> None:
    facts = full_slab_facts()
    # What the old rule read: bytes against the limit, under the 80% warning.
    assert facts["stats"]["bytes"] / facts["stats"]["limit_maxbytes"] < 0.76
    status, summary, observed = judge("memcached.memory", facts)
    assert status == "fail"
    assert "slab allocator 16.0 MiB of 16.0 MiB (100.0%), items 12.0 MiB" in summary
    assert "class 12 (1.2 KiB chunks) full and evicting" in summary
    assert "an item lasts about 1s there" in summary
    facts["items"]["items:12:age"] = 0
    assert "an item lasts under a second there" in judge("memcached.memory", facts)[1]
    assert "26,725 evictions since start" in summary and "8,908/s averaged over the 3s" in summary
    assert "none of them was ever read (evicted_unfetched)" in summary
    assert observed["used_percent"] == 100.0 and observed["full_classes"] == [12]
    assert observed["retention_seconds"] == 1 and observed["evicted_unfetched"] == 26_725


def test_writes_refused_under_minus_m_fail_with_the_count() -> None:
    facts = full_slab_facts(evictions_off=True)
    status, summary, observed = judge("memcached.memory", facts)
    assert status == "fail"
    assert summary.startswith("26,725 writes refused since start (SERVER_ERROR out of memory")
    assert "evictions are off (-M)" in summary and "class 12 (1.2 KiB chunks)" in summary
    assert observed["outofmemory"] == 26_725
    assert refused_writes(facts) == 26_725
    policy = judge("memcached.eviction_policy", facts)
    assert policy[0] == "fail" and "26,725 writes refused so far (outofmemory)" in policy[1]
    assert policy[2]["refused_writes"] == 26_725


def test_a_full_class_keeping_items_for_hours_is_a_bounded_caches_steady_state() -> None:
    facts = memcached_slab_facts(
        busy_class(evicted=5_000, age=2 * 86_400), malloced=16 * MIB, stats={"evictions": 5_000}
    )
    status, summary, _ = judge("memcached.memory", facts)
    assert status == "pass" and "steady state" in summary and "2d 0h" in summary


def test_retention_under_the_guides_one_hour_ttl_warns() -> None:
    facts = memcached_slab_facts(
        busy_class(evicted=5_000, age=20 * 60), malloced=16 * MIB, stats={"evictions": 5_000}
    )
    assert judge("memcached.memory", facts)[0] == "warn"
    # The limits are thresholds: an operator who keeps items 10 minutes can say so.
    assert judge("memcached.memory", facts, warn_retention_below_seconds=600)[0] == "pass"
    assert judge("memcached.memory", facts, fail_retention_below_seconds=HOUR)[0] == "fail"


def test_the_worst_evicting_class_is_the_one_judged() -> None:
    facts = memcached_slab_facts(
        busy_class(evicted=10, age=3 * 86_400),
        slab_class(5, chunk_size=240, pages=1, free_chunks=0, items=4369, evicted=9, age=5),
        malloced=16 * MIB,
        stats={"evictions": 19},
    )
    status, summary, observed = judge("memcached.memory", facts)
    assert status == "fail" and "class 5 (240 B chunks) and 1 more full and evicting" in summary
    assert [c["class"] for c in observed["evicting_classes"]] == [5, 12]


def test_minus_m_near_its_limit_warns_before_writes_fail() -> None:
    full = memcached_slab_facts(busy_class(), malloced=16 * MIB, settings={"evictions": "off"})
    status, summary, _ = judge("memcached.memory", full)
    assert status == "warn" and "its next write fails (SERVER_ERROR out of memory)" in summary
    filling = memcached_slab_facts(
        busy_class(free_chunks=500), malloced=14 * MIB, settings={"evictions": "off"}
    )
    assert "once it is full, writes fail" in judge("memcached.memory", filling)[1]
    roomy = memcached_slab_facts(busy_class(), malloced=4 * MIB, settings={"evictions": "off"})
    assert judge("memcached.memory", roomy)[0] == "pass"


def test_an_allocator_with_room_or_full_without_evictions_passes() -> None:
    half = memcached_slab_facts(busy_class(free_chunks=100), malloced=8 * MIB)
    status, summary, _ = judge("memcached.memory", half)
    assert status == "pass" and summary.endswith("(50.0%), items 10.0 MiB; no evictions")
    full = memcached_slab_facts(busy_class(), malloced=16 * MIB)
    status, summary, _ = judge("memcached.memory", full)
    assert (
        status == "pass" and "class 12 (1.2 KiB chunks) is full: its next write evicts" in summary
    )
    past = memcached_slab_facts(
        busy_class(free_chunks=10), malloced=16 * MIB, stats={"evictions": 7, "uptime": 7200}
    )
    status, summary, _ = judge("memcached.memory", past)
    assert status == "pass" and "7 evictions since start (3.5/h averaged" in summary
    assert "no class is full now" in summary


def test_slab_calcification_is_named_with_the_automove_setting() -> None:
    idle = slab_class(2, chunk_size=120, pages=3, free_chunks=20_000, items=10)
    facts = memcached_slab_facts(
        busy_class(evicted=100, age=20 * 60),
        idle,
        malloced=16 * MIB,
        stats={"evictions": 100},
        settings={"slab_automove": 0},
    )
    status, summary, observed = judge("memcached.memory", facts)
    assert status == "warn"
    assert f"class 2 holds {human_bytes_iec(20_000 * 120)} in free chunks that class 12" in summary
    assert "slab_automove is off" in summary and observed["idle_bytes"] == 2_400_000
    facts["settings"]["slab_automove"] = 1
    assert "slab_automove=1 moves pages over slowly" in judge("memcached.memory", facts)[1]
    # Less than a page free elsewhere (what full_slab_facts' class 2 holds) is no finding.
    assert "free chunks" not in judge("memcached.memory", full_slab_facts())[1]


def test_without_stats_slabs_the_item_bytes_are_graded_as_before() -> None:
    facts = memcached_facts(stats={"bytes": 63 * MIB})
    status, summary, _ = judge("memcached.memory", facts)
    assert status == "fail" and "the slab allocator (stats slabs) was not reported" in summary
    assert judge("memcached.memory", memcached_facts())[0] == "pass"
    assert slab_memory(memcached_facts()) is None and refused_writes(memcached_facts()) is None


def test_iec_sizes() -> None:
    assert human_bytes_iec(512) == "512 B"
    assert human_bytes_iec(1536) == "1.5 KiB"
    assert human_bytes_iec(16 * MIB) == "16.0 MiB"
    assert human_bytes_iec(None) == "?"
