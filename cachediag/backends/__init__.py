"""One backend per server kind; `backend_for` picks it, `expand` turns targets into nodes."""

from __future__ import annotations

from collections.abc import Mapping

from cachediag.backends.base import Backend
from cachediag.backends.memcached import MemcachedBackend
from cachediag.backends.redis import RedisBackend
from cachediag.targets.target import Target

# By kind. A new kind (a cluster, a pool) is one more entry, and no core changes.
BACKENDS: Mapping[str, Backend] = {
    backend.kind: backend for backend in (RedisBackend(), MemcachedBackend())
}


def backend_for(target: Target | str) -> Backend:
    """The backend of a target, or of a kind as facts and rows record it."""
    kind = target if isinstance(target, str) else target.kind
    try:
        return BACKENDS[kind]
    except KeyError:
        raise ValueError(f"no backend for targets of kind {kind!r}") from None


def expand(targets: list[Target], timeout: float = 2.0) -> list[Target]:
    """Every target as the servers behind it, in order: a cluster node as every node of
    its cluster. Asked of all targets at once, so a dead one costs its timeout once here."""
    from cachediag.probes.fanout import per_target

    groups = per_target(
        targets, lambda target: backend_for(target).nodes(target, timeout), processes=True
    )
    expanded = [node for group in groups for node in group]
    # Two seeds of one cluster name the same nodes: each node is read once.
    seen: set[tuple[str, str]] = set()
    unique = []
    for node in expanded:
        if (node.kind, node.name) not in seen:
            seen.add((node.kind, node.name))
            unique.append(node)
    return unique


__all__ = ["BACKENDS", "Backend", "backend_for", "expand"]
