"""What every target probe records, whatever the server kind."""

from __future__ import annotations

import time
from typing import Any

from cachediag.errors import ProbeError
from cachediag.targets.target import Target

PING_SAMPLES = 20


def base_facts(target: Target) -> dict[str, Any]:
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


def mark_down(facts: dict[str, Any], error: ProbeError, stage: str) -> dict[str, Any]:
    """Record why the target could not be probed; a default target with nothing there is skipped."""
    facts[stage]["error"] = error.to_dict()
    if stage == "connect":
        facts["ping"]["error"] = error.to_dict()
    nothing_listening = error.kind == "refused"
    facts["status"] = "skipped" if facts["default"] and nothing_listening else "down"
    return facts
