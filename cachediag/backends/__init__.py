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


def expand(targets: list[Target]) -> list[Target]:
    """Every target as the servers behind it, in order (each target itself, today)."""
    return [node for target in targets for node in backend_for(target).nodes(target)]


__all__ = ["BACKENDS", "Backend", "backend_for", "expand"]
