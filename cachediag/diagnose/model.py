"""What a diagnosis is made of: evidence, causes with verdicts, symptoms, the whole."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

VERDICTS = ("likely", "possible", "unknown", "ruled out")


@dataclass(frozen=True)
class Observation:
    """What a cause's reader saw: an evidence id (weighed by diagnoses.toml) and its text."""

    id: str
    text: str


@dataclass(frozen=True)
class Gap:
    """Evidence that could not be read: an id of diagnoses.toml's [missing], and why."""

    id: str
    detail: str = ""


@dataclass
class Findings:
    """A cause reader's answer: what it observed, and what it could not read."""

    observed: list[Observation] = field(default_factory=list)
    missing: list[Gap] = field(default_factory=list)

    def saw(self, evidence_id: str, text: str) -> None:
        self.observed.append(Observation(evidence_id, text))

    def lacks(self, missing_id: str, detail: str = "") -> None:
        if all(gap.id != missing_id for gap in self.missing):
            self.missing.append(Gap(missing_id, detail))


@dataclass(frozen=True)
class Evidence:
    id: str
    text: str
    weight: float

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "text": self.text, "weight": self.weight}


@dataclass(frozen=True)
class Missing:
    id: str
    what: str
    how: str

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "what": self.what, "how": self.how}


@dataclass
class CauseResult:
    id: str
    title: str
    ref: str
    verdict: str
    score: float
    evidence_for: list[Evidence]
    evidence_against: list[Evidence]
    missing: list[Missing]
    fix: str
    rank: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "id": self.id,
            "cause": self.title,
            "ref": self.ref,
            "verdict": self.verdict,
            "score": self.score,
            "evidence_for": [e.to_dict() for e in self.evidence_for],
            "evidence_against": [e.to_dict() for e in self.evidence_against],
            "missing": [m.to_dict() for m in self.missing],
            "fix": self.fix,
        }


@dataclass
class Signal:
    """Whether a symptom shows in the facts: present True/False, None when not measurable."""

    present: bool | None
    summary: str
    severity: int = 0  # how bad, among present symptoms: most severe diagnosed first
    gaps: list[Gap] = field(default_factory=list)  # evidence of the symptom itself not read

    def lacks(self, missing_id: str, detail: str = "") -> Signal:
        self.gaps.append(Gap(missing_id, detail))
        return self

    def to_dict(self) -> dict[str, Any]:
        return {"present": self.present, "summary": self.summary, "severity": self.severity}


@dataclass
class SymptomResult:
    symptom: str
    title: str
    ref: str
    target: str
    kind: str
    asked: bool  # named on the command line, not found by its signal
    signal: Signal
    causes: list[CauseResult]
    missing: list[Missing] = field(default_factory=list)  # the symptom's, beside its causes'

    @property
    def likely(self) -> list[CauseResult]:
        return [c for c in self.causes if c.verdict == "likely"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "symptom": self.symptom,
            "title": self.title,
            "ref": self.ref,
            "target": self.target,
            "kind": self.kind,
            "asked": self.asked,
            "signal": self.signal.to_dict(),
            "missing": [m.to_dict() for m in self.missing],
            "causes": [c.to_dict() for c in self.causes],
        }


@dataclass
class Diagnosis:
    targets: list[dict[str, Any]]
    symptoms: list[SymptomResult]
    generated_at: str
    duration_ms: int = 0
    source: str = "live"
    window_s: float | None = None
    unreadable: list[str] = field(default_factory=list)  # targets whose readings failed

    def counts(self) -> dict[str, int]:
        counts = {verdict: 0 for verdict in VERDICTS}
        for symptom in self.symptoms:
            for cause in symptom.causes:
                counts[cause.verdict] += 1
        return counts

    @property
    def exit_code(self) -> int:
        """Like check's: 1 a likely cause found, 3 none but a target could not be read."""
        if any(symptom.likely for symptom in self.symptoms):
            return 1
        return 3 if self.unreadable else 0
