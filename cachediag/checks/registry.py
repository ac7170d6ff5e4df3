"""Importing this module registers every rule; RULES maps check id -> rule."""

from __future__ import annotations

from cachediag.checks.base import JUDGES_DOWN, JUDGES_SATURATED, JUDGES_SYSTEM, RULES
from cachediag.checks.rules import (  # noqa: F401  (they register)
    app,
    cache,
    cluster,
    host,
    network,
    pool,
    replication,
    sentinel,
    slab_memory,
)

__all__ = ["JUDGES_DOWN", "JUDGES_SATURATED", "JUDGES_SYSTEM", "RULES"]
