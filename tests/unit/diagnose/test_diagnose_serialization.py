"""Issue 4's causes on a real Redis holding cache-kit entries (and the application's log)."""

from __future__ import annotations

import json
import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from diagnose_helpers import assert_first, live, symptom_of
from servers import RedisServer, start_redis
from test_payload_verdicts import GARBAGE, user_entry

from cachediag.diagnose.symptoms.serialization import foreign_format
from cachediag.keyspace.entities import parse_entities


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = start_redis(tmp_path_factory.mktemp("diagnose-serialization"))
    yield server
    server.stop()


@pytest.fixture
def redis(shared: RedisServer) -> RedisServer:
    client = shared.client()
    client.flushall()
    for i in range(1, 21):  # twenty good v1 users, with a TTL
        client.set(f"user:{i}", user_entry(i, f"name{i}", f"u{i}@example.com"), ex=3600)
    return shared


def serialization(facts: dict[str, Any]) -> Any:
    return symptom_of(facts, "serialization")


def test_schema_mismatch(redis: RedisServer) -> None:
    client = redis.client()
    for i in range(21, 31):
        client.set(f"user:{i}", user_entry(i, "n", "e@x", version=2), ex=3600)
    result = serialization(live(redis=(redis.url,)))
    assert result.signal.present is True
    assert_first(result, "schema-mismatch")
    assert "user:*: v1 ×20, v2 ×10" in result.causes[0].evidence_for[0].text


def test_corrupt_entries(redis: RedisServer) -> None:
    redis.client().set("user:99", GARBAGE, ex=3600)
    result = serialization(live(redis=(redis.url,)))
    assert_first(result, "corrupt-entries")
    assert "(e.g. user:99)" in result.causes[0].evidence_for[0].text


def test_unsupported_types_with_a_layout_and_the_log(redis: RedisServer, tmp_path: Path) -> None:
    # The entity gained a Decimal: postcard wrote 16 bytes where a string was expected.
    client = redis.client()
    for i in range(40, 45):
        client.set(f"user:{i}", b"CKIT\x01" + bytes([i]) + b"\xff" * 16, ex=3600)
    log = tmp_path / "app.log"
    log.write_text(
        "2026-12-01T10:00:00Z WARN Serialization failed for user:40: Unsupported type\n" * 3
    )
    entities = parse_entities({"user": {"fields": ["u64", "string", "string"]}}, "test")
    result = serialization(live(redis=(redis.url,), logs=(log,), entities=entities))
    assert_first(result, "unsupported-types")
    ids = {e.id for e in result.causes[0].evidence_for}
    assert ids == {"undecodable_payloads", "unsupported_log_lines"}


def test_without_a_layout_unsupported_types_name_the_entities_table(redis: RedisServer) -> None:
    result = serialization(live(redis=(redis.url,)))
    unsupported = next(c for c in result.causes if c.id == "serialization.unsupported-types")
    assert unsupported.verdict == "unknown"
    assert any(m.id == "entities" and "[entities" in m.how for m in unsupported.missing)


def test_mixed_serializers(redis: RedisServer) -> None:
    client = redis.client()
    client.set("user:200", json.dumps({"id": 200, "name": "json"}), ex=3600)
    client.set("user:201", pickle.dumps({"id": 201}, protocol=4), ex=3600)
    result = serialization(live(redis=(redis.url,)))
    assert_first(result, "mixed-serializers")
    text = result.causes[0].evidence_for[0].text
    assert "JSON ×1" in text and "pickle ×1" in text


def test_two_causes_a_new_version_and_a_json_writer(redis: RedisServer) -> None:
    client = redis.client()
    for i in range(21, 31):
        client.set(f"user:{i}", user_entry(i, "n", "e@x", version=2), ex=3600)
    client.set("user:200", json.dumps({"id": 200}), ex=3600)
    assert_first(serialization(live(redis=(redis.url,))), "schema-mismatch", "mixed-serializers")


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b'{"id": 1}', "JSON"),
        (b"  [1, 2]", "JSON"),
        (pickle.dumps([1], protocol=2), "pickle"),
        (b"\xac\xed\x00\x05sr", "Java serialization"),
        (b"\x82\xa2id\x01", "msgpack"),
        (b"garbage value", None),
        (b"CKIT\x01", None),
    ],
)
def test_foreign_formats_by_their_first_bytes(head: bytes, kind: str | None) -> None:
    assert foreign_format(head) == kind
