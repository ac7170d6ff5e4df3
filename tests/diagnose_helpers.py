"""What the diagnose scenario tests share: live facts over a short window, and the check
that exactly one cause (or the named ones) came out on top."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cachediag.diagnose.engine import diagnose
from cachediag.diagnose.model import SymptomResult
from cachediag.diagnose.symptoms import causes_of
from cachediag.diagnose.weights import Weights, load_weights

WINDOW_S = 0.6


def live(
    redis: tuple[str, ...] = (),
    memcached: tuple[str, ...] = (),
    logs: tuple[str | Path, ...] = (),
    window: float = WINDOW_S,
    sample_keys: int = 300,
    entities: Any = None,
) -> dict[str, Any]:
    """The facts diagnose reads live (check's, with the host), over a short window."""
    from cachediag.diagnose.sources import live_facts
    from cachediag.probes.app import AppSources
    from cachediag.targets.parse import TargetRequest, resolve_targets

    targets = resolve_targets(TargetRequest(redis_flags=redis, memcached_flags=memcached))
    app = AppSources(logs=tuple(str(p) for p in logs)) if logs else None
    return live_facts(targets, 2.0, sample_keys, window, app, entities)


def symptom_of(
    facts: dict[str, Any], name: str, weights: Weights | None = None, target: int = 0
) -> SymptomResult:
    results = diagnose(facts, weights or load_weights(), name).symptoms
    return results[target]


def table(result: SymptomResult) -> list[tuple[str, str, float, list[str], list[str]]]:
    return [
        (c.id, c.verdict, c.score, [e.text for e in c.evidence_for], [m.id for m in c.missing])
        for c in result.causes
    ]


def assert_first(result: SymptomResult, *expected: str) -> None:
    """The `expected` causes rank first, all likely; every other one is ruled out or unknown."""
    top = {c.id for c in result.causes[: len(expected)]}
    wanted = {f"{result.symptom}.{name}" for name in expected}
    assert top == wanted, table(result)
    assert {c.verdict for c in result.causes[: len(expected)]} == {"likely"}, table(result)
    rest = {c.verdict for c in result.causes[len(expected) :]}
    assert rest <= {"ruled out", "unknown"}, table(result)
    assert {c.id for c in result.causes} == {r.id for r in causes_of(result.symptom, result.kind)}
