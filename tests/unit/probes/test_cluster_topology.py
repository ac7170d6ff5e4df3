"""CLUSTER NODES and CLUSTER SHARDS as the servers write them, parsed into nodes."""

from __future__ import annotations

from cachediag.probes.cluster import node_target, parse_nodes, parse_shards, system_name
from cachediag.targets.parse import parse_redis

# Recorded from redis-server 7.0.15 (a cluster made by redis-cli --cluster create), with
# an open slot and a failed node planted in the text.
NODES = b"""\
5b2d5d111243d02dc821f07af8e5cfe8d5476e7e 127.0.0.1:41205@50257 myself,master - 0 1796125523000 1 connected 0-5460 [93->-f43a3ab5d696b4ccf4f95e1ce192b17bcb087c86]
9519c4fd3b15101d8f9380616fef127ff263e342 127.0.0.1:38863@36737 slave 5b2d5d111243d02dc821f07af8e5cfe8d5476e7e 0 1796125523000 1 connected
f43a3ab5d696b4ccf4f95e1ce192b17bcb087c86 127.0.0.1:47811@40821 master - 0 1796125523182 2 connected 5461-10922 [94-<-5b2d5d111243d02dc821f07af8e5cfe8d5476e7e]
cbd0318c6e7c078160e08678082b022430feee98 127.0.0.1:46499@59123 slave,fail f43a3ab5d696b4ccf4f95e1ce192b17bcb087c86 0 1796125523688 2 disconnected
59644a777ca154b7e0dddadfbe6da0e46b1cfc7a 127.0.0.1:40299@43045 master - 0 1796125523587 3 connected 10923-16382 16383
"""  # noqa: E501 - the lines as the server writes them


def test_cluster_nodes_lines() -> None:
    nodes = {node.port: node for node in parse_nodes(NODES)}
    assert len(nodes) == 5
    seed = nodes[41205]
    assert seed.role == "primary" and seed.slots == ((0, 5460),) and seed.migrating == (93,)
    assert nodes[47811].importing == (94,)
    assert nodes[38863].role == "replica" and nodes[38863].primary_id == seed.id
    assert nodes[46499].health == "failed"
    assert nodes[40299].slots == ((10923, 16382), (16383, 16383))


def test_cluster_nodes_ignores_garbage() -> None:
    assert parse_nodes(b"not cluster nodes\r\n\r\n") == []
    assert parse_nodes(12) == []


def _flat(**fields: object) -> list[object]:
    return [
        item for pair in fields.items() for item in (pair[0].replace("_", "-").encode(), pair[1])
    ]


def test_cluster_shards_reply() -> None:
    primary = _flat(id=b"aaa", port=7000, ip=b"10.0.0.1", role=b"master", health=b"online")
    replica = _flat(id=b"bbb", port=7001, ip=b"10.0.0.2", role=b"replica", health=b"loading")
    reply = [[b"slots", [0, 100, 200, 300], b"nodes", [primary, replica]]]
    nodes = parse_shards(reply)
    assert [(n.id, n.role, n.host, n.port) for n in nodes] == [
        ("aaa", "primary", "10.0.0.1", 7000),
        ("bbb", "replica", "10.0.0.2", 7001),
    ]
    assert nodes[0].slots == ((0, 100), (200, 300)) and nodes[1].primary_id == "aaa"
    assert nodes[1].health == "loading"
    assert parse_shards(b"ERR unknown command") == []


def test_a_node_target_keeps_the_seeds_credentials_masked() -> None:
    seed = parse_redis("redis://app:s3cret@127.0.0.1:7000/0", "flag")
    node = parse_nodes(NODES)[2]
    target = node_target(seed, node, system_name(seed))
    assert target.name == "redis://app:***@127.0.0.1:47811/0"
    assert target.password == "s3cret" and target.username == "app"
    assert target.system == "redis-cluster://127.0.0.1:7000" and target.role == "primary"
    assert "s3cret" not in repr(target)
