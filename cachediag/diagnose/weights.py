"""diagnoses.toml: the symptoms, their causes, the weight of each piece of evidence.

It lives beside the checklist (checklists/, shipped in the wheel as cachediag/checklists)
because it is the same kind of thing: the guide as data, edited without touching code.
The loader holds it to the code: every cause the readers know has an entry, every entry
is a cause they know, and each cause weighs exactly the evidence its reader names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cachediag.errors import UsageError

FILE_NAME = "diagnoses.toml"
# The [missing] ids the symptoms' signals (not a cause) may name.
SIGNAL_GAPS = frozenset({"metrics", "log", "down"})


@dataclass(frozen=True)
class Verdicts:
    likely_at: float = 3
    possible_at: float = 1
    ruled_out_at: float = -2

    def verdict(self, score: float, evidence: int) -> str:
        if not evidence:
            return "unknown"
        if score >= self.likely_at:
            return "likely"
        if score >= self.possible_at:
            return "possible"
        if score <= self.ruled_out_at:
            return "ruled out"
        return "unknown"


@dataclass(frozen=True)
class SymptomSpec:
    name: str
    title: str
    ref: str
    severity: int
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CauseSpec:
    id: str
    title: str
    ref: str
    fix: str
    evidence: dict[str, float]
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def symptom(self) -> str:
        return self.id.split(".", 1)[0]


@dataclass(frozen=True)
class Weights:
    title: str
    verdicts: Verdicts
    symptoms: dict[str, SymptomSpec]
    causes: dict[str, CauseSpec]
    missing: dict[str, tuple[str, str]]
    source: str = ""


def default_path() -> Path:
    from cachediag.checks.checklist import default_path as checklist_path

    return checklist_path().parent / FILE_NAME


def load_weights(path: Path | None = None) -> Weights:
    from cachediag.checks.checklist import read_toml

    path = path or default_path()
    return parse_weights(read_toml(path, "diagnoses file"), str(path))


def _table(data: Any, where: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise UsageError(f"{where} must be a table")
    return data


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UsageError(f"{where} must be a number, not {value!r}")
    return float(value)


def parse_weights(data: dict[str, Any], source: str = "") -> Weights:
    """The weights from a parsed TOML, checked against the cause readers of the code."""
    from cachediag.diagnose.symptoms import CAUSES, SYMPTOMS

    where = f"diagnoses file {source}".strip()
    verdicts_table = _table(data.get("verdicts", {}), f"{where}: [verdicts]")
    verdicts = Verdicts(
        **{
            name: _number(verdicts_table[name], f"{where}: verdicts.{name}")
            for name in ("likely_at", "possible_at", "ruled_out_at")
            if name in verdicts_table
        }
    )
    symptoms = {}
    for name, raw in _table(data.get("symptoms", {}), f"{where}: [symptoms]").items():
        entry = _table(raw, f"{where}: symptoms.{name}")
        if name not in SYMPTOMS:
            raise UsageError(f"{where}: unknown symptom '{name}' (known: {', '.join(SYMPTOMS)})")
        symptoms[name] = SymptomSpec(
            name,
            str(entry.get("title", name)),
            str(entry.get("ref", "")),
            int(_number(entry.get("severity", 1), f"{where}: symptoms.{name}.severity")),
            dict(_table(entry.get("params", {}), f"{where}: symptoms.{name}.params")),
        )
    causes = {}
    for cause_id, raw in _table(data.get("causes", {}), f"{where}: [causes]").items():
        entry = _table(raw, f"{where}: causes.{cause_id}")
        reader = CAUSES.get(cause_id)
        if reader is None:
            raise UsageError(f"{where}: unknown cause '{cause_id}'")
        evidence = {
            name: _number(value, f"{where}: causes.{cause_id}.evidence.{name}")
            for name, value in _table(
                entry.get("evidence", {}), f"{where}: causes.{cause_id}.evidence"
            ).items()
        }
        if set(evidence) != set(reader.evidence):
            unknown = sorted(set(evidence) - set(reader.evidence))
            unweighed = sorted(set(reader.evidence) - set(evidence))
            parts = [f"unknown evidence {', '.join(unknown)}"] if unknown else []
            parts += [f"no weight for {', '.join(unweighed)}"] if unweighed else []
            raise UsageError(f"{where}: cause '{cause_id}': {'; '.join(parts)}")
        causes[cause_id] = CauseSpec(
            cause_id,
            str(entry.get("title", cause_id)),
            str(entry.get("ref", "")),
            str(entry.get("fix", "")),
            evidence,
            dict(_table(entry.get("params", {}), f"{where}: causes.{cause_id}.params")),
        )
    absent = sorted(set(CAUSES) - set(causes))
    if absent:
        raise UsageError(f"{where}: no entry for the causes {', '.join(absent)}")
    absent_symptoms = sorted(set(SYMPTOMS) - set(symptoms))
    if absent_symptoms:
        raise UsageError(f"{where}: no entry for the symptoms {', '.join(absent_symptoms)}")
    missing = {}
    for name, raw in _table(data.get("missing", {}), f"{where}: [missing]").items():
        entry = _table(raw, f"{where}: missing.{name}")
        missing[name] = (str(entry.get("what", name)), str(entry.get("how", "")))
    named = {gap for reader in CAUSES.values() for gap in reader.missing} | SIGNAL_GAPS
    unnamed = sorted(named - set(missing))
    if unnamed:
        raise UsageError(f"{where}: no [missing] entry for {', '.join(unnamed)}")
    return Weights(str(data.get("title", "diagnoses")), verdicts, symptoms, causes, missing, source)


def with_params(weights: Weights, cause_id: str, **params: Any) -> Weights:
    """The weights with some of a cause's params replaced (a flag given for this run)."""
    from dataclasses import replace

    spec = weights.causes[cause_id]
    causes = {**weights.causes, cause_id: replace(spec, params={**spec.params, **params})}
    return replace(weights, causes=causes)
