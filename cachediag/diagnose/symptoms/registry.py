"""The cause readers and symptom signals the code knows, by id, in the guide's order."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cachediag.diagnose.model import Findings, Signal
    from cachediag.diagnose.view import TargetView

Params = Mapping[str, Any]
CauseFn = Callable[["TargetView", Params], "Findings"]
SignalFn = Callable[["TargetView", Params], "Signal"]

KINDS = ("redis", "memcached")


@dataclass(frozen=True)
class CauseReader:
    id: str
    read: CauseFn
    evidence: tuple[str, ...]  # the evidence ids it may observe: diagnoses.toml weighs each
    missing: tuple[str, ...]  # the [missing] ids it may name
    kinds: tuple[str, ...] = KINDS  # the kinds of target the cause exists on
    judges_down: bool = False  # read a target that did not answer (the others: unknown)

    @property
    def symptom(self) -> str:
        return self.id.split(".", 1)[0]


SYMPTOMS: dict[str, SignalFn] = {}
CAUSES: dict[str, CauseReader] = {}


def symptom(name: str) -> Callable[[SignalFn], SignalFn]:
    """Register the signal of symptom `name`: is it present in these facts?"""

    def register(fn: SignalFn) -> SignalFn:
        if name in SYMPTOMS:
            raise ValueError(f"symptom {name} registered twice")
        SYMPTOMS[name] = fn
        return fn

    return register


def cause(
    cause_id: str,
    *,
    evidence: tuple[str, ...],
    missing: tuple[str, ...] = (),
    kinds: tuple[str, ...] = KINDS,
    judges_down: bool = False,
) -> Callable[[CauseFn], CauseFn]:
    """Register the reader of cause `cause_id` (`<symptom>.<cause>`)."""

    def register(fn: CauseFn) -> CauseFn:
        if cause_id in CAUSES:
            raise ValueError(f"cause {cause_id} registered twice")
        CAUSES[cause_id] = CauseReader(cause_id, fn, evidence, missing, kinds, judges_down)
        return fn

    return register


def causes_of(symptom_name: str, kind: str) -> list[CauseReader]:
    return [c for c in CAUSES.values() if c.symptom == symptom_name and kind in c.kinds]
