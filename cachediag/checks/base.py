"""The seam between facts and verdicts: every rule is a pure function of facts.

A rule takes the facts of one subject (a Redis or Memcached target, the host, or the
application) and the thresholds in force for its check id, and returns an Outcome.
Rules never talk to a server; that is what makes them testable over recorded facts
and lets `check --from BUNDLE` run them offline.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

STATUSES = ("pass", "warn", "fail", "skip", "error")

Facts = Mapping[str, Any]
Thresholds = Mapping[str, Any]


@dataclass(frozen=True)
class Outcome:
    status: str
    summary: str
    observed: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown status {self.status!r}")


Rule = Callable[[Facts, Thresholds], Outcome]

RULES: dict[str, Rule] = {}
# Rules that still judge a target that is down (the others are skipped for it).
JUDGES_DOWN: set[str] = set()
# Rules that judge counters over a window (facts["window"]): `check` waits for the second
# reading only when one of them runs.
WINDOWED: set[str] = set()
# Rules that judge a server that is up but turned our connection away at its connection
# limit (facts["saturated"]): there are no readings, only the refusal. Rules that judge
# down targets judge these too; the others are skipped with the reason.
JUDGES_SATURATED: set[str] = set()
# Rules that judge a system of nodes (a Redis Cluster, a Memcached pool) as a whole: their
# facts are {"name", "kind", "nodes": [each node's target facts]}, one result per system.
JUDGES_SYSTEM: set[str] = set()


def rule(
    *check_ids: str,
    judges_down: bool = False,
    judges_saturated: bool = False,
    windowed: bool = False,
    system: bool = False,
) -> Callable[[Rule], Rule]:
    """Register `fn` as the rule behind each of `check_ids` (ids are a public contract)."""

    def register(fn: Rule) -> Rule:
        for check_id in check_ids:
            if check_id in RULES:
                raise ValueError(f"check id {check_id} registered twice")
            RULES[check_id] = fn
            if judges_down:
                JUDGES_DOWN.add(check_id)
            if judges_down or judges_saturated:
                JUDGES_SATURATED.add(check_id)
            if windowed:
                WINDOWED.add(check_id)
            if system:
                JUDGES_SYSTEM.add(check_id)
        return fn

    return register


def passed(summary: str, **observed: Any) -> Outcome:
    return Outcome("pass", summary, observed)


def warned(summary: str, **observed: Any) -> Outcome:
    return Outcome("warn", summary, observed)


def failed(summary: str, **observed: Any) -> Outcome:
    return Outcome("fail", summary, observed)


def skipped(summary: str, **observed: Any) -> Outcome:
    return Outcome("skip", summary, observed)


def graded(value: float, thresholds: Thresholds, *, above: bool = True) -> str:
    """pass/warn/fail for `value` against `warn_above`/`fail_above` (or `*_below`)."""
    suffix = "above" if above else "below"
    fail_at = thresholds.get(f"fail_{suffix}")
    warn_at = thresholds.get(f"warn_{suffix}")

    def crosses(limit: float | None) -> bool:
        if limit is None:
            return False
        return value > limit if above else value < limit

    if crosses(fail_at):
        return "fail"
    if crosses(warn_at):
        return "warn"
    return "pass"


def graded_at(value: float, warn_at: float | None, fail_at: float | None) -> str:
    """pass/warn/fail where reaching a limit counts ("warn at 80%")."""
    if fail_at is not None and value >= fail_at:
        return "fail"
    if warn_at is not None and value >= warn_at:
        return "warn"
    return "pass"
