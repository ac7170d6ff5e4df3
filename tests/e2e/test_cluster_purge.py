"""`purge` over a real Redis Cluster (3 primaries, 3 replicas): every primary purged at
once, each key deleted on the node owning its slot, slots that move mid-purge followed.

The cluster is this module's own: the purges delete keys and one test moves a slot, which
the session's shared cluster (30,000 keys other tests count) must not see.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from servers import RedisCluster, start_redis_cluster

import cachediag
from cachediag.keyspace.slots import key_slot
from cachediag.purge.redis import RedisPurge, Sinks
from cachediag.purge.request import Filters, PurgeRequest, validate
from cachediag.targets.parse import parse_redis

SCHEMA = json.loads((Path(cachediag.__file__).parent / "schemas" / "purge-v1.json").read_text())


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    made = start_redis_cluster(tmp_path_factory.mktemp("purge-cluster"))
    try:
        yield made
    finally:
        made.stop()


def _write(cluster: RedisCluster, names: list[str], ttl: int | None = None) -> None:
    app = cluster.client()
    pipe = app.pipeline()
    for name in names:
        pipe.set(name, "v", ex=ttl)
    pipe.execute()
    app.close()


def _left(cluster: RedisCluster, match: str) -> set[str]:
    """Every key matching `match` on every primary (read with SCAN on each)."""
    found: set[str] = set()
    for node in cluster.primaries():
        client = node.client()
        found |= {key.decode() for key in client.scan_iter(match=match, count=1000)}
        client.close()
    return found


def _row(run: Any) -> dict[str, Any]:
    document = run.json()
    jsonschema.validate(document, SCHEMA)
    (row,) = document["targets"]
    return row  # type: ignore[no-any-return]


def test_a_pattern_purge_deletes_on_every_primary_and_nothing_else(
    cachediag: Any, cluster: RedisCluster
) -> None:
    keys = [f"gone:{i}" for i in range(3000)]
    neighbours = ["gones:1", "gone", "x:gone:1", "gone:[1]x"]  # the last matches: see below
    _write(cluster, keys + neighbours[:3])
    run = cachediag("purge", "--pattern", "gone:*", "--yes", "--json", "--redis", cluster.seed.url)
    assert run.code == 0, run.err
    row = _row(run)
    assert row["target"] == f"redis-cluster://127.0.0.1:{cluster.seed.port}"
    purge = row["purge"]
    assert (purge["matched"], purge["deleted"], purge["failed"]) == (3000, 3000, 0)
    assert purge["errors"] == [] and purge["complete"]
    # Every primary had its share, deleted where it lives; replicas were left to follow.
    assert len(row["nodes"]) == 3 and row["replicas_skipped"] == 3
    assert all(node["purge"]["deleted"] > 500 for node in row["nodes"])
    assert sum(node["purge"]["deleted"] for node in row["nodes"]) == 3000
    assert _left(cluster, "gone*") == {"gones:1", "gone"}
    assert _left(cluster, "x:*") == {"x:gone:1"}
    assert purge["read_back"]["checked"] > 0 and purge["read_back"]["still_present"] == 0


def test_the_text_report_names_each_primary(cachediag: Any, cluster: RedisCluster) -> None:
    _write(cluster, [f"shown:{i}" for i in range(300)])
    run = cachediag("purge", "--pattern", "shown:*", "--yes", "--redis", cluster.seed.url)
    assert run.code == 0, run.err
    assert "deleted 300 of 300 matched" in run.out
    for node in cluster.primaries():
        assert f"redis://127.0.0.1:{node.port}/0  deleted " in run.out
    assert "3 replicas left alone" in run.out
    assert "CROSSSLOT" not in run.out + run.err


def test_a_dry_run_over_a_cluster_counts_primaries_only_and_deletes_nothing(
    cachediag: Any, cluster: RedisCluster
) -> None:
    keys = [f"kept:{i}" for i in range(500)]
    _write(cluster, keys)
    run = cachediag(
        "purge", "--pattern", "kept:*", "--dry-run", "--json", "--redis", cluster.seed.url
    )
    assert run.code == 0, run.err
    purge = _row(run)["purge"]
    assert (purge["matched"], purge["deleted"]) == (500, 0)  # not 1,000: replicas not counted
    assert len(_left(cluster, "kept:*")) == 500
    cachediag("purge", "--pattern", "kept:*", "--yes", "--redis", cluster.seed.url)


def test_named_keys_go_to_the_node_owning_their_slot(cachediag: Any, cluster: RedisCluster) -> None:
    names = ["named:1", "named:2", "named:3", "{named}:4"]
    _write(cluster, names)
    run = cachediag("purge", *names, "named:absent", "--yes", "--json", "--redis", cluster.seed.url)
    assert run.code == 0, run.err
    purge = _row(run)["purge"]
    # Each name asked of its owner only: one key not found, not one per primary.
    assert (purge["deleted"], purge["not_found"], purge["failed"]) == (4, 1, 0)
    assert not _left(cluster, "*named*")


def test_a_filtered_purge_reads_and_deletes_each_key_on_its_node(
    cachediag: Any, cluster: RedisCluster
) -> None:
    _write(cluster, [f"ttl:{i}" for i in range(200)], ttl=600)
    _write(cluster, [f"ttl:none:{i}" for i in range(100)])
    run = cachediag(
        "purge", "--pattern", "ttl:*", "--no-ttl", "--yes", "--json", "--redis", cluster.seed.url
    )
    assert run.code == 0, run.err
    purge = _row(run)["purge"]
    assert (purge["matched"], purge["deleted"], purge["failed"]) == (100, 100, 0)
    assert len(_left(cluster, "ttl:*")) == 200 and not _left(cluster, "ttl:none:*")
    cachediag("purge", "--pattern", "ttl:*", "--yes", "--redis", cluster.seed.url)


def test_backup_is_refused_on_a_cluster_in_one_sentence(
    cachediag: Any, cluster: RedisCluster, tmp_path: Path
) -> None:
    run = cachediag(
        "purge", "--pattern", "a:*", "--yes", "--backup", str(tmp_path / "b"), "--redis",
        cluster.seed.url,
    )  # fmt: skip
    assert run.code == 2
    assert "a cluster's primaries are several servers" in run.err
    assert "Traceback" not in run.err and not (tmp_path / "b").exists()


# -- a slot moving mid-purge ------------------------------------------------------------------


def _owner_of(cluster: RedisCluster, slot: int) -> Any:
    app = cluster.client()
    port = app.nodes_manager.get_node_from_slot(slot).port
    app.close()
    return next(node for node in cluster.nodes if node.port == port)


def _move(cluster: RedisCluster, slot: int, keys: list[str], finish: bool) -> tuple[Any, Any]:
    """Migrate `slot` (with `keys`) from its owner to another primary, as
    `redis-cli --cluster reshard` does; unless `finish`, left open (keys moved, slot still
    MIGRATING/IMPORTING: the old owner answers ASK)."""
    source = _owner_of(cluster, slot)
    target = next(node for node in cluster.primaries() if node.port != source.port)
    source_id = source.cli("CLUSTER", "MYID").strip()
    target_id = target.cli("CLUSTER", "MYID").strip()
    target.cli("CLUSTER", "SETSLOT", str(slot), "IMPORTING", source_id)
    source.cli("CLUSTER", "SETSLOT", str(slot), "MIGRATING", target_id)
    source.cli("MIGRATE", "127.0.0.1", str(target.port), "", "0", "5000", "KEYS", *keys)
    if finish:
        for node in cluster.primaries():
            node.cli("CLUSTER", "SETSLOT", str(slot), "NODE", target_id)
    return source, target


def _finish_move(cluster: RedisCluster, slot: int, target: Any) -> None:
    target_id = target.cli("CLUSTER", "MYID").strip()
    for node in cluster.primaries():
        node.cli("CLUSTER", "SETSLOT", str(slot), "NODE", target_id)


def _purge_moving(
    cluster: RedisCluster, keys: list[str], request: PurgeRequest, finish: bool
) -> tuple[Any, Any]:
    """`request` purged on the owner of `keys`' slot (one slot: the keys share a hash tag),
    the slot moved to another primary just before the first delete is sent. The report,
    and the node the slot went to."""
    from cachediag.clients.resp import RedisClient

    slot = key_slot(keys[0].encode())
    _write(cluster, keys)
    source = _owner_of(cluster, slot)
    moved: list[Any] = []

    def move_first(batch: list[bytes]) -> None:
        if not moved:
            moved.append(_move(cluster, slot, keys, finish))

    node = parse_redis(source.url, "flag")
    with RedisClient(node, 5.0).connect() as client:
        sinks = Sinks(before_delete=move_first)
        report = RedisPurge(client, request, sinks, node.name, node, 5.0).run()["purge"]
    return report, moved[0][1]


@pytest.mark.parametrize("finish", [True, False], ids=["moved", "ask"])
def test_keys_of_a_slot_moved_mid_purge_are_deleted_on_the_new_owner(
    cluster: RedisCluster, finish: bool
) -> None:
    keys = [f"{{mv{int(finish)}}}:{i}" for i in range(50)]
    request = validate(PurgeRequest(keys=tuple(k.encode() for k in keys), apply=True))
    report, target = _purge_moving(cluster, keys, request, finish)
    if not finish:
        _finish_move(cluster, key_slot(keys[0].encode()), target)
    assert (report.deleted, report.failed, report.redirected) == (50, 0, 50)
    assert not report.unfinished_slots and not report.errors
    assert not _left(cluster, f"{{mv{int(finish)}}}:*")


def test_a_filtered_purge_names_the_slot_it_could_not_finish(cluster: RedisCluster) -> None:
    keys = [f"{{mvf}}:{i}" for i in range(20)]
    slot = key_slot(keys[0].encode())
    request = validate(
        PurgeRequest(patterns=("{mvf}:*",), filters=Filters(no_ttl=True), apply=True)
    )
    report, _ = _purge_moving(cluster, keys, request, True)
    # What the filter judged was read on the old owner: those keys are not deleted on the
    # new one unread; the slot is named for a run on the new topology.
    assert report.unfinished_slots == {slot}
    assert report.deleted == 0 and report.failed == 0
    assert len(_left(cluster, "{mvf}:*")) == 20


def test_ctrl_c_stops_every_primary_and_resume_finishes(
    cachediag: Any, cluster: RedisCluster, tmp_path: Path
) -> None:
    import os
    import signal
    import subprocess
    import time

    from conftest import cachediag_binary

    _write(cluster, [f"slow:{i}" for i in range(20_000)])
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")}
    purge = ["purge", "--redis", cluster.seed.url, "--pattern", "slow:*", "--yes"]
    proc = subprocess.Popen(
        [cachediag_binary(), *purge, "--rate", "3000", "--count", "100"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    time.sleep(1.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    # Each primary stopped after its batch in hand (not at the end of its keyspace).
    assert proc.returncode == 130, err
    assert out.count("stopped (interrupted) at cursor") == 3, out
    left = len(_left(cluster, "slow:*"))
    assert 0 < left < 20_000
    deleted = int(out.split("deleted ")[1].split(" ")[0].replace(",", ""))
    assert deleted == 20_000 - left  # what it says it deleted is what is gone
    run = cachediag(*purge, "--resume", "--json", env={"XDG_STATE_HOME": str(tmp_path / "state")})
    assert run.code == 0, run.err
    assert _row(run)["purge"]["deleted"] == left and not _left(cluster, "slow:*")
