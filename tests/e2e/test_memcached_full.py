"""Real memcached servers with a full slab allocator (issue 10, cases 3 and 12).

`memcached -m 16` filled past its limit evicts; with -M it refuses writes. Both
scenarios come from tests/servers.py, written by pymemcache as an application would.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from servers import FilledMemcached, memcached_tool, start_memcached_full
from test_schemas import assert_valid


@pytest.fixture(scope="module")
def evicting() -> Iterator[FilledMemcached]:
    filled = start_memcached_full()
    yield filled
    filled.server.stop()


@pytest.fixture(scope="module")
def refusing() -> Iterator[FilledMemcached]:
    filled = start_memcached_full("-M")
    yield filled
    filled.server.stop()


def server_stats(filled: FilledMemcached, group: str = "") -> dict[str, Any]:
    client = filled.server.client()
    try:
        raw = client.stats(group) if group else client.stats()
    finally:
        client.close()
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in raw.items()}


def result(run: Any, check_id: str) -> dict[str, Any]:
    return next(r for r in run.json()["results"] if r["id"] == check_id)


def readings(run: Any) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in run.json()["targets"][0]["readings"]}


def test_check_fails_the_full_allocator_that_read_as_a_pass(cachediag, evicting) -> None:
    st = server_stats(evicting)
    assert st["bytes"] / st["limit_maxbytes"] < 0.8  # the old verdict: a pass at ~75%
    assert server_stats(evicting, "slabs")["total_malloced"] == 16 * 2**20
    # Every item written is either still there or was evicted: nothing was refused.
    assert st["evictions"] + st["curr_items"] == evicting.written and evicting.refused == 0
    run = cachediag(
        "check", "--memcached", evicting.address, "--only", "memcached.memory", "--json"
    )
    assert run.code == 1, run.err
    assert_valid("check", run.json())
    memory = result(run, "memcached.memory")
    assert memory["status"] == "fail"
    assert "slab allocator 16.0 MiB of 16.0 MiB (100.0%)" in memory["summary"]
    assert f"{st['evictions']:,} evictions since start" in memory["summary"]
    assert "none of them was ever read (evicted_unfetched)" in memory["summary"]
    assert "full and evicting" in memory["summary"]
    assert memory["observed"]["evictions"] == st["evictions"] > 20_000
    assert "memcached -m, Solution 3C" in memory["remedy"] and "cache_memlimit" in memory["remedy"]
    assert "slab_automove" in memory["remedy"]


def test_memory_puts_the_verdict_on_the_allocator(cachediag, evicting) -> None:
    run = cachediag("memory", "--memcached", evicting.address, "--json")
    assert run.code == 1, run.err
    assert_valid("memory", run.json())
    got = readings(run)
    st = server_stats(evicting)
    assert got["total_malloced"]["value"] == 16 * 2**20
    assert got["total_malloced"]["verdict"]["status"] == "fail"
    assert got["bytes"]["verdict"] is None and got["bytes"]["value"] == st["bytes"]
    assert got["bytes"]["display"].endswith("(12.0 MiB)")
    assert got["evicted_unfetched"]["value"] == st["evicted_unfetched"] == st["evictions"]
    assert got["expired_unfetched"]["value"] == 0 and got["outofmemory"]["value"] == 0
    text = cachediag("memory", "--memcached", evicting.address).out
    assert "total_malloced" in text and "100.0% of limit_maxbytes" in text


def test_the_slab_table_still_matches_memcached_tool(cachediag, evicting) -> None:
    tool = memcached_tool()
    if tool is None:
        pytest.skip("memcached-tool is not installed")
    display = subprocess.run(
        [tool, evicting.address, "display"], capture_output=True, text=True, timeout=30, check=True
    ).stdout.splitlines()
    theirs = {}
    for row in display[1:]:
        number, size, _age, pages, count, full, evicted, _evict_time, oom = row.split()
        theirs[int(number)] = (size, int(pages), int(count), full == "yes", int(evicted), int(oom))
    slabs = cachediag("memory", "--memcached", evicting.address, "--json").json()["targets"][0][
        "slabs"
    ]
    ours = {
        s["class"]: (s["item_size_text"], s["pages"], s["count"], s["full"], s["evicted"], s["oom"])
        for s in slabs
    }
    assert ours == theirs and ours[12][3] is True


def test_minus_m_at_its_limit_fails_with_the_refused_count(cachediag, refusing) -> None:
    assert refusing.refused > 20_000  # what the application saw: SERVER_ERROR out of memory
    run = cachediag(
        "check",
        "--memcached",
        refusing.address,
        "--only",
        "memcached.memory,memcached.eviction_policy",
        "--json",
    )
    assert run.code == 1, run.err
    assert_valid("check", run.json())
    memory = result(run, "memcached.memory")
    assert memory["status"] == "fail"
    assert memory["summary"].startswith(f"{refusing.refused:,} writes refused since start")
    assert "evictions are off (-M)" in memory["summary"]
    assert memory["observed"]["outofmemory"] == refusing.refused
    assert "Writes refused under -M" in memory["remedy"]
    policy = result(run, "memcached.eviction_policy")
    assert policy["status"] == "fail"
    assert f"{refusing.refused:,} writes refused so far (outofmemory)" in policy["summary"]
    assert "cache_memlimit" in policy["remedy"]

    memory_run = cachediag("memory", "--memcached", refusing.address, "--json")
    assert memory_run.code == 1, memory_run.err
    assert_valid("memory", memory_run.json())
    got = readings(memory_run)
    assert got["outofmemory"]["value"] == refusing.refused
    assert got["total_malloced"]["verdict"]["status"] == "fail"


def test_eviction_policy_judges_the_allocator_as_check_does(cachediag, evicting) -> None:
    run = cachediag("eviction-policy", "--memcached", evicting.address, "--json")
    assert run.code == 1, run.err
    assert_valid("eviction-policy", run.json())
    row = run.json()["targets"][0]
    verdicts = {v["check"]: v["status"] for v in row["verdicts"]}
    assert verdicts == {"memcached.eviction_policy": "pass", "memcached.memory": "fail"}
    assert row["fix"] == [
        "raise the limit now, keeping the items: cache_memlimit 32; then start memcached with -m 32"
    ]
    assert any("cache_memlimit MB" in note for note in row["notes"])
