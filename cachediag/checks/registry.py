"""Importing this module registers every rule; RULES maps check id -> rule."""

from __future__ import annotations

from cachediag.checks import app_rules, cache_rules, host_rules, network_rules  # noqa: F401  (they register)
from cachediag.checks.base import JUDGES_DOWN, RULES

__all__ = ["JUDGES_DOWN", "RULES"]
