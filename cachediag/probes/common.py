"""What every target probe records, whatever the server kind."""

from __future__ import annotations

import time
from collections.abc import MutableMapping
from typing import Any, TypeVar

from cachediag.errors import ProbeError
from cachediag.targets.target import Target

PING_SAMPLES = 20
F = TypeVar("F", bound=MutableMapping[str, Any])


def base_facts(target: Target) -> Any:
    """The facts every probe starts from and fills in as it goes.

    Any, not a TypedDict: the probe that fills it declares the shape it returns
    (RedisFacts, MemcachedFacts in probes/facts.py); tests hold both to facts-v1.json.
    """
    return {
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


def mark_down(facts: F, error: ProbeError, stage: str) -> F:
    """Record why the target could not be probed; a default target with nothing there is skipped."""
    facts[stage]["error"] = error.to_dict()
    if stage == "connect":
        facts["ping"]["error"] = error.to_dict()
    nothing_listening = error.kind == "refused"
    facts["status"] = "skipped" if facts["default"] and nothing_listening else "down"
    return facts
