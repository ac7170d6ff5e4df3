"""`cachediag diagnose` end to end: the installed command on a real Redis, its formats, its
document and schema, its exit codes, offline on saved facts, and bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from servers import AppLoop, cache_aside

from cachediag.schemas import schema_text


def _ttl_app(client: Any, i: int) -> None:
    cache_aside(client, f"user:{i % 2000}", ttl=1)


def test_diagnose_live_then_offline_on_the_saved_facts(
    cachediag: Any, redis_factory: Any, tmp_path: Path
) -> None:
    from test_schemas import assert_valid

    server = redis_factory(password="pw-LEAK-42")
    saved = tmp_path / "facts.json"
    with AppLoop(server, _ttl_app):
        import time

        time.sleep(1.2)  # expiries keep pace with writes
        run = cachediag(
            "diagnose",
            "low-hit-rate",
            "--redis",
            server.url,
            "--window",
            "0.6",
            "--json",
            "--save-facts",
            str(saved),
        )
    assert run.code == 1, run.err
    document = run.json()
    assert_valid("diagnose", document)
    (symptom,) = document["symptoms"]
    assert symptom["symptom"] == "low-hit-rate" and symptom["asked"] is True
    first = symptom["causes"][0]
    evidence = [
        (c["id"], c["score"], [e["text"] for e in c["evidence_for"]]) for c in symptom["causes"]
    ]
    assert (first["id"], first["verdict"], first["rank"]) == (
        "low-hit-rate.ttl-too-short",
        "likely",
        1,
    ), evidence
    assert "Solution 1A" in first["fix"]
    assert document["summary"]["likely"] == 1, evidence
    assert document["summary"]["exit_code"] == 1
    assert "pw-LEAK-42" not in run.out + run.err + saved.read_text()
    offline = cachediag("diagnose", "low-hit-rate", "--facts", str(saved), "--json")
    assert offline.code == 1, offline.err
    assert offline.json()["source"] == "facts file"
    ranking = [(c["id"], c["verdict"], c["score"]) for c in symptom["causes"]]
    assert [
        (c["id"], c["verdict"], c["score"]) for c in offline.json()["symptoms"][0]["causes"]
    ] == ranking
    table = cachediag("diagnose", "low-hit-rate", "--facts", str(saved))
    assert table.code == 1
    assert "Low cache hit rate (Issue 1)" in table.out and "● likely" in table.out
    assert "TTL is too short" in table.out and "ruled out" in table.out
    markdown = cachediag("diagnose", "low-hit-rate", "--facts", str(saved), "-f", "markdown")
    assert markdown.code == 1
    assert "| # | cause | verdict | evidence | missing | fix |" in markdown.out


def test_no_symptom_on_a_healthy_cache_finds_nothing_to_diagnose(
    cachediag: Any, redis_factory: Any, tmp_path: Path
) -> None:
    from cachediag.diagnose.weights import default_path

    # A loaded test machine can stall a loopback round trip past 10 ms: that is a real
    # timeouts signal, not what this test is about, so its threshold is raised (as data).
    weights = tmp_path / "diagnoses.toml"
    text = default_path().read_text(encoding="utf-8")
    raised = text.replace("params = { slow_us = 10000 }\n", "params = { slow_us = 10000000 }\n", 1)
    assert raised != text
    weights.write_text(raised, encoding="utf-8")
    server = redis_factory("--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru")
    with AppLoop(server, lambda c, i: cache_aside(c, f"user:{i % 20}")):
        run = cachediag(
            "diagnose",
            "--redis",
            server.url,
            "--window",
            "0.5",
            "--json",
            "--weights",
            str(weights),
        )
    assert run.code == 0, run.out
    assert run.json()["symptoms"] == []
    text = cachediag("diagnose", "--redis", server.url, "--window", "0", "--weights", str(weights))
    assert text.code == 0 and "no symptom's signal is present: nothing to diagnose" in text.out


def test_diagnose_json_schema_is_the_shipped_file(cachediag: Any) -> None:
    run = cachediag("diagnose", "--json-schema")
    assert (run.code, run.out) == (0, schema_text("diagnose"))


def test_bad_input_is_one_sentence_and_exit_2(cachediag: Any, tmp_path: Path) -> None:
    missing = cachediag("diagnose", "--facts", str(tmp_path / "nope.json"))
    assert missing.code == 2
    assert "facts file" in missing.err and "does not exist" in missing.err
    assert "Traceback" not in missing.err
    not_json = tmp_path / "x.json"
    not_json.write_text("{not json")
    assert cachediag("diagnose", "--facts", str(not_json)).code == 2
    other = tmp_path / "check.json"
    other.write_text(json.dumps({"schema": "cachediag.check/v1", "results": []}))
    run = cachediag("diagnose", "--facts", str(other))
    assert run.code == 2 and "not a cachediag.facts/v1 document" in run.err
    newer = tmp_path / "v2.json"
    newer.write_text(json.dumps({"schema": "cachediag.facts/v2", "targets": []}))
    run = cachediag("diagnose", "--facts", str(newer))
    assert run.code == 2 and "this cachediag reads cachediag.facts/v1" in run.err
    weights = tmp_path / "w.toml"
    weights.write_text('[causes."low-hit-rate.gremlins"]\n')
    run = cachediag("diagnose", "--facts", str(other), "--weights", str(weights))
    assert run.code == 2 and "unknown cause 'low-hit-rate.gremlins'" in run.err
    assert cachediag("diagnose", "sadness").code == 2
    both = cachediag("diagnose", "--facts", str(other), "--redis", "127.0.0.1:1", "--log", "x")
    assert both.code == 2
    assert "--redis, --log would only be read by a live run" in both.err


def test_diagnose_from_a_gather_bundle_ranks_as_live(
    cachediag: Any, redis_factory: Any, tmp_path: Path
) -> None:
    """The bundle a reporter attaches is diagnosed offline with the ranking a live run
    gives: gather's facts are check's facts, window included."""
    import time

    server = redis_factory(password="pw-LEAK-43")
    with AppLoop(server, _ttl_app):
        time.sleep(1.2)  # expiries keep pace with writes
        live = cachediag(
            "diagnose", "low-hit-rate", "--redis", server.url, "--window", "0.6", "--json"
        )
        gathered = cachediag("gather", "--redis", server.url, "-o", str(tmp_path), "--json")
    assert live.code == 1, live.err
    assert gathered.code in (0, 1), gathered.err
    (bundle,) = tmp_path.glob("cachediag-*.tar.gz")
    offline = cachediag("diagnose", "low-hit-rate", "--from", str(bundle), "--json")
    assert offline.code == 1, offline.err
    document = offline.json()
    assert document["source"] == "bundle"

    def ranked(doc: dict[str, Any]) -> list[tuple[str, str]]:
        causes = doc["symptoms"][0]["causes"]
        return [(c["id"], c["verdict"]) for c in causes if c["verdict"] == "likely"]

    assert ranked(document) == ranked(live.json()) == [("low-hit-rate.ttl-too-short", "likely")]
    assert "pw-LEAK-43" not in offline.out + offline.err
    both = cachediag("diagnose", "--from", str(bundle), "--facts", str(bundle))
    assert both.code == 2 and "give one" in both.err
    live_flag = cachediag("diagnose", "--from", str(bundle), "--redis", server.url)
    assert live_flag.code == 2 and "--from diagnoses saved facts" in live_flag.err
    not_bundle = cachediag("diagnose", "--from", str(tmp_path / "nope.tar.gz"))
    assert not_bundle.code == 2 and "Traceback" not in not_bundle.err
