"""redis.serialization over recorded facts, the one classification, and the payload survey."""

from __future__ import annotations

from typing import Any

import pytest
from facts_builder import key, memcached_facts, redis_facts

from cachediag.checks.checklist import load_checklist
from cachediag.checks.registry import RULES
from cachediag.errors import ProbeTimeout
from cachediag.keyspace import classify, envelope
from cachediag.keyspace import entities as ent
from cachediag.keyspace.envelope_survey import EnvelopeSurvey
from cachediag.keyspace.payload_survey import PayloadSurvey, read_whole

CHECKLIST = {spec.id: spec for spec in load_checklist().checks}
USER_V1 = bytes.fromhex("434b4954012a05416c69636511616c696365406578616d706c652e636f6d")
TRUNCATED = bytes.fromhex("434b4954012a05416c")
USERS = ent.parse_entities({"user": {"fields": ["id: u64", "name: string", "email: string"]}}, "t")
USER = next(iter(USERS))
LAYOUTS = {"entities": USERS.describe(), "values_read_whole": 0, "read_error": None}


def judge(facts: dict[str, Any], check_id: str = "redis.serialization") -> tuple[str, str, dict]:
    outcome = RULES[check_id](facts, CHECKLIST[check_id].thresholds)
    return outcome.status, outcome.summary, outcome.observed


def decoded(name: str, value: bytes) -> dict[str, Any]:
    """A sampled key as the probe records it once its payload was decoded."""
    return {
        **key(name, head=value[:64], length=len(value)),
        "payload": ent.decode_entry(USER, value),
    }


# -- the rule ---------------------------------------------------------------------------------


def test_header_only_pass_says_what_was_verified() -> None:
    sample = {"keys": [key("user:1", head=USER_V1), key("user:2", head=TRUNCATED)]}
    status, summary, observed = judge(redis_facts(sample=sample))
    assert status == "pass"
    assert summary == (
        "2 sampled cache-kit entries have a valid header (magic and schema version); "
        "payloads not decoded: no [entities] layout in cachediag.toml"
    )
    assert observed["verified"] == "header" and "payloads" not in observed


def test_a_broken_payload_fails_and_names_the_field() -> None:
    sample = {
        "keys": [decoded("user:1", USER_V1), decoded("user:7", TRUNCATED)],
        "payloads": LAYOUTS,
    }
    status, summary, observed = judge(redis_facts(sample=sample))
    assert status == "fail"
    assert summary == (
        "user:*: 1 whose payload does not decode as user among 2 sampled entries (e.g. user:7: "
        "field 2 name (string) at byte 6: string of 5 bytes runs past the end of the value "
        "(2 bytes left))"
    )
    assert observed["namespaces"]["user:*"] == {"valid": 1, "invalid_magic": 0, "undecodable": 1}
    assert observed["payloads"]["user:*"]["broken"] == 1


def test_memcached_too() -> None:
    sample = {
        "keys": [decoded("user:1", USER_V1), decoded("user:7", TRUNCATED)],
        "payloads": LAYOUTS,
    }
    assert judge(memcached_facts(sample=sample), "memcached.serialization")[0] == "fail"


def test_every_kind_of_problem_in_one_summary() -> None:
    sample = {
        "keys": [
            decoded("user:1", USER_V1),
            decoded("user:2", TRUNCATED),
            key("user:3", head=b"garbage!"),
            key("user:4", head=b"CKIT"),
            decoded("user:5", USER_V1 + b"\x00"),
        ],
        "payloads": LAYOUTS,
    }
    status, summary, observed = judge(redis_facts(sample=sample))
    assert status == "fail"
    assert summary.startswith(
        "user:*: 1 with an invalid magic header and 1 that cannot be decoded and 1 whose payload "
        "does not decode as user among 5 sampled entries (e.g. user:2: field 2 name"
    )
    assert summary.endswith(
        "; user:*: 1 entry holds bytes past the last field of the user layout (e.g. user:5: "
        "1 byte): a field added without a schema-version bump, or a layout out of date"
    )
    assert observed["namespaces"]["user:*"] == {"valid": 2, "invalid_magic": 1, "undecodable": 2}


def test_trailing_bytes_alone_warn() -> None:
    sample = {"keys": [decoded("user:1", USER_V1 + b"xy")], "payloads": LAYOUTS}
    status, summary, _ = judge(redis_facts(sample=sample))
    assert status == "warn" and "2 bytes" in summary


def test_values_not_read_whole_pass_with_what_was_not_decoded() -> None:
    big = {**key("user:2", head=USER_V1, length=100_000), "payload": ent.not_read(USER, "big")}
    sample = {
        "keys": [decoded("user:1", USER_V1), big, key("product:1", head=b"CKIT\x01x")],
        "payloads": LAYOUTS,
    }
    status, summary, observed = judge(redis_facts(sample=sample))
    assert status == "pass"
    assert summary == (
        "3 sampled cache-kit entries have a valid header (magic and schema version); "
        "1 decoded in full against their [entities] layout (1 not: too large to read whole, or "
        "no layout for their version); 1 in namespaces without a layout: header only"
    )
    assert observed["verified"] == "header and payload"


def test_layouts_that_match_nothing_sampled() -> None:
    sample = {"keys": [key("product:1", head=b"CKIT\x01x")], "payloads": LAYOUTS}
    status, summary, _ = judge(redis_facts(sample=sample))
    assert status == "pass"
    assert summary.endswith("payloads not decoded: no [entities] layout matches these namespaces")


def test_a_header_one_byte_off_the_magic_is_invalid_even_alone() -> None:
    # the sample always said so; the check now agrees (it used to skip the namespace)
    sample = {"keys": [key("legacy:1", head=b"CKIU\x01x"), key("legacy:2", head=b"plain")]}
    status, summary, observed = judge(redis_facts(sample=sample))
    assert status == "fail"
    assert observed["namespaces"] == {
        "legacy:*": {"valid": 0, "invalid_magic": 1, "undecodable": 0}
    }
    assert "legacy:*: 1 with an invalid magic header among 2 sampled entries" in summary


def test_foreign_namespaces_stay_out() -> None:
    sample = {"keys": [key("page:1", head=b"<html>"), key("user:1", head=USER_V1)]}
    status, _, observed = judge(redis_facts(sample=sample))
    assert status == "pass" and list(observed["namespaces"]) == ["user:*"]


# -- the classification -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "namespace_has_cache_kit", "payload", "expected"),
    [
        (USER_V1, False, None, "valid"),
        (USER_V1, True, {"state": "ok"}, "valid"),
        (USER_V1, True, {"state": "trailing"}, "valid"),
        (USER_V1, True, {"state": "not_read"}, "valid"),
        (TRUNCATED, True, {"state": "broken"}, "undecodable"),
        (b"CKIT", True, None, "undecodable"),
        (b"garbage", True, None, "invalid_magic"),
        (b"garbage", False, None, "not_cache_kit"),
        (b"CKIU\x01x", False, None, "invalid_magic"),
        (b"", True, None, "invalid_magic"),
        (b"", False, None, "not_cache_kit"),
    ],
)
def test_classify(value, namespace_has_cache_kit, payload, expected) -> None:
    decoded_env = envelope.decode(value, len(value))
    near = classify.near_magic(value)
    assert classify.classify(decoded_env, near, namespace_has_cache_kit, payload) == expected


# -- the payload survey -------------------------------------------------------------------------


def test_survey_decodes_heads_that_are_whole_and_queues_the_rest() -> None:
    payloads = PayloadSurvey(USERS, limit=1000, max_reads=2)
    survey = EnvelopeSurvey(payloads=payloads)
    big = USER_V1[:5] + b"\x01" + b"\x05Alice" + b"\xe8\x07" + b"a" * 1000  # 1000-byte email
    survey.add(b"user:1", "user:*", USER_V1, len(USER_V1))  # the head is the value
    survey.add(b"user:2", "user:*", TRUNCATED, len(TRUNCATED))
    survey.add(b"user:3", "user:*", big[:64], 500)  # queued
    survey.add(b"user:4", "user:*", big[:64], 600)  # queued
    survey.add(b"user:5", "user:*", big[:64], 700)  # over max_reads
    survey.add(b"user:6", "user:*", big[:64], 5000)  # over the bound
    survey.add(b"product:1", "product:*", b"CKIT\x01x", 6)  # no layout: not tracked
    assert [key for key, _, _ in payloads.pending] == [b"user:3", b"user:4"]
    asked: list[list[bytes]] = []

    def reader(keys: list[bytes]) -> dict[bytes, bytes]:
        asked.append(keys)
        return {b"user:3": USER_V1, b"user:4": b"x" * 1000}  # user:4 grew to the bound

    read_whole(payloads, reader, None)
    assert asked == [[b"user:3", b"user:4"]] and payloads.reads == 2
    report = survey.to_dict()
    assert report["payloads"]["values_read_whole"] == 2
    user = {row["namespace"]: row for row in report["namespaces"]}["user:*"]
    assert user["payload"] == {
        "entity": "user",
        "decoded": 2,
        "broken": 1,
        "trailing": 0,
        "no_layout": 0,
        "not_read": 3,
    }
    assert (user["valid"], user["undecodable"]) == (5, 1)
    (affected,) = user["affected"]
    assert affected["key"] == "user:2" and affected["payload"]["field"] == 2
    assert affected["reason"].startswith("payload does not decode as user: field 2 name")


def test_survey_reads_nothing_after_an_interrupt_or_a_failed_read() -> None:
    payloads = PayloadSurvey(USERS, limit=1000)
    payloads.add(b"user:3", "user:*", USER_V1[:10], 500)
    read_whole(payloads, lambda keys: pytest.fail("read after Ctrl-C"), "interrupted")
    assert payloads.namespace_dict("user:*")["not_read"] == 1 and payloads.reads == 0

    failing = PayloadSurvey(USERS, limit=1000)
    failing.add(b"user:3", "user:*", USER_V1[:10], 500)

    def timeout(keys: list[bytes]) -> dict[bytes, bytes]:
        raise ProbeTimeout("no reply within 2.0 s")

    read_whole(failing, timeout, None)
    assert failing.read_error == "no reply within 2.0 s"
    assert failing.to_dict()["not_read"] == 1
