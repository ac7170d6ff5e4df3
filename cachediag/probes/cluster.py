"""A Redis Cluster's shape, read from any one of its nodes: which nodes, slots and roles.

A `--redis` URL may name any node of a cluster. `discover` asks it (INFO says
cluster_enabled:1) for the cluster's nodes: CLUSTER SHARDS on Redis 7.0 and later,
CLUSTER NODES before (SHARDS does not exist there). Every node then becomes a target of
its own, named by its address and carrying the cluster's name, so each per-node result
says which node it is about and the cluster checks can group the nodes back together.
Read-only: INFO and CLUSTER SHARDS/NODES/INFO are all this module sends.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from cachediag.targets.target import Target

SLOTS = 16384
SYSTEM_KIND = "redis-cluster"


@dataclass(frozen=True)
class ClusterNode:
    id: str
    host: str
    port: int
    role: str  # "primary" or "replica"
    primary_id: str | None  # a replica's primary
    slots: tuple[tuple[int, int], ...]  # inclusive ranges a primary serves
    health: str  # online, failed, loading (SHARDS' words); NODES' flags map onto them
    flags: tuple[str, ...] = ()
    migrating: tuple[int, ...] = ()  # open slots, as CLUSTER NODES shows them on this node
    importing: tuple[int, ...] = ()

    def to_fact(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "address": f"{self.host}:{self.port}",
            "role": self.role,
            "primary_id": self.primary_id,
            "slots": [list(r) for r in self.slots],
            "health": self.health,
            "flags": list(self.flags),
            "migrating": list(self.migrating),
            "importing": list(self.importing),
        }


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _health_of(flags: tuple[str, ...], link: str) -> str:
    if "fail" in flags:
        return "failed"
    if "handshake" in flags:
        return "handshake"
    if "fail?" in flags or "noaddr" in flags or link != "connected":
        return "pfail"
    return "online"


def parse_nodes(raw: object) -> list[ClusterNode]:
    """CLUSTER NODES: one line per node, `id ip:port@bus[,host] flags primary ... slots`."""
    nodes = []
    for line in _text(raw).splitlines():
        fields = line.split()
        if len(fields) < 8:
            continue
        node_id, address, flag_text, primary = fields[0], fields[1], fields[2], fields[3]
        hostport = address.split("@", 1)[0]
        host, _, port_text = hostport.rpartition(":")
        flags = tuple(flag_text.split(","))
        ranges: list[tuple[int, int]] = []
        migrating: list[int] = []
        importing: list[int] = []
        for item in fields[8:]:
            if item.startswith("["):  # [slot->-id] migrating, [slot-<-id] importing
                slot_text = item[1:].split("-", 1)[0]
                if slot_text.isdigit():
                    (migrating if "->-" in item else importing).append(int(slot_text))
                continue
            start, _, end = item.partition("-")
            if start.isdigit() and (not end or end.isdigit()):
                ranges.append((int(start), int(end or start)))
        role = "replica" if "slave" in flags else "primary"
        nodes.append(
            ClusterNode(
                id=node_id,
                host=host,
                port=int(port_text) if port_text.isdigit() else 0,
                role=role,
                primary_id=primary if primary != "-" else None,
                slots=tuple(ranges),
                health=_health_of(flags, fields[7]),
                flags=flags,
                migrating=tuple(migrating),
                importing=tuple(importing),
            )
        )
    return nodes


def _pairs(flat: object) -> dict[str, Any]:
    """A RESP2 map (a flat list of name, value, name, value...) as a dict."""
    if not isinstance(flat, list):
        return {}
    return {_text(flat[i]): flat[i + 1] for i in range(0, len(flat) - 1, 2)}


def parse_shards(raw: object) -> list[ClusterNode]:
    """CLUSTER SHARDS (7.0+): each shard's slot ranges and its nodes with role and health."""
    nodes = []
    for shard in raw if isinstance(raw, list) else []:
        fields = _pairs(shard)
        bounds = [int(b) for b in fields.get("slots") or [] if isinstance(b, int)]
        ranges = tuple(zip(bounds[0::2], bounds[1::2], strict=False))
        members = [_pairs(node) for node in fields.get("nodes") or []]
        primary = next((m for m in members if _text(m.get("role")) == "master"), None)
        primary_id = _text(primary.get("id")) if primary else None
        for member in members:
            is_primary = _text(member.get("role")) == "master"
            port = member.get("port") or member.get("tls-port") or 0
            nodes.append(
                ClusterNode(
                    id=_text(member.get("id")),
                    host=_text(member.get("ip") or member.get("endpoint") or ""),
                    port=int(port) if isinstance(port, int) else 0,
                    role="primary" if is_primary else "replica",
                    primary_id=None if is_primary else primary_id,
                    slots=ranges if is_primary else (),
                    health=_text(member.get("health") or "online"),
                )
            )
    return nodes


def major_version(info_server: dict[str, Any]) -> int:
    version = str(info_server.get("redis_version") or "0")
    head = version.split(".", 1)[0]
    return int(head) if head.isdigit() else 0


def read_topology(client: Any, version: int) -> tuple[list[ClusterNode], str]:
    """The nodes as `client`'s node sees them, and the command that told."""
    from cachediag.clients.resp import ReplyError

    if version >= 7:
        reply = client.call("CLUSTER", "SHARDS")
        if not isinstance(reply, ReplyError):
            nodes = parse_shards(reply)
            if nodes:
                return nodes, "CLUSTER SHARDS"
    reply = client.call("CLUSTER", "NODES")
    if isinstance(reply, ReplyError):
        return [], "CLUSTER NODES"
    return parse_nodes(reply), "CLUSTER NODES"


def system_name(seed: Target) -> str:
    """The cluster as a whole, named apart from its seed node's own per-node results; a
    seed named in an inventory ([[targets]]) gives the cluster that name."""
    if "://" not in seed.name:
        return seed.name
    return f"{SYSTEM_KIND}://{seed.address}"


def node_target(seed: Target, node: ClusterNode, system: str) -> Target:
    """A node as a target: the seed's credentials and TLS, the node's address and name."""
    scheme, _, rest = seed.name.partition("://")
    userinfo = rest.rpartition("@")[0] + "@" if "@" in rest else ""
    if scheme not in ("redis", "rediss"):  # a unix-socket seed: its nodes speak TCP
        scheme = "rediss" if seed.tls else "redis"
    shown_host = f"[{node.host}]" if ":" in node.host else node.host
    return dataclasses.replace(
        seed,
        name=f"{scheme}://{userinfo}{shown_host}:{node.port}/0",
        host=node.host,
        port=node.port,
        unix_path=None,
        db=0,
        system=system,
        role=node.role,
        node_id=node.id,
    )


def discover(seed: Target, timeout: float) -> list[Target] | None:
    """Every node of the cluster `seed` belongs to, primaries first; None when it is no
    cluster node (or cannot tell: the probe then reports the seed as it finds it)."""
    from cachediag.clients.resp import RedisClient
    from cachediag.probes.info import parse_info

    client = RedisClient(seed, timeout)
    try:
        client.connect()
        with client:
            server, cluster = client.pipeline([("INFO", "server"), ("INFO", "cluster")])
            if not isinstance(cluster, bytes) or not isinstance(server, bytes):
                return None
            enabled = parse_info(cluster).get("cluster", {}).get("cluster_enabled")
            if enabled != 1:
                return None
            version = major_version(parse_info(server).get("server", {}))
            nodes, _how = read_topology(client, version)
    except Exception:  # noqa: BLE001 - unreachable or no Redis: the probe will say why
        return None
    usable = [node for node in nodes if node.port and node.host and node.health != "handshake"]
    if not usable:
        return None
    system = system_name(seed)
    usable.sort(key=lambda n: (n.role != "primary", _first_slot(n, usable), n.host, n.port))
    return [node_target(seed, node, system) for node in usable]


def _first_slot(node: ClusterNode, nodes: list[ClusterNode]) -> int:
    """Order a shard's members together: a replica by its primary's first slot."""
    owner = node
    if node.role == "replica":
        owner = next((n for n in nodes if n.id == node.primary_id), node)
    return owner.slots[0][0] if owner.slots else SLOTS
