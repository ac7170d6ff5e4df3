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
