"""Verdicts for the step-by-step commands, from the same rules and thresholds as `check`.

`memory`, `ttl`, `eviction-policy` and `latency` judge one reading at a time. Rather
than repeat the checklist's numbers, they look the thresholds up in the checklist
(with the cachediag.toml overrides) and run the registered rule on facts shaped like
the probes' own, so `check` and these commands can never disagree.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, TypeVar

from cachediag.targets import Target

T = TypeVar("T")


@dataclass(frozen=True)
class Judge:
    """Thresholds and remedies by check id, loaded once per command run."""

    thresholds: Mapping[str, Mapping[str, Any]]
    remedies: Mapping[str, str]

    @classmethod
    def load(cls, overrides: Mapping[str, dict[str, Any]] | None = None) -> Judge:
        from cachediag.checklist import load_checklist, with_overrides

        checklist = load_checklist()
        if overrides:
            checklist = with_overrides(checklist, dict(overrides))
        return cls(
            thresholds={spec.id: dict(spec.thresholds) for spec in checklist.checks},
            remedies={spec.id: spec.remedy for spec in checklist.checks},
        )

    def __call__(self, check_id: str, facts: Mapping[str, Any]) -> dict[str, Any]:
        """{check, status, summary, observed, remedy} of one rule; a rule that raises: error."""
        from cachediag.checks.registry import RULES

        try:
            outcome = RULES[check_id](facts, self.thresholds.get(check_id, {}))
            status, summary, observed = outcome.status, outcome.summary, outcome.observed
        except Exception as exc:
            status, summary, observed = "error", f"could not judge: {type(exc).__name__}: {exc}", {}
        return {
            "check": check_id,
            "status": status,
            "summary": summary,
            "observed": observed,
            "remedy": self.remedies.get(check_id, "") if status in ("warn", "fail") else "",
        }

    def limit(self, check_id: str, name: str, default: float) -> float:
        value = self.thresholds.get(check_id, {}).get(name, default)
        return float(value) if isinstance(value, (int, float)) else default


def per_target(
    targets: list[Target],
    work: Callable[[Target], T],
    workers: int = 8,
    on_error: Callable[[Target, Exception], T] | None = None,
) -> list[T]:
    """Run `work` on every target at once, so a dead one costs its timeout once; order kept.

    With `on_error`, an unexpected exception for one target (a server answering with
    the wrong reply type, say) becomes that target's result instead of ending the run.
    """

    def guarded(target: Target) -> T:
        if on_error is None:
            return work(target)
        try:
            return work(target)
        except Exception as exc:  # noqa: BLE001 - reported in the row, with its type
            return on_error(target, exc)

    if not targets:
        return []
    if len(targets) == 1:
        return [guarded(targets[0])]
    with ThreadPoolExecutor(max_workers=min(workers, len(targets))) as pool:
        return list(pool.map(guarded, targets))


def unexpected_row(target: Target, exc: Exception) -> dict[str, Any]:
    """The row of a target whose replies made no sense: down, with what went wrong."""
    from cachediag.errors import ProbeError

    message = f"the server answered something unexpected ({type(exc).__name__}: {exc})"
    return mark_error(target_row(target), target, ProbeError("protocol", message))


def utc_stamp(at: float | None = None) -> str:
    moment = datetime.now(timezone.utc) if at is None else datetime.fromtimestamp(at, timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


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


def exit_code(rows: list[dict[str, Any]], statuses: list[str] | None = None) -> int:
    """As `check`: 1 a target down or a verdict failed; 3 a reading could not be taken; else 0.

    (2 is reserved for usage errors.) A target that answered but whose reading broke
    off half-way (an `error` on an up row) is 3, never a silent 0.
    """
    if any(row.get("status") == "down" for row in rows) or (statuses and "fail" in statuses):
        return 1
    if any(row.get("status") == "up" and row.get("error") for row in rows):
        return 3
    return 3 if statuses and "error" in statuses else 0
