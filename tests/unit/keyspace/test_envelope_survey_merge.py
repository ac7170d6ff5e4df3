"""Several nodes' envelope surveys merged: the same report as one survey of all their entries,
each affected key named by the node it was read on."""

from __future__ import annotations

from typing import Any

from cachediag.keyspace import entities as ent
from cachediag.keyspace.envelope_survey import EnvelopeSurvey
from cachediag.keyspace.payload_survey import survey_for

USER_V1 = bytes.fromhex("434b4954012a05416c69636511616c696365406578616d706c652e636f6d")
USER_V2 = b"CKIT\x02" + USER_V1[5:]
BAD_MAGIC = b"CKIU\x01" + USER_V1[5:]
NO_PAYLOAD = b"CKIT\x01"
BROKEN_PAYLOAD = b"CKIT\x01\x2a\x50"  # a name of 80 bytes, none there
USERS = ent.parse_entities({"user": {"fields": ["id: u64", "name: string", "email: string"]}}, "t")

NODE_A = [
    (b"user:1", "user:*", USER_V1),
    (b"user:2", "user:*", BAD_MAGIC),
    (b"user:3", "user:*", BROKEN_PAYLOAD),
    (b"page:1", "page:*", b"<html>"),
]
NODE_B = [
    (b"user:4", "user:*", USER_V2),
    (b"user:5", "user:*", NO_PAYLOAD),
    (b"user:6", "user:*", BROKEN_PAYLOAD),
    (b"page:2", "page:*", b"<html>"),
    (b"list:1", "list:*", None),  # not a string
]


def _survey(entries: list[tuple[bytes, str, bytes | None]], layouts: bool) -> EnvelopeSurvey:
    survey = EnvelopeSurvey(payloads=survey_for(USERS) if layouts else None)
    for key, namespace, value in entries:
        survey.add(key, namespace, value, len(value) if value is not None else None)
    return survey


def _without_nodes(document: dict[str, Any]) -> dict[str, Any]:
    for namespace in document["namespaces"]:
        for entry in namespace["affected"]:
            entry.pop("node", None)
    return document


def _merged(layouts: bool) -> dict[str, Any]:
    merged = EnvelopeSurvey(payloads=survey_for(USERS) if layouts else None)
    merged.merge(_survey(NODE_A, layouts), "10.0.0.1:6379")
    merged.merge(_survey(NODE_B, layouts), "10.0.0.2:6379")
    return merged.to_dict()


def test_merged_surveys_equal_one_survey_of_everything() -> None:
    for layouts in (False, True):
        whole = _survey(NODE_A + NODE_B, layouts).to_dict()
        merged = _merged(layouts)
        assert merged["totals"]["invalid_magic"] == 1
        assert merged["schema_versions"] == {"1": 3, "2": 1}
        assert _without_nodes(merged) == whole


def test_each_affected_key_names_its_node() -> None:
    for layouts in (False, True):
        document = _merged(layouts)
        (users,) = [ns for ns in document["namespaces"] if ns["namespace"] == "user:*"]
        nodes = {entry["key"]: entry["node"] for entry in users["affected"]}
        assert nodes["user:2"] == "10.0.0.1:6379" and nodes["user:5"] == "10.0.0.2:6379"
        if layouts:  # the payloads that do not decode, each on its node
            assert nodes["user:3"] == "10.0.0.1:6379" and nodes["user:6"] == "10.0.0.2:6379"
            assert all("node" not in entry.get("payload", {}) for entry in users["affected"])
            assert document["payloads"]["broken"] == 2


def test_a_lone_survey_names_no_node() -> None:
    document = _survey(NODE_A, True).to_dict()
    assert all("node" not in e for ns in document["namespaces"] for e in ns["affected"])


def test_the_merge_keeps_the_bounds() -> None:
    many = [(f"user:{i}".encode(), "user:*", BAD_MAGIC) for i in range(50)]
    merged = EnvelopeSurvey(affected_sample=2)
    for node in ("a:1", "b:1", "c:1"):
        part = EnvelopeSurvey(affected_sample=2)
        for key, namespace, value in many:
            part.add(key, namespace, value, len(value))
        merged.merge(part, node)
    one = EnvelopeSurvey(affected_sample=2)
    for _ in range(3):
        for key, namespace, value in many:
            one.add(key, namespace, value, len(value))
    (users,) = merged.to_dict()["namespaces"]
    assert users["entries"] == 150 and len(users["affected"]) == 2
    assert _without_nodes(merged.to_dict()) == one.to_dict()
