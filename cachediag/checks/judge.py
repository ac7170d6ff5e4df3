"""Verdicts for the step-by-step commands, from the same rules and thresholds as `check`.

`memory`, `ttl`, `eviction-policy` and `latency` judge one reading at a time. Rather
than repeat the checklist's numbers, they look the thresholds up in the checklist
(with the cachediag.toml overrides) and run the registered rule on facts shaped like
the probes' own, so `check` and these commands can never disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Judge:
    """Thresholds and remedies by check id, loaded once per command run."""

    thresholds: Mapping[str, Mapping[str, Any]]
    remedies: Mapping[str, str]
    # Remedies by the cause a rule names (observed["cause"]), per check id.
    cause_remedies: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    @classmethod
    def load(cls, overrides: Mapping[str, dict[str, Any]] | None = None) -> Judge:
        from cachediag.checks.checklist import load_checklist, with_overrides

        checklist = load_checklist()
        if overrides:
            checklist = with_overrides(checklist, dict(overrides))
        return cls(
            thresholds={spec.id: dict(spec.thresholds) for spec in checklist.checks},
            remedies={spec.id: spec.remedy for spec in checklist.checks},
            cause_remedies={spec.id: spec.remedies for spec in checklist.checks},
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
            "remedy": self._remedy(check_id, observed) if status in ("warn", "fail") else "",
        }

    def _remedy(self, check_id: str, observed: Mapping[str, Any]) -> str:
        cause = observed.get("cause")
        by_cause = self.cause_remedies.get(check_id, {})
        if isinstance(cause, str) and cause in by_cause:
            return by_cause[cause]
        return self.remedies.get(check_id, "")

    def limit(self, check_id: str, name: str, default: float) -> float:
        value = self.thresholds.get(check_id, {}).get(name, default)
        return float(value) if isinstance(value, (int, float)) else default
