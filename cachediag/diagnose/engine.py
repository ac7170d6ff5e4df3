"""`diagnose(facts, weights) -> Diagnosis`: pure, the same live and on a bundle's facts.

Per target and symptom, each cause's reader names what it observed (evidence ids) and
what it could not read; the weights (diagnoses.toml) turn the evidence into a score,
the score into a verdict, and the scores rank the causes. Without a symptom named, the
symptoms whose signal is present are diagnosed, the most severe first.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cachediag.diagnose.model import (
    VERDICTS,
    CauseResult,
    Diagnosis,
    Evidence,
    Findings,
    Gap,
    Missing,
    Signal,
    SymptomResult,
)
from cachediag.diagnose.symptoms import SYMPTOMS, causes_of
from cachediag.diagnose.symptoms.registry import CauseReader
from cachediag.diagnose.view import TargetView
from cachediag.diagnose.weights import Weights
from cachediag.render.units import utc_stamp


def diagnose(
    facts: Mapping[str, Any],
    weights: Weights,
    symptom: str | None = None,
    *,
    generated_at: str | None = None,
    duration_ms: int = 0,
    source: str = "live",
) -> Diagnosis:
    """The ranked causes of `symptom` (or of every symptom present) on each target."""
    if symptom is not None and symptom not in SYMPTOMS:
        raise ValueError(f"unknown symptom {symptom!r}")
    app, host = facts.get("app"), facts.get("host")
    results: list[SymptomResult] = []
    targets, unreadable, windows = [], [], []
    for target in facts.get("targets") or []:
        if target.get("status") == "skipped":
            continue  # a default address with nothing listening: not a target to diagnose
        view = TargetView(target, app, host)
        targets.append({"name": view.name, "kind": view.kind, "status": target.get("status")})
        if view.up and not view.readable:
            unreadable.append(view.name)
        seconds = (target.get("window") or {}).get("seconds")
        if isinstance(seconds, (int, float)):
            windows.append(float(seconds))
        for name in [symptom] if symptom else list(SYMPTOMS):
            spec = weights.symptoms[name]
            signal = _signal(name, view, spec.params)
            # The symptom's own severity (data), plus what its signal adds (OOM, not just full).
            signal.severity = spec.severity + signal.severity if signal.present else 0
            if symptom is None and not signal.present:
                continue
            causes = [_judge(reader, view, weights) for reader in causes_of(name, view.kind)]
            results.append(
                SymptomResult(
                    name,
                    spec.title,
                    spec.ref,
                    view.name,
                    view.kind,
                    asked=symptom is not None,
                    signal=signal,
                    causes=_ranked(causes),
                    missing=[_missing(gap, weights) for gap in signal.gaps],
                )
            )
    if symptom is None:
        order = list(SYMPTOMS)
        results.sort(key=lambda r: (-r.signal.severity, order.index(r.symptom)))
    return Diagnosis(
        targets=targets,
        symptoms=results,
        generated_at=generated_at or utc_stamp(),
        duration_ms=duration_ms,
        source=source,
        window_s=max(windows) if windows else None,
        unreadable=unreadable,
    )


def _signal(name: str, view: TargetView, params: Mapping[str, Any]) -> Signal:
    try:
        return SYMPTOMS[name](view, params)
    except Exception as exc:  # noqa: BLE001 - one broken reader must not end the diagnosis
        return Signal(None, f"the signal could not be read: {type(exc).__name__}: {exc}")


def _read(reader: CauseReader, view: TargetView, params: Mapping[str, Any]) -> Findings:
    if not view.readable and not reader.judges_down:
        findings = Findings()
        findings.lacks("down", _why_unread(view))
        return findings
    try:
        return reader.read(view, params)
    except Exception as exc:  # noqa: BLE001 - reported as unknown, with the reason
        findings = Findings()
        findings.lacks("error", f"{type(exc).__name__}: {exc}")
        return findings


def _why_unread(view: TargetView) -> str:
    facts = view.facts
    if facts.get("saturated"):
        return str((facts.get("saturated") or {}).get("message") or "at its connection limit")
    error = (facts.get("ping") or {}).get("error") or (facts.get("connect") or {}).get("error")
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])
    errors = facts.get("errors") or {}
    return str(errors.get("info") or errors.get("probe") or "no readings")


def _judge(reader: CauseReader, view: TargetView, weights: Weights) -> CauseResult:
    spec = weights.causes[reader.id]
    findings = _read(reader, view, spec.params)
    weighed = [Evidence(o.id, o.text, spec.evidence.get(o.id, 0.0)) for o in findings.observed]
    score = round(sum(e.weight for e in weighed), 2)
    missing = [_missing(gap, weights) for gap in findings.missing]
    return CauseResult(
        id=reader.id,
        title=spec.title,
        ref=spec.ref,
        verdict=weights.verdicts.verdict(score, len(weighed)),
        score=score,
        evidence_for=[e for e in weighed if e.weight >= 0],
        evidence_against=[e for e in weighed if e.weight < 0],
        missing=missing,
        fix=spec.fix,
    )


def _missing(gap: Gap, weights: Weights) -> Missing:
    what, how = weights.missing.get(gap.id, (gap.id, ""))
    if gap.id == "error":
        what, how = "the cause's reader failed", ""
    return Missing(gap.id, f"{what} ({gap.detail})" if gap.detail else what, how)


def _ranked(causes: list[CauseResult]) -> list[CauseResult]:
    """By score; among equal scores the better verdict, then the guide's order."""
    ordered = sorted(
        enumerate(causes), key=lambda ic: (-ic[1].score, VERDICTS.index(ic[1].verdict), ic[0])
    )
    ranked = [cause for _, cause in ordered]
    for rank, cause in enumerate(ranked, 1):
        cause.rank = rank
    return ranked
