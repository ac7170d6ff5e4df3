"""The per-target rows every command's --json starts with: identity, up/down/skipped, error."""

from __future__ import annotations

from typing import Any

from cachediag.errors import ProbeError, ProtocolViolation
from cachediag.targets.target import Target


def unexpected_row(target: Target, exc: Exception) -> dict[str, Any]:
    """The row of a target whose replies made no sense: down, with what went wrong."""
    if isinstance(exc, ProbeError):  # a reading that only looked like a number, say: named
        return mark_error(target_row(target), target, exc)
    message = f"the server answered something unexpected ({type(exc).__name__}: {exc})"
    return mark_error(target_row(target), target, ProtocolViolation(message))


def target_row(target: Target) -> dict[str, Any]:
    """The identity every per-target JSON entry starts with."""
    return {
        "target": target.name,
        "kind": target.kind,
        "source": target.source,
        "status": "up",
        "error": None,
    }


def mark_error(row: dict[str, Any], target: Target, error: Any) -> dict[str, Any]:
    """A target that could not be read: `skipped` (a default, nothing listening) or `down`."""
    info = (
        error.to_dict() if hasattr(error, "to_dict") else {"kind": "error", "message": str(error)}
    )
    if target.is_default and info.get("kind") == "refused":
        row["status"] = "skipped"
        info = {
            **info,
            "message": f"nothing listening at the default address; name one with --{target.kind}",
        }
    else:
        row["status"] = "down"
    row["error"] = info
    return row
