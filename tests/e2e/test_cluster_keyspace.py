"""bigkeys, ttl and inspect over a real Redis Cluster holding 30,000 keys (the issue's
example): pointed at one node, they read the whole cluster, and each key on its owner."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import cachediag
from cachediag.keyspace.slots import key_slot

SCHEMAS = Path(cachediag.__file__).parent / "schemas"


def _valid(run: Any, name: str) -> dict[str, Any]:
    document: dict[str, Any] = run.json()
    jsonschema.validate(document, json.loads((SCHEMAS / f"{name}-v1.json").read_text()))
    return document


def _port_of(address: str) -> int:
    return int(address.rsplit(":", 1)[1])


def test_key_slots_are_the_servers(redis_cluster: Any) -> None:
    for key in ("user:1", "user:29999", "{user:1}:cart", "a{b}c", "émoji:☃"):
        assert key_slot(key.encode()) == int(redis_cluster.seed.cli("CLUSTER", "KEYSLOT", key))


def test_bigkeys_counts_every_key_of_the_cluster(cachediag: Any, redis_cluster: Any) -> None:
    node = redis_cluster.nodes[1]
    run = cachediag("bigkeys", "--redis", node.url, "--json", "--no-progress", "--top", "50")
    assert run.code == 0, run.err
    (row,) = _valid(run, "bigkeys")["targets"]
    assert row["target"] == f"redis-cluster://127.0.0.1:{node.port}"
    assert row["totals"]["keys"] == 30_000 and row["complete"]
    assert [n["role"] for n in row["nodes"]] == ["primary"] * 3
    assert sum(n["keys"] for n in row["nodes"]) == 30_000
    assert row["replicas_skipped"] == 3
    # Each listed key names the node holding it: its slot's owner.
    app = redis_cluster.client()
    for entry in row["top"]:
        owner = app.get_node_from_key(entry["key"])
        assert entry["node"] == f"127.0.0.1:{owner.port}", entry
    app.close()


def test_bigkeys_with_replicas_reads_them_too(cachediag: Any, redis_cluster: Any) -> None:
    run = cachediag(
        "bigkeys", "--redis", redis_cluster.seed.url, "--json", "--no-progress", "--replicas"
    )
    assert run.code == 0, run.err
    (row,) = _valid(run, "bigkeys")["targets"]
    assert len(row["nodes"]) == 6
    replicas = [n for n in row["nodes"] if n["role"] == "replica"]
    assert sum(n["keys"] for n in replicas) == 30_000  # READONLY: their own copies


def test_bigkeys_table_shows_the_nodes(cachediag: Any, redis_cluster: Any) -> None:
    run = cachediag("bigkeys", "--redis", redis_cluster.seed.url, "--no-progress", "--top", "3")
    assert run.code == 0, run.err
    assert "30,000 keys" in run.out and "Nodes scanned at once (3)" in run.out
    assert "node" in run.out


@pytest.mark.parametrize("index", [0, 4])
def test_ttl_of_a_key_goes_to_its_owner(cachediag: Any, redis_cluster: Any, index: int) -> None:
    node = redis_cluster.nodes[index]
    run = cachediag("ttl", "user:1", "user:2", "nosuch:key", "--redis", node.url, "--json")
    assert run.code == 0, run.err  # a MOVED is never "down"
    (row,) = _valid(run, "ttl")["targets"]
    assert row["status"] == "up"
    keys = {k["key"]: k for k in row["keys"]}
    assert keys["user:1"]["ttl"] == -1 and keys["user:1"]["type"] == "string"
    assert keys["nosuch:key"]["ttl"] == -2
    app = redis_cluster.client()
    assert _port_of(keys["user:1"]["node"]) == app.get_node_from_key("user:1").port
    app.close()


def test_ttl_follows_a_moved_slot(cachediag: Any, redis_cluster: Any) -> None:
    """The map says one owner, the slot is then given to another: MOVED is followed."""
    from cachediag.backends import expand
    from cachediag.keyspace.routing import SlotRouter
    from cachediag.targets.parse import parse_redis

    nodes = expand([parse_redis(redis_cluster.seed.url, "flag")], 2.0)
    with SlotRouter(nodes, 2.0) as router:
        router.load()
        slot = key_slot(b"user:1")
        right = router.slots[slot]
        wrong = next(n for n in nodes if n.role == "primary" and n.address != right.address)
        router.slots[slot] = wrong  # a stale map, as after a resharding
        node, replies = router.pipeline(b"user:1", [("TTL", b"user:1")])
        assert node.address == right.address and replies == [-1]
        assert router.redirects == 1 and router.slots[slot].address == right.address


def test_inspect_follows_a_moved_slot_once(redis_cluster: Any) -> None:
    """inspect KEY's routing with a stale map: the owner's MOVED re-maps the slot and the
    key is read on the right node, after one redirection (not a second trip to the old)."""
    from cachediag.backends import expand
    from cachediag.keyspace.inspect import _routes
    from cachediag.keyspace.routing import SlotRouter
    from cachediag.targets.parse import parse_redis

    nodes = expand([parse_redis(redis_cluster.seed.url, "flag")], 2.0)
    with SlotRouter(nodes, 2.0) as router:
        router.load()
        slot = key_slot(b"user:1")
        right = router.slots[slot]
        wrong = next(n for n in nodes if n.role == "primary" and n.address != right.address)
        router.slots[slot] = wrong  # a stale map, as after a resharding
        sent: list[str] = []
        connect = router.client

        def counted(node: Any) -> Any:
            client = connect(node)

            class Counting:
                def pipeline(self, commands: Any, timeout: Any = None) -> Any:
                    sent.append(node.address)
                    return client.pipeline(commands, timeout)

            return Counting()

        router.client = counted  # type: ignore[method-assign]
        routes = _routes(router, [b"user:1", b"user:2"])
        served = {route[0][0].address: route for route in routes}
        assert router.redirects == 1 and router.slots[slot].address == right.address
        assert sent.count(wrong.address) == 1  # the owner by the map, asked once
        ((_node, asking), indexes, types) = served[right.address]
        assert not asking and 0 in indexes and types[indexes.index(0)] == b"string"


def test_ttl_keyspace_samples_every_primary(cachediag: Any, redis_cluster: Any) -> None:
    run = cachediag("ttl", "--redis", redis_cluster.seed.url, "--json", "--max-keys", "60000")
    assert run.code in (0, 1), run.err
    (row,) = _valid(run, "ttl")["targets"]
    assert len(row["nodes"]) == 3 and sum(n["keys"] for n in row["nodes"]) == 30_000
    assert [n["role"] for n in row["nodes"]] == ["primary"] * 3
    assert row["replicas_skipped"] == 3
    table = cachediag("ttl", "--redis", redis_cluster.seed.url, "--max-keys", "60000")
    assert "Nodes scanned at once (3); 3 replicas left out (--replicas scans them)" in table.out


@pytest.fixture
def expiring(redis_cluster: Any) -> Any:
    """30 keys with a TTL of an hour spread over the primaries, replicated; removed after."""
    app = redis_cluster.client()
    keys = [f"exp:{i}" for i in range(30)]
    for key in keys:
        app.set(key, b"x", ex=3600)
    try:
        _replicated(redis_cluster, 30_030)
        yield keys
    finally:
        for key in keys:
            app.delete(key)
        app.close()
        _replicated(redis_cluster)


def test_ttl_keyspace_with_replicas_reads_them_too(
    cachediag: Any, redis_cluster: Any, expiring: list[str]
) -> None:
    run = cachediag(
        "ttl", "--redis", redis_cluster.seed.url, "--replicas", "--max-keys", "120000", "--json"
    )
    assert run.code in (0, 1), run.err  # 1: every key lacks a TTL, the verdict fails
    (row,) = _valid(run, "ttl")["targets"]
    assert len(row["nodes"]) == 6 and "replicas_skipped" not in row
    assert all(n["status"] == "up" and n["complete"] for n in row["nodes"])
    replicas = [n for n in row["nodes"] if n["role"] == "replica"]
    # READONLY: each replica's PTTLs answered from its own copies, not MOVED to the primary
    assert sum(n["keys"] for n in replicas) == 30_030 and not row["notes"]
    # the copies' TTLs too (a PTTL a replica refused would read as no expiry)
    assert row["sampled"] == 60_060 and row["buckets"]["< 1 h"] == 60
    assert row["buckets"]["no expiry"] == 60_000


@pytest.mark.parametrize("args", [["user:1"], ["--from", "bundle.tar.gz"]])
def test_ttl_replicas_outside_the_live_sample_is_a_usage_error(
    cachediag: Any, redis_cluster: Any, args: list[str]
) -> None:
    run = cachediag("ttl", *args, "--redis", redis_cluster.seed.url, "--replicas")
    assert run.code == 2, run.out + run.err
    assert "--replicas applies to the keyspace sample" in run.err and "Traceback" not in run.err


def test_inspect_a_key_on_its_owner(cachediag: Any, redis_cluster: Any) -> None:
    node = redis_cluster.nodes[2]
    run = cachediag("inspect", "user:1", "user:17", "--redis", node.url, "--json")
    assert run.code == 0, run.err
    (row,) = _valid(run, "inspect")["targets"]
    assert [k["key"] for k in row["keys"]] == ["user:1", "user:17"]
    app = redis_cluster.client()
    for key in row["keys"]:
        assert key["exists"] is True and key["type"] == "string"
        assert _port_of(key["node"]) == app.get_node_from_key(key["key"]).port
    app.close()
    table = cachediag("inspect", "user:1", "--redis", node.url)
    assert table.code == 0 and "MOVED" not in table.out


def test_inspect_sample_merges_the_primaries_into_one_row(
    cachediag: Any, redis_cluster: Any
) -> None:
    run = cachediag(
        "inspect", "--redis", redis_cluster.seed.url, "--json", "--no-progress", "--max-keys", "0"
    )
    assert run.code == 0, run.err
    (row,) = _valid(run, "inspect")["targets"]
    assert row["target"] == f"redis-cluster://127.0.0.1:{redis_cluster.seed.port}"
    assert row["status"] == "up" and row["complete"] and row["error"] is None
    primaries = {f"redis://127.0.0.1:{n.port}/0" for n in redis_cluster.primaries()}
    assert {n["target"] for n in row["nodes"]} == primaries
    assert [n["role"] for n in row["nodes"]] == ["primary"] * 3
    assert row["replicas_skipped"] == 3
    # Every key of the cluster once: the nodes' samples add up, and so do their classes.
    assert row["entries"] == sum(n["keys"] for n in row["nodes"]) == 30_000
    assert row["totals"]["not_cache_kit"] == 30_000 and row["values_decoded"] == 30_000
    (users,) = row["namespaces"]
    assert users["namespace"] == "user:*" and users["entries"] == 30_000
    assert all(n["keys"] > 9_000 for n in row["nodes"])  # each primary its share


def test_inspect_sample_budget_is_shared(cachediag: Any, redis_cluster: Any) -> None:
    run = cachediag(
        "inspect", "--redis", redis_cluster.seed.url, "--json", "--no-progress", "--max-keys", "90"
    )
    assert run.code == 0, run.err
    (row,) = _valid(run, "inspect")["targets"]
    assert not row["complete"] and row["stop_reason"] == "max-keys"
    assert row["resume_cursor"] is None  # a cursor per node, in nodes
    assert all(n["cursor"] != "0" for n in row["nodes"])
    assert 90 <= row["entries"] < 90 + 3 * 1000  # about the budget, a SCAN batch over at most


@pytest.fixture
def planted(redis_cluster: Any) -> Any:
    """cache-kit entries, and corrupt ones, spread by slot over the primaries; removed after."""
    valid = bytes.fromhex("434b4954012a05416c69636511616c696365406578616d706c652e636f6d")
    values = {f"ck:{i}": valid for i in range(30)}
    values.update({f"ck:bad{i}": b"CKIU\x01" + valid[5:] for i in range(6)})
    values.update({f"ck:v2:{i}": b"CKIT\x02" + valid[5:] for i in range(3)})
    app = redis_cluster.client()
    for key, value in values.items():
        app.set(key, value)
    try:
        yield app, values
    finally:
        for key in values:
            app.delete(key)
        app.close()
        _replicated(redis_cluster)


def _replicated(redis_cluster: Any, keys: int = 30_000) -> None:
    """Until the replicas hold the fixture's keys again (replication is asynchronous)."""
    import time

    replicas = [n for n in redis_cluster.nodes if redis_cluster.role_of(n) != "master"]
    deadline = time.monotonic() + 10
    while sum(int(n.cli("DBSIZE")) for n in replicas) != keys:
        assert time.monotonic() < deadline, "the replicas did not catch up"
        time.sleep(0.05)


def test_inspect_sample_adds_up_what_each_primary_holds(
    cachediag: Any, redis_cluster: Any, planted: Any, tmp_path: Path
) -> None:
    app, values = planted
    owners = {_port_of_node(app, key) for key in values if "bad" in key}
    assert len(owners) > 1  # the corrupt entries sit on several primaries
    run = cachediag(
        "inspect", "--redis", redis_cluster.seed.url, "--pattern", "ck:*", "--max-keys", "0",
        "--json", "--no-progress",
    )  # fmt: skip
    assert run.code == 1, run.err  # corrupt entries found
    (row,) = _valid(run, "inspect")["targets"]
    assert row["entries"] == len(values) and row["complete"]
    assert row["totals"] == {
        "valid": 33, "invalid_magic": 6, "undecodable": 0, "not_cache_kit": 0
    }  # fmt: skip
    assert row["schema_versions"] == {"1": 30, "2": 3}
    affected = [entry for ns in row["namespaces"] for entry in ns["affected"]]
    assert sorted(entry["key"] for entry in affected) == sorted(k for k in values if "bad" in k)
    for entry in affected:  # each read on its slot's owner, and named by it
        assert _port_of(entry["node"]) == _port_of_node(app, entry["key"]), entry
    layout = tmp_path / "cachediag.toml"
    layout.write_text('[entities."ck"]\nfields = ["id: u64", "name: string", "email: string"]\n')
    decoded = cachediag(
        "inspect", "--redis", redis_cluster.seed.url, "--pattern", "ck:*", "--max-keys", "0",
        "--config", str(layout), "--json", "--no-progress",
    )  # fmt: skip
    (row,) = _valid(decoded, "inspect")["targets"]
    payloads = row["payloads"]  # each primary's payload decode, summed
    assert payloads["decoded"] == 33 and payloads["broken"] == payloads["not_read"] == 0
    table = cachediag(
        "inspect", "--redis", redis_cluster.seed.url, "--pattern", "ck:*", "--no-progress"
    )
    assert f"redis-cluster://127.0.0.1:{redis_cluster.seed.port}" in table.out
    assert "Nodes scanned at once (3)" in table.out and "3 replicas left out" in table.out
    assert "ck:bad0  invalid magic" in table.out and " on 127.0.0.1:" in table.out


def _port_of_node(app: Any, key: str) -> int:
    return int(app.get_node_from_key(key).port)


def test_inspect_sample_with_replicas_reads_them_too(cachediag: Any, redis_cluster: Any) -> None:
    run = cachediag(
        "inspect", "--redis", redis_cluster.seed.url, "--replicas", "--max-keys", "0",
        "--json", "--no-progress",
    )  # fmt: skip
    assert run.code == 0, run.err
    (row,) = _valid(run, "inspect")["targets"]
    assert len(row["nodes"]) == 6 and "replicas_skipped" not in row
    replicas = [n for n in row["nodes"] if n["role"] == "replica"]
    # READONLY: each replica reads its own copies (without it every read is a MOVED)
    assert sum(n["keys"] for n in replicas) == 30_000
    assert all(n["error"] is None for n in row["nodes"])
    assert row["totals"]["not_cache_kit"] == 60_000  # copies counted again, as bigkeys does


def test_inspect_replicas_with_named_keys_is_a_usage_error(
    cachediag: Any, redis_cluster: Any
) -> None:
    run = cachediag("inspect", "user:1", "--redis", redis_cluster.seed.url, "--replicas")
    assert run.code == 2
    assert "--replicas applies to the sample" in run.err and "Traceback" not in run.err


def test_inspect_sample_refuses_a_cursor_on_a_cluster(cachediag: Any, redis_cluster: Any) -> None:
    run = cachediag("inspect", "--redis", redis_cluster.seed.url, "--cursor", "1234")
    assert run.code == 2 and "drop --cursor" in run.err and "Traceback" not in run.err


def test_a_node_down_mid_run_is_named_and_the_rest_merged(
    redis_cluster: Any, closed_port: int
) -> None:
    """A primary that cannot be reached (killed after discovery) costs only its share."""
    import dataclasses

    from cachediag.backends import expand
    from cachediag.keyspace.bigkeys import BigkeysRequest, redis_nodes_bigkeys
    from cachediag.scan.memcached import CrawlOptions
    from cachediag.scan.redis import ScanOptions
    from cachediag.targets.parse import parse_redis

    nodes = [n for n in expand([parse_redis(redis_cluster.seed.url, "flag")], 2.0)]
    primaries = [n for n in nodes if n.role == "primary"]
    dead = dataclasses.replace(
        primaries[0], name=f"redis://127.0.0.1:{closed_port}/0", port=closed_port
    )
    request = BigkeysRequest(5, 5, ScanOptions(max_keys=0), CrawlOptions())
    row = redis_nodes_bigkeys([dead, *primaries[1:]], 2.0, request, None)
    by_target = {n["target"]: n for n in row["nodes"]}
    assert by_target[dead.name]["status"] == "down"
    assert by_target[dead.name]["error"]["kind"] == "refused"
    assert row["complete"] is False and row["stop_reason"] == "server-error"
    assert row["totals"]["keys"] == sum(by_target[p.name]["keys"] for p in primaries[1:])
    assert 0 < row["totals"]["keys"] < 30_000


# -- a slot being migrated: ASK ---------------------------------------------------------------

CKIT_USER = bytes.fromhex("434b4954012a05416c69636511616c696365406578616d706c652e636f6d")
USER_LAYOUT = '[entities."{mig}"]\nfields = ["id: u64", "name: string", "email: string"]\n'


@pytest.fixture
def migrating(redis_cluster: Any) -> Any:
    """A slot half migrated, as `redis-cli --cluster reshard` leaves it between two keys:
    IMPORTING on one primary, MIGRATING on its owner, two of its keys already MIGRATEd, one
    still on the owner. Put back afterwards (the moved keys deleted, both nodes STABLE)."""
    import redis

    app = redis_cluster.client()
    moved, plain, stays = "{mig}:1", "{mig}:2", "{mig}:3"
    for key, value in ((moved, CKIT_USER), (plain, b"no magic here"), (stays, CKIT_USER)):
        app.set(key, value)
    slot = str(key_slot(moved.encode()))
    owner_port = _port_of_node(app, moved)
    source = next(n for n in redis_cluster.primaries() if n.port == owner_port)
    target = next(n for n in redis_cluster.primaries() if n.port != owner_port)
    source_id, target_id = (
        source.cli("CLUSTER", "MYID").strip(),
        target.cli("CLUSTER", "MYID").strip(),
    )
    target.cli("CLUSTER", "SETSLOT", slot, "IMPORTING", source_id)
    source.cli("CLUSTER", "SETSLOT", slot, "MIGRATING", target_id)
    for key in (moved, plain):
        assert (
            source.cli("MIGRATE", "127.0.0.1", str(target.port), key, "0", "5000").strip() == "OK"
        )
    try:
        with pytest.raises(redis.exceptions.AskError):  # what a client now hears
            redis.Redis(port=source.port).get(moved)
        yield source, target, {"moved": moved, "plain": plain, "stays": stays}
    finally:
        on_target = redis.Redis(port=target.port)
        pipe = on_target.pipeline(transaction=False)
        for key in (moved, plain):
            pipe.execute_command("ASKING")
            pipe.execute_command("DEL", key)
        pipe.execute()
        on_target.close()
        source.cli("CLUSTER", "SETSLOT", slot, "STABLE")
        target.cli("CLUSTER", "SETSLOT", slot, "STABLE")
        app.delete(stays)
        app.close()
        _replicated(redis_cluster)


def test_inspect_follows_ask_to_the_importing_node(
    cachediag: Any, redis_cluster: Any, migrating: Any
) -> None:
    source, target, keys = migrating
    run = cachediag(
        "inspect", keys["moved"], keys["stays"], "user:1", "--redis", redis_cluster.seed.url,
        "--json",
    )  # fmt: skip
    assert run.code == 0, run.out + run.err  # an ASK is never "down", nor unreadable
    (row,) = _valid(run, "inspect")["targets"]
    assert row["status"] == "up"
    by_key = {k["key"]: k for k in row["keys"]}
    assert [k["key"] for k in row["keys"]] == [keys["moved"], keys["stays"], "user:1"]
    moved = by_key[keys["moved"]]
    assert moved["exists"] is True and moved["type"] == "string" and moved["ttl_ms"] == -1
    assert moved["envelope"]["verdict"] == "valid" and moved["length"] == len(CKIT_USER)
    assert moved["node"] == f"127.0.0.1:{target.port}"  # read where it is now
    assert by_key[keys["stays"]]["node"] == f"127.0.0.1:{source.port}"  # not moved yet
    assert by_key[keys["stays"]]["envelope"]["verdict"] == "valid"
    assert row["redirects"] == 1  # once, for the one key that moved
    table = cachediag("inspect", keys["moved"], "--redis", redis_cluster.seed.url)
    assert table.code == 0 and "ASK" not in table.out.replace("MOVED/ASK", "")
    assert "redirection(s) followed" in table.out


def test_inspect_reads_an_asked_keys_value_and_neighbours_there(
    cachediag: Any, redis_cluster: Any, migrating: Any, tmp_path: Path
) -> None:
    """The verdict's extra reads (the whole value, the namespace's neighbours) go to the
    importing node with ASKING too: without it each one is a MOVED back to the owner."""
    _source, target, keys = migrating
    config = tmp_path / "cachediag.toml"
    config.write_text(USER_LAYOUT)
    run = cachediag(
        "inspect", keys["moved"], "--redis", redis_cluster.seed.url, "--config", str(config),
        "--json",
    )  # fmt: skip
    assert run.code == 0, run.out + run.err
    (row,) = _valid(run, "inspect")["targets"]
    (moved,) = row["keys"]
    assert moved["envelope"]["payload"]["state"] == "ok", moved  # decoded in full
    plain = cachediag("inspect", keys["plain"], "--redis", redis_cluster.seed.url, "--json")
    (row,) = _valid(plain, "inspect")["targets"]
    (key,) = row["keys"]
    assert key["node"] == f"127.0.0.1:{target.port}"
    evidence = key["envelope"]["namespace_evidence"]
    # its neighbour on the importing node, {mig}:moved, read there: a cache-kit entry
    assert evidence["source"] == "neighbours" and evidence.get("error") is None, evidence
    assert evidence["looked_at"] == 1 and evidence["cache_kit_entries"] == 1
    assert key["envelope"]["verdict"] == "invalid_magic"
    assert plain.code == 1  # a corrupt entry in a cache-kit namespace


def test_ttl_follows_ask_to_the_importing_node(
    cachediag: Any, redis_cluster: Any, migrating: Any
) -> None:
    source, target, keys = migrating
    run = cachediag(
        "ttl", keys["moved"], keys["stays"], "--redis", redis_cluster.seed.url, "--json"
    )
    assert run.code == 0, run.out + run.err
    (row,) = _valid(run, "ttl")["targets"]
    by_key = {k["key"]: k for k in row["keys"]}
    moved = by_key[keys["moved"]]
    # TTL, TYPE and MEMORY USAGE each after ASKING (it holds for one command only)
    assert moved["ttl"] == -1 and moved["type"] == "string" and moved["memory_bytes"]
    assert moved["node"] == f"127.0.0.1:{target.port}"
    assert by_key[keys["stays"]]["node"] == f"127.0.0.1:{source.port}"


def test_inspect_sample_with_a_node_down_names_it_and_merges_the_rest(
    redis_cluster: Any, closed_port: int
) -> None:
    import dataclasses

    from cachediag.backends import expand
    from cachediag.keyspace.inspect import SampleRequest, redis_nodes_sample
    from cachediag.scan.memcached import CrawlOptions
    from cachediag.scan.redis import ScanOptions
    from cachediag.targets.parse import parse_redis

    nodes = expand([parse_redis(redis_cluster.seed.url, "flag")], 2.0)
    primaries = [n for n in nodes if n.role == "primary"]
    dead = dataclasses.replace(
        primaries[0], name=f"redis://127.0.0.1:{closed_port}/0", port=closed_port
    )
    request = SampleRequest(ScanOptions(max_keys=0, with_head=True), CrawlOptions())
    row = redis_nodes_sample([dead, *primaries[1:]], 2.0, request, None)
    by_target = {n["target"]: n for n in row["nodes"]}
    assert by_target[dead.name]["status"] == "down"
    assert by_target[dead.name]["error"]["kind"] == "refused"
    assert row["complete"] is False and row["stop_reason"] == "server-error"
    assert row["entries"] == sum(by_target[p.name]["keys"] for p in primaries[1:])
    assert 0 < row["entries"] < 30_000 and row["totals"]["not_cache_kit"] == row["entries"]
