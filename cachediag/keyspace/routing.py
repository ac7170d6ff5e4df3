"""Sending a key's commands to the cluster node that owns its slot, as a cluster client does.

The slot map is read once per command (CLUSTER SHARDS, or CLUSTER NODES before 7.0) from
the first primary that answers. A MOVED reply (the slot has a new owner) is followed to
the node it names and the map corrected; an ASK reply (the slot is being migrated and
this key already moved) is followed to the importing node with ASKING before each
command (the flag holds for one command only), and that key's later commands go there
the same way. Either is the cluster working as designed: a redirection, never a node
"down". Read-only.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from cachediag.errors import ServerRefused
from cachediag.keyspace.slots import key_slot
from cachediag.targets.target import Target

MAX_REDIRECTS = 5


def redirection(reply: Any) -> tuple[str, int, str] | None:
    """("MOVED" or "ASK", slot, "host:port") of a redirect error reply, else None."""
    from cachediag.clients.resp import ReplyError

    if not isinstance(reply, ReplyError):
        return None
    parts = reply.text.split()
    if len(parts) == 3 and parts[0] in ("MOVED", "ASK") and parts[1].isdigit():
        return parts[0], int(parts[1]), parts[2]
    return None


class AskingClient:
    """A node's connection for the keys it is importing: every command sent after ASKING,
    which lets the next command (one only) read a key of a slot the node does not own
    yet. Everything else (the scan engine's own sends) goes to the connection as is:
    SCAN names no key and needs no ASKING."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def pipeline(self, commands: Any, timeout: float | None = None) -> list[Any]:
        sent = [part for command in commands for part in (("ASKING",), tuple(command))]
        return list(self.client.pipeline(sent, timeout)[1::2])

    def call(self, *args: Any) -> Any:
        return self.pipeline([args])[0]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


class SlotRouter:
    """The nodes of one cluster, a slot -> node map, and one connection per node used."""

    def __init__(self, nodes: list[Target], timeout: float) -> None:
        self.nodes = list(nodes)
        self.timeout = timeout
        self.slots: dict[int, Target] = {}
        self.clients: dict[str, Any] = {}
        self.redirects = 0
        # Keys an ASK sent to an importing node: their later commands go there too.
        self.asked: dict[bytes, Target] = {}

    # -- the map ------------------------------------------------------------------------
    def load(self) -> None:
        from cachediag.errors import ProbeError
        from cachediag.probes.cluster import read_topology

        failure: ProbeError | None = None
        for node in (n for n in self.nodes if n.role != "replica"):
            try:
                client = self.client(node)
                nodes, _ = read_topology(client, 7)
            except ProbeError as error:
                failure = failure or error
                continue
            for entry in nodes:
                if entry.role != "primary":
                    continue
                owner = self.node_at(f"{entry.host}:{entry.port}")
                for start, end in entry.slots:
                    for slot in range(start, end + 1):
                        self.slots[slot] = owner
            if self.slots:
                return
        if failure is not None:
            raise failure

    def node_at(self, address: str) -> Target:
        """The node at host:port: one of ours, or (a node added since) one like them."""
        for node in self.nodes:
            if node.address == address:
                return node
        host, _, port = address.rpartition(":")
        seed = self.nodes[0]
        scheme, _, rest = seed.name.partition("://")
        userinfo = rest.rpartition("@")[0] + "@" if "@" in rest else ""
        node = dataclasses.replace(
            seed,
            name=f"{scheme}://{userinfo}{address}/0",
            host=host.strip("[]"),
            port=int(port),
            role="primary",
            node_id=None,
        )
        self.nodes.append(node)
        return node

    def owner(self, key: bytes) -> Target:
        if not self.slots:
            self.load()
        node = self.slots.get(key_slot(key))
        if node is None:
            raise ServerRefused(f"slot {key_slot(key)} is served by no node (CLUSTER SHARDS)")
        return node

    # -- requests -------------------------------------------------------------------------
    def client(self, node: Target) -> Any:
        from cachediag.clients.resp import RedisClient

        client = self.clients.get(node.address)
        if client is None:
            client = self.clients[node.address] = RedisClient(node, self.timeout).connect()
        return client

    def pipeline(self, key: bytes, commands: list[tuple[Any, ...]]) -> tuple[Target, list[Any]]:
        """`commands` (all about `key`) on the node serving it, redirections followed; the
        node that answered, and its replies."""
        asking = key in self.asked
        node = self.asked[key] if asking else self.owner(key)
        for _ in range(MAX_REDIRECTS + 1):
            client = self.client(node)
            replies = (AskingClient(client) if asking else client).pipeline(commands)
            moved = next((r for r in map(redirection, replies) if r), None)
            if moved is None:
                if asking:
                    self.asked[key] = node
                return node, replies
            self.redirects += 1
            kind, slot, address = moved
            node = self.node_at(address)
            asking = kind == "ASK"
            if kind == "MOVED":
                self.slots[slot] = node
                self.asked.pop(key, None)  # the migration ended: the slot has its owner
        raise ServerRefused(f"more than {MAX_REDIRECTS} redirections for one key")

    def follow(self, key: bytes, reply: Any) -> bool:
        """Apply a redirection another request about `key` got (a batch sent to the map's
        owner): MOVED re-maps the slot, ASK sends the key's next commands to the importing
        node; `pipeline` then starts there. Whether `reply` was one."""
        found = redirection(reply)
        if found is None:
            return False
        self.redirects += 1
        kind, slot, address = found
        node = self.node_at(address)
        if kind == "MOVED":
            self.slots[slot] = node
            self.asked.pop(key, None)
        else:
            self.asked[key] = node
        return True

    def connection(self, key: bytes) -> tuple[Target, Any]:
        """The node serving `key` as the last pipeline found it, and a connection to read
        it with there (ASKING before each command on an importing node)."""
        if key in self.asked:
            node = self.asked[key]
            return node, AskingClient(self.client(node))
        node = self.owner(key)
        return node, self.client(node)

    def close(self) -> None:
        for client in self.clients.values():
            client.close()
        self.clients.clear()

    def __enter__(self) -> SlotRouter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def owners(
    nodes: list[Target], timeout: float, keys: list[bytes]
) -> list[tuple[Target, list[int]]]:
    """The node owning each key's slot by the map read just now (as a cluster client
    routes), with the indexes of its keys, in first-seen order."""
    by_owner: dict[str, tuple[Target, list[int]]] = {}
    with SlotRouter(nodes, timeout) as router:
        for index, key in enumerate(keys):
            node = router.owner(key)
            by_owner.setdefault(node.address, (node, []))[1].append(index)
    return list(by_owner.values())
