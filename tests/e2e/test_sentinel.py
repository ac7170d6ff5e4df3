"""redis+sentinel:// against a real set: 1 primary, 1 replica, 3 sentinels."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from servers import SentinelSet, start_sentinel_set

import cachediag
from cachediag.backends import expand
from cachediag.probes.collect import collect_facts
from cachediag.targets.parse import parse_redis

SCHEMAS = Path(cachediag.__file__).parent / "schemas"
ONLY = ("--only", "redis.sentinel", "--only", "redis.running", "--window", "0")


@pytest.fixture(scope="module")
def sentinel_set(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SentinelSet]:
    found = start_sentinel_set(tmp_path_factory.mktemp("sentinel"))
    try:
        yield found
    finally:
        found.stop()


def _results(run: Any) -> dict[tuple[str, str], dict[str, Any]]:
    document = run.json()
    jsonschema.validate(document, json.loads((SCHEMAS / "check-v1.json").read_text()))
    return {(r["id"], r["target"]): r for r in document["results"]}


def test_the_sentinels_name_the_nodes(cachediag: Any, sentinel_set: SentinelSet) -> None:
    run = cachediag("check", "--json", "--redis", sentinel_set.url, *ONLY)
    assert run.code == 0, run.err
    results = _results(run)
    primary = f"redis://127.0.0.1:{sentinel_set.primary.port}/0"
    replica = f"redis://127.0.0.1:{sentinel_set.replica.port}/0"
    assert results[("redis.running", primary)]["status"] == "pass"
    assert results[("redis.running", replica)]["status"] == "pass"
    state = results[("redis.sentinel", sentinel_set.url)]
    assert state["status"] == "pass", state
    assert f"primary 127.0.0.1:{sentinel_set.primary.port}" in state["summary"]


def test_the_facts_validate(sentinel_set: SentinelSet) -> None:
    nodes = expand([parse_redis(sentinel_set.url, "flag")], 2.0)
    assert [n.role for n in nodes] == ["primary", "replica"]
    facts = collect_facts(nodes, 2.0, sample_keys=0, host=False)
    jsonschema.validate(facts, json.loads((SCHEMAS / "facts-v1.json").read_text()))
    (system,) = facts["systems"]
    assert system["master"] == "mymaster" and len(system["sentinels"]) == 3


def test_a_sentinel_down_is_named(
    cachediag: Any, sentinel_set: SentinelSet, closed_port: int
) -> None:
    hosts = ",".join(s.address for s in sentinel_set.sentinels[:2]) + f",127.0.0.1:{closed_port}"
    url = f"redis+sentinel://{hosts}/mymaster"
    run = cachediag("check", "--json", "--redis", url, *ONLY)
    state = _results(run)[("redis.sentinel", url)]
    assert state["status"] == "warn" and f"127.0.0.1:{closed_port}" in state["summary"]


def test_no_sentinel_answering(cachediag: Any, closed_port: int) -> None:
    url = f"redis+sentinel://:s3cret@127.0.0.1:{closed_port}/mymaster"
    run = cachediag("check", "--json", "--redis", url, *ONLY)
    assert run.code == 1
    results = _results(run)
    shown = f"redis+sentinel://:***@127.0.0.1:{closed_port}/mymaster"
    assert results[("redis.sentinel", shown)]["status"] == "fail"
    assert results[("redis.running", shown)]["status"] == "fail"
    assert "s3cret" not in run.out + run.err


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis+sentinel://127.0.0.1:26379", "name the master"),
        ("redis+sentinel://127.0.0.1:99999/m", "port must be 1 to 65535"),
        ("redis+sentinel:///m", "no sentinel address"),
    ],
)
def test_bad_sentinel_urls(cachediag: Any, url: str, message: str) -> None:
    run = cachediag("ping", "--redis", url)
    assert run.code == 2 and message in run.err and "Traceback" not in run.err


def test_inspect_and_ttl_samples_read_the_set_as_one(
    cachediag: Any, sentinel_set: SentinelSet
) -> None:
    """The primary sampled as the set's one row (its replica with --replicas); a single
    node's scan still resumes from --cursor."""
    import time

    app = sentinel_set.primary.client()
    try:
        for i in range(50):
            app.set(f"user:{i}", b"CKIT\x01payload")
        deadline = time.monotonic() + 10
        while sentinel_set.replica.client().dbsize() < 50:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        primary = f"redis://127.0.0.1:{sentinel_set.primary.port}/0"
        run = cachediag("inspect", "--redis", sentinel_set.url, "--json", "--no-progress")
        assert run.code == 0, run.err
        (row,) = run.json()["targets"]
        assert [n["target"] for n in row["nodes"]] == [primary] and row["replicas_skipped"] == 1
        assert row["totals"]["valid"] == 50
        run = cachediag(
            "inspect", "--redis", sentinel_set.url, "--json", "--no-progress", "--replicas"
        )
        (row,) = run.json()["targets"]
        assert run.code == 0 and row["totals"]["valid"] == 100 and len(row["nodes"]) == 2
        resumed = cachediag(
            "inspect", "--redis", sentinel_set.url, "--json", "--no-progress", "--cursor", "1",
            "--max-keys", "5", "--count", "5",
        )  # fmt: skip
        assert resumed.code == 0, resumed.err
        (row,) = resumed.json()["targets"]
        assert row["scan"]["start_cursor"] == "1"  # resumed where it was told to
        ttl = cachediag("ttl", "--redis", sentinel_set.url, "--replicas", "--json")
        (row,) = ttl.json()["targets"]
        assert [n["role"] for n in row["nodes"]] == ["primary", "replica"]
        assert row["sampled"] == 100 and not row["notes"]
    finally:
        for i in range(50):
            app.delete(f"user:{i}")
