"""The Redis purge core against a real server: filters on cache-kit entries and TTLs, the
guarded delete (a key rewritten between the read and the delete survives), the latency
guard, --max-keys, backup and restore."""

from __future__ import annotations

import io
import random
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from servers import RedisServer, Staller, start_stalling_redis

from cachediag.purge.backup import BackupWriter, read_header
from cachediag.purge.filters import Inspection
from cachediag.purge.redis import Sinks, purge_redis
from cachediag.purge.request import Filters, Limits, PurgeRequest, validate
from cachediag.purge.restore import restore_redis
from cachediag.targets.parse import parse_redis

V1 = b"CKIT\x01\x05Alice"
V2 = b"CKIT\x02\x05Alice"


def target(server: RedisServer) -> Any:
    return parse_redis(server.url, "flag")


def run(server: RedisServer, sinks: Sinks | None = None, **fields: Any) -> dict[str, Any]:
    request = validate(PurgeRequest(**{"apply": True, **fields}))
    row = purge_redis(target(server), 5, request, sinks or Sinks())
    return {**row, "purge": row["purge"].to_dict()}


def names(server: RedisServer) -> set[bytes]:
    return set(server.client().scan_iter(count=1000))


@pytest.fixture
def debug_redis(tmp_path: Path) -> Any:
    server = start_stalling_redis(tmp_path / "redis")
    yield server
    server.stop()


def test_invalid_and_schema_filters_on_cache_kit_entries(redis_server: RedisServer) -> None:
    client = redis_server.client()
    client.mset({"user:1": V1, "user:2": V2, "user:3": b"garbage", "user:4": b"CKIT\x01"})
    client.hset("user:5", "f", "v")
    client.set("other:1", b"garbage")
    row = run(redis_server, patterns=("user:*",), filters=Filters(invalid=True))
    assert (row["purge"]["matched"], row["purge"]["deleted"]) == (2, 2)
    assert names(redis_server) == {b"user:1", b"user:2", b"user:5", b"other:1"}
    assert row["purge"]["bytes"]["method"] == "measured"
    row = run(redis_server, patterns=("user:*",), filters=Filters(schema_below=2))
    assert row["purge"]["deleted"] == 1 and names(redis_server) == {
        b"user:2",
        b"user:5",
        b"other:1",
    }
    row = run(redis_server, patterns=("user:*",), filters=Filters(schema_version=2))
    assert names(redis_server) == {b"user:5", b"other:1"}


def test_ttl_and_type_filters(redis_server: RedisServer) -> None:
    client = redis_server.client()
    client.set("s:forever", 1)
    client.set("s:short", 1, ex=30)
    client.set("s:long", 1, ex=3600)
    client.hset("s:hash", "f", "v")
    run(redis_server, patterns=("s:*",), filters=Filters(ttl_above_s=60))
    assert names(redis_server) == {b"s:forever", b"s:short", b"s:hash"}
    run(redis_server, patterns=("s:*",), filters=Filters(type="hash"))
    assert names(redis_server) == {b"s:forever", b"s:short"}
    row = run(redis_server, patterns=("s:*",), filters=Filters(no_ttl=True))
    assert names(redis_server) == {b"s:short"} and row["purge"]["deleted"] == 1


def test_idle_filter_reads_the_idle_time_before_touching(redis_server: RedisServer) -> None:
    client = redis_server.client()
    client.set("i:old", V1)
    client.set("i:old2", b"garbage")
    time.sleep(2.2)
    client.set("i:new", 1)
    client.set("i:new2", b"garbage")
    run(redis_server, patterns=("i:*",), filters=Filters(idle_above_s=1, invalid=True))
    assert names(redis_server) == {b"i:old", b"i:new", b"i:new2"}
    time.sleep(2.2)  # the filter's own reads of i:old above made it fresh
    client.set("i:new", 1)
    client.set("i:new2", b"garbage")
    run(redis_server, patterns=("i:*",), filters=Filters(idle_above_s=1))
    assert names(redis_server) == {b"i:new", b"i:new2"}


def test_a_key_rewritten_between_read_and_delete_survives(redis_server: RedisServer) -> None:
    client = redis_server.client()
    client.mset({f"user:{i}": b"garbage" for i in range(10)})
    client.set("t:1", 1)

    def rewrite(batch: list[Inspection]) -> None:
        # The application writes a good entry back after purge read the bad one.
        assert any(info.key == b"user:3" for info in batch)
        client.set("user:3", V1)

    row = run(
        redis_server,
        Sinks(after_inspect=rewrite),
        patterns=("user:*",),
        filters=Filters(invalid=True),
    )
    assert (row["purge"]["matched"], row["purge"]["deleted"], row["purge"]["changed"]) == (10, 9, 1)
    assert names(redis_server) == {b"user:3", b"t:1"}
    assert client.get("user:3") == V1
    # The same for a TTL filter: a key given a short TTL since it was read stays.
    client.set("t:1", 1)

    def shorten(batch: list[Inspection]) -> None:
        client.expire("t:1", 5)

    row = run(
        redis_server, Sinks(after_inspect=shorten), patterns=("t:*",), filters=Filters(no_ttl=True)
    )
    assert row["purge"]["changed"] == 1 and b"t:1" in names(redis_server)


def test_max_keys_stops_there_and_resumes(redis_server: RedisServer) -> None:
    client = redis_server.client()
    client.mset({f"user:{i}": 1 for i in range(2500)})
    row = run(redis_server, patterns=("user:*",), limits=Limits(max_keys=1000), count=300)
    report = row["purge"]
    assert (report["deleted"], report["stop_reason"], report["complete"]) == (
        1000,
        "max-keys",
        False,
    )
    assert len(names(redis_server)) == 1500
    rest = run(redis_server, patterns=("user:*",), cursor=int(report["cursor"]))
    assert rest["purge"]["complete"] and names(redis_server) == set()


def test_the_guard_pauses_when_the_server_is_slow(debug_redis: RedisServer) -> None:
    client = debug_redis.client()
    client.mset({f"user:{i}": 1 for i in range(20_000)})
    # Another client keeps Redis busy 30 ms at a time for the first second of the purge.
    staller = Staller(debug_redis, seconds=0.03).__enter__()
    threading.Timer(1.0, staller.__exit__).start()
    started = time.monotonic()
    row = run(
        debug_redis, patterns=("user:*",), limits=Limits(rate=10_000, max_latency_ms=10), count=200
    )
    assert time.monotonic() - started < 30
    report = row["purge"]
    assert report["deleted"] == 20_000
    assert report["pauses"] > 0 and report["paused_s"] > 0
    assert report["worst_round_trip_ms"] > 10


def test_backup_then_restore_gives_the_same_digest(debug_redis: RedisServer, tmp_path) -> None:
    client = debug_redis.client()
    client.mset({f"user:{i}": f"value {i}" for i in range(3000)})
    client.hset("user:h", mapping={"a": 1, "b": 2})
    client.rpush("user:l", 1, 2, 3)
    client.set("user:ttl", "x", ex=3600)
    client.set("keep", "x")
    before = client.execute_command("DEBUG", "DIGEST")
    ttl_before = client.pttl("user:ttl")
    buffer = io.BytesIO()
    writer = BackupWriter(buffer, {"target": "redis://127.0.0.1/0"})
    row = run(debug_redis, Sinks(backup=writer), patterns=("user:*",))
    assert row["purge"]["deleted"] == 3003 and writer.records == 3003
    assert names(debug_redis) == {b"keep"}
    buffer.seek(0)
    assert read_header(buffer, "b")["target"] == "redis://127.0.0.1/0"
    done = restore_redis(target(debug_redis), 5, buffer, "b", replace=False, apply=True)
    assert done["restore"]["restored"] == 3003
    assert client.execute_command("DEBUG", "DIGEST") == before
    assert abs(client.pttl("user:ttl") - ttl_before) < 5000
    # Again: everything is already present; with REPLACE, it is overwritten.
    client.set("user:1", "changed")
    buffer.seek(0)
    read_header(buffer, "b")
    again = restore_redis(target(debug_redis), 5, buffer, "b", replace=False, apply=True)
    assert (again["restore"]["restored"], again["restore"]["already_present"]) == (0, 3003)
    assert client.get("user:1") == b"changed"
    buffer.seek(0)
    read_header(buffer, "b")
    replaced = restore_redis(target(debug_redis), 5, buffer, "b", replace=True, apply=True)
    assert replaced["restore"]["restored"] == 3003
    assert client.execute_command("DEBUG", "DIGEST") == before


def test_a_key_rewritten_after_its_backup_survives(redis_server: RedisServer) -> None:
    """With --backup, a key is deleted only if it still holds what the backup holds."""
    client = redis_server.client()
    client.mset({f"user:{i}": f"old {i}" for i in range(20)})

    def rewrite(keys: list[bytes]) -> None:
        if b"user:5" in keys:
            client.set("user:5", "new")

    buffer = io.BytesIO()
    writer = BackupWriter(buffer, {"target": "t"})
    row = run(redis_server, Sinks(backup=writer, before_delete=rewrite), patterns=("user:*",))
    assert (row["purge"]["deleted"], row["purge"]["changed"]) == (19, 1)
    assert names(redis_server) == {b"user:5"} and client.get("user:5") == b"new"


def test_backup_guard_reads_plain_strings_from_real_dumps(redis_server: RedisServer) -> None:
    from cachediag.writes import backup_guard

    client = redis_server.client()
    # 6- and 14-bit lengths (incompressible bytes: Redis LZF-compresses longer strings
    # when that saves room); integers, compressed strings and a 32-bit length keep DUMP.
    plain = [b"", b"a", b"12a", bytes(range(63)), bytes(range(64)), random.randbytes(9000)]
    kept = [b"12345", b"-7", b"x" * 63, b"ab" * 200, random.randbytes(16384)]
    for value in plain + kept:
        client.set("k", value)
        kind, guard = backup_guard(client.dump("k"))
        assert (kind, guard) == ((b"s", value) if value in plain else (b"d", client.dump("k")))
    client.hset("h", "f", "v")
    assert backup_guard(client.dump("h")) == (b"d", client.dump("h"))


def test_a_key_of_any_kind_rewritten_after_its_backup_survives(redis_server: RedisServer) -> None:
    """The batch guard compares a plain string by its value and anything else by its DUMP:
    each kind of rewrite between the backup and the delete leaves the key alone."""
    client = redis_server.client()
    client.mset({f"user:{i}": f"old {i}" for i in range(40)})
    client.mset({"user:int": 12345, "user:long": "ab" * 200, "user:type": "a string"})
    client.hset("user:hash", mapping={"a": 1})
    client.set("user:gone", "x")
    rewrites = {
        b"user:3": lambda: client.set("user:3", "new"),
        b"user:int": lambda: client.set("user:int", 12346),
        b"user:long": lambda: client.set("user:long", "ab" * 199 + "ac"),
        b"user:hash": lambda: client.hset("user:hash", "a", 2),
        b"user:type": lambda: (client.delete("user:type"), client.rpush("user:type", "x")),
        b"user:gone": lambda: client.delete("user:gone"),
    }

    def rewrite(keys: list[bytes]) -> None:
        for key in keys:
            if key in rewrites:
                rewrites.pop(key)()

    buffer = io.BytesIO()
    writer = BackupWriter(buffer, {"target": "t"})
    row = run(
        redis_server, Sinks(backup=writer, before_delete=rewrite), patterns=("user:*",), count=10
    )
    report = row["purge"]
    assert not rewrites and writer.records == 45
    assert (report["deleted"], report["changed"], report["already_gone"]) == (39, 5, 1)
    assert names(redis_server) == {b"user:3", b"user:int", b"user:long", b"user:hash", b"user:type"}
    assert client.get("user:3") == b"new" and client.lrange("user:type", 0, -1) == [b"x"]


@pytest.mark.parametrize("backup", [False, True])
def test_a_sparse_pattern_with_empty_batches(redis_server: RedisServer, backup: bool) -> None:
    client = redis_server.client()
    client.mset({f"other:{i}": 1 for i in range(6000)})
    client.mset({f"user:{i}": 1 for i in range(300)})
    writer = BackupWriter(io.BytesIO(), {"target": "t"}) if backup else None
    row = run(redis_server, Sinks(backup=writer), patterns=("user:*",), count=100)
    assert row["error"] is None and row["purge"]["deleted"] == 300
    assert client.dbsize() == 6000 and (writer is None or writer.records == 300)
