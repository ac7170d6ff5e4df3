"""What every target probe records, whatever the server kind."""

from __future__ import annotations

import time
from collections.abc import MutableMapping
from typing import Any, TypeVar

from cachediag.errors import ProbeError, ServerSaturated
from cachediag.targets.target import Target

PING_SAMPLES = 20
F = TypeVar("F", bound=MutableMapping[str, Any])


def base_facts(target: Target) -> Any:
    """The facts every probe starts from and fills in as it goes.

    Any, not a TypedDict: the probe that fills it declares the shape it returns
    (RedisFacts, MemcachedFacts in probes/facts.py); tests hold both to facts-v1.json.
    """
    facts = {
        "kind": target.kind,
        "target": target.name,
        "source": target.source,
        "default": target.is_default,
        "local": target.is_local,
        "address": target.address,
        "collected_at": time.time(),
        "status": "down",
        "connect": {"ok": False, "error": None},
        "ping": {"ok": False, "samples_us": [], "error": None},
        "errors": {},
    }
    if target.system is not None:
        # A node of a cluster or pool: which, and its part in it, recorded even when it is
        # down (a dead node still belongs to its system and costs it its share).
        facts["system"] = {"name": target.system, "role": target.role, "node_id": target.node_id}
    return facts


def mark_down(facts: F, error: ProbeError, stage: str) -> F:
    """Record why the target could not be probed; a default target with nothing there is skipped."""
    facts[stage]["error"] = error.to_dict()
    if stage == "connect":
        facts["ping"]["error"] = error.to_dict()
    nothing_listening = error.kind == "refused"
    facts["status"] = "skipped" if facts["default"] and nothing_listening else "down"
    return facts


def mark_saturated(facts: F, error: ServerSaturated) -> F:
    """A server that turned our connection away at its connection limit: up, but unreadable.

    It answered (so it runs, and the network carried the answer), and it said why it
    would not serve us: the status is `up`, the ping records the refusal, and
    `saturated` names the limit, so rules judge a full server, not a dead one.
    """
    facts["connect"] = {**facts["connect"], "ok": True, "error": None}
    facts["ping"] = {**facts["ping"], "ok": False, "error": error.to_dict()}
    facts["status"] = "up"
    facts["saturated"] = {"limit": error.limit, "message": error.message}
    return facts
