"""diagnoses.toml is data the code is held to, and the weights in it decide the verdicts."""

from __future__ import annotations

import copy
import sys
from typing import Any

import pytest
from facts_builder import NOW, down, key, redis_facts, window

from cachediag.diagnose.engine import diagnose
from cachediag.diagnose.symptoms import CAUSES, SYMPTOMS
from cachediag.diagnose.weights import default_path, load_weights, parse_weights
from cachediag.errors import UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def raw() -> dict[str, Any]:
    return tomllib.loads(default_path().read_text(encoding="utf-8"))


def test_the_shipped_file_weighs_every_cause_the_code_reads() -> None:
    weights = load_weights()
    assert set(weights.causes) == set(CAUSES)
    assert set(weights.symptoms) == set(SYMPTOMS)
    for cause_id, spec in weights.causes.items():
        assert set(spec.evidence) == set(CAUSES[cause_id].evidence), cause_id
        assert spec.fix and spec.title and spec.ref, cause_id


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["causes"].pop("low-hit-rate.cold-cache"), "no entry for the causes"),
        (lambda d: d["causes"].update({"low-hit-rate.gremlins": {}}), "unknown cause"),
        (
            lambda d: d["causes"]["low-hit-rate.cold-cache"]["evidence"].pop("up_long"),
            "no weight for up_long",
        ),
        (
            lambda d: d["causes"]["low-hit-rate.cold-cache"]["evidence"].update({"moon": 1}),
            "unknown evidence moon",
        ),
        (
            lambda d: d["causes"]["low-hit-rate.cold-cache"]["evidence"].update({"up_long": "x"}),
            "must be a number",
        ),
        (lambda d: d["missing"].pop("log"), "no [missing] entry for log"),
        (lambda d: d["symptoms"].update({"sadness": {}}), "unknown symptom"),
    ],
)
def test_a_file_that_does_not_match_the_code_is_one_sentence(change: Any, message: str) -> None:
    data = raw()
    change(data)
    with pytest.raises(UsageError, match=message.replace("[", r"\[")):
        parse_weights(data, "x.toml")


def expiring_facts() -> dict[str, Any]:
    """A window in which every written key expired: TTL too short, and nothing else."""
    facts = redis_facts(
        info={
            "stats": {
                "keyspace_hits": 100,
                "keyspace_misses": 1100,
                "expired_keys": 1000,
                "evicted_keys": 0,
            },
            "commandstats": {"cmdstat_get": {"calls": 1200}, "cmdstat_set": {"calls": 1100}},
            "keyspace": {"db0": {"keys": 100, "expires": 100}},
        },
        sample={"keys": [key(f"user:{i}", ttl_ms=900) for i in range(20)]},
        **window(
            {"keyspace_hits": 90, "keyspace_misses": 100, "expired_keys": 0, "evicted_keys": 0},
            seconds=2.0,
            commandstats={"cmdstat_get": {"calls": 190}, "cmdstat_set": {"calls": 100}},
        ),
    )
    facts["window"]["first"]["keyspace"] = {"db0": {"keys": 100, "expires": 100}}
    return {"schema": "cachediag.facts/v1", "collected_at": NOW, "targets": [facts]}


def test_the_weights_decide_the_verdict_not_the_code() -> None:
    facts = expiring_facts()
    result = diagnose(facts, load_weights(), "low-hit-rate").symptoms[0]
    assert (result.causes[0].id, result.causes[0].verdict) == (
        "low-hit-rate.ttl-too-short",
        "likely",
    )
    assert result.causes[0].score == 6  # expiries_match_writes 4 + sample_ttls_short 2
    data = raw()
    data["causes"]["low-hit-rate.ttl-too-short"]["evidence"]["expiries_match_writes"] = 0
    lighter = diagnose(facts, parse_weights(data), "low-hit-rate").symptoms[0]
    ttl = next(c for c in lighter.causes if c.id == "low-hit-rate.ttl-too-short")
    assert (ttl.score, ttl.verdict) == (2, "possible")
    data["verdicts"]["possible_at"] = 3
    stricter = diagnose(facts, parse_weights(data), "low-hit-rate").symptoms[0]
    ttl = next(c for c in stricter.causes if c.id == "low-hit-rate.ttl-too-short")
    assert ttl.verdict == "unknown"


def test_a_down_target_leaves_every_cause_unknown_and_says_why() -> None:
    facts = {
        "schema": "cachediag.facts/v1",
        "targets": [down("redis", "refused", "connection refused")],
    }
    diagnosis = diagnose(facts, load_weights(), "low-hit-rate")
    (result,) = diagnosis.symptoms
    assert result.signal.present is None
    assert {c.verdict for c in result.causes} == {"unknown"}
    assert all(
        m.id == "down" and "connection refused" in m.what for c in result.causes for m in c.missing
    )
    assert diagnosis.exit_code == 0


def test_without_a_window_the_rates_are_since_start_and_the_flag_is_named() -> None:
    facts = expiring_facts()
    facts["targets"][0]["window"] = None
    result = diagnose(facts, load_weights(), "low-hit-rate").symptoms[0]
    for cause in result.causes:
        if cause.id != "low-hit-rate.nondeterministic-keys":
            assert any(
                m.how == "a second reading a few seconds later: --window 5" for m in cause.missing
            )


def test_no_symptom_diagnoses_only_those_present() -> None:
    facts = expiring_facts()  # the hit rate over the window: 10 of 1,010
    present = diagnose(facts, load_weights())
    assert [s.symptom for s in present.symptoms] == ["low-hit-rate"]
    assert not present.symptoms[0].asked
    healthy = copy.deepcopy(facts)
    healthy["targets"][0]["info"]["stats"]["keyspace_hits"] = 100_000
    assert diagnose(healthy, load_weights()).symptoms == []
