"""Memcached pools: servers an application spreads its keys over by client-side hashing.

Several Memcached servers named together (--memcached more than once, or in the env) are
one pool, and so are the servers of `memcached_pool = [...]` in cachediag.toml. Each
server stays a target of its own (its checks are its own), marked as a node of the pool
so that `check` can also judge the pool as a whole (memcached.pool_balance).
"""

from __future__ import annotations

import dataclasses

from cachediag.targets.target import Target

POOL_KIND = "memcached-pool"


def pool_name(members: list[Target]) -> str:
    return f"{POOL_KIND}://" + ",".join(member.address for member in members)


def form_pools(targets: list[Target], configured: tuple[str, ...] = ()) -> list[Target]:
    """`targets` with the Memcached ones that make a pool marked as its nodes."""
    from cachediag.targets.parse import parse_memcached

    listed = {parse_memcached(address, "config").address for address in configured}
    memcached = [t for t in targets if t.kind == "memcached" and t.system is None]
    if listed:
        members = [t for t in memcached if t.address in listed]
    else:
        named = [t for t in memcached if t.source in ("flag", "env")]
        members = named if len(named) > 1 else []
    if len(members) < 2:
        return targets
    name = pool_name(members)
    chosen = {id(member) for member in members}
    return [
        dataclasses.replace(t, system=name, role="server") if id(t) in chosen else t
        for t in targets
    ]
