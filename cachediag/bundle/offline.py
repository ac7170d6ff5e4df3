"""The checklist judged offline, on a bundle's facts: the same rules as a live `check`.

Rules are pure functions of facts, so a bundle's facts give the results its live run
gave. What a bundle cannot answer is a check whose facts it does not hold at all (a
bundle written without the host or application facts): those say so, as `skip`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cachediag.checks.checklist import Checklist
    from cachediag.checks.evaluate import Report

_LIVE_ONLY = {
    "host": "not in the bundle: the host's facts were not collected; this check needs "
    "live access to the host (run cachediag check there)",
    "app": "not in the bundle: the application's facts were not collected; this check "
    "needs live access to the application (cachediag check --log/--metrics-url/--health-url)",
}


def evaluate_offline(
    checklist: Checklist, facts: dict[str, Any], fail_on_warn: bool = False
) -> Report:
    from cachediag.checks.evaluate import evaluate

    report = evaluate(checklist, facts, fail_on_warn=fail_on_warn, duration_ms=0)
    for result in report.results:
        kind = result.id.split(".", 1)[0]
        if kind in _LIVE_ONLY and facts.get(kind) is None:
            result.status, result.summary, result.remedy = "skip", _LIVE_ONLY[kind], ""
            result.observed = {}
    return report


def target_of(facts: dict[str, Any]) -> Any:
    """A Target standing for a bundle's target (its masked name; nothing to connect to)."""
    from cachediag.targets.target import Target

    return Target(kind=facts["kind"], name=facts["target"], source=facts["source"])


def memory_rows(document: dict[str, Any], judge: Any) -> list[dict[str, Any]]:
    """`memory --from`: each target's memory report from the bundle's facts."""
    from cachediag.server.memory import judge_facts

    rows = []
    for facts in document["targets"]:
        row = judge_facts(target_of(facts), dict(facts), judge)
        if (
            facts["kind"] == "redis"
            and facts.get("status") == "up"
            and "memory_doctor" not in facts
        ):
            row.setdefault("notes", []).append(
                "MEMORY DOCTOR and MEMORY STATS are not in this bundle's facts"
            )
        rows.append(row)
    return rows


def _remaining(facts: dict[str, Any]) -> list[tuple[str, float]]:
    """(key, remaining TTL in seconds, -1 none) of the bundle's key sample, as it was then."""
    keys = (facts.get("sample") or {}).get("keys") or []
    if facts["kind"] == "redis":
        return [(k["key"], -1.0 if k["ttl_ms"] < 0 else k["ttl_ms"] / 1000) for k in keys]
    now = ((facts.get("stats") or {}).get("time")) or facts.get("collected_at") or 0
    return [
        (k["key"], -1.0 if (k.get("exp") or -1) < 0 else max(0.0, k["exp"] - now)) for k in keys
    ]


def ttl_rows(document: dict[str, Any], judge: Any, pattern: str | None) -> list[dict[str, Any]]:
    """`ttl --from`: the keyspace report of each target's key sample in the bundle."""
    import fnmatch

    from cachediag.errors import probe_error
    from cachediag.keyspace import ttl
    from cachediag.probes.rows import mark_error, target_row

    rows = []
    for facts in document["targets"]:
        target = target_of(facts)
        row = target_row(target)
        row.update(mode="keyspace", pattern=pattern)
        sample = facts.get("sample") or {}
        row["max_keys"] = max(1, int(sample.get("max_keys") or 1))
        if facts.get("status") != "up":
            why = (facts.get("ping") or {}).get("error") or (facts.get("connect") or {}).get(
                "error"
            )
            why = why or {"kind": "error", "message": "not read when the bundle was gathered"}
            rows.append(mark_error(row, target, probe_error(why["kind"], why["message"])))
            continue
        items = _remaining(facts)
        notes = [
            f"offline: the bundle's key sample ({len(items)} keys, up to {row['max_keys']}), "
            "with the TTLs they had when it was gathered"
        ]
        if pattern:
            items = [item for item in items if fnmatch.fnmatchcase(item[0], pattern)]
            notes.append(f"{len(items)} sampled keys match {pattern}")
        if facts["kind"] == "redis":
            row["databases"] = ttl.databases(((facts.get("info") or {}).get("keyspace")) or {})
        row.update(ttl.summarize(items))
        row["complete"] = bool(sample.get("complete"))
        verdict_facts = (
            facts if facts["kind"] == "redis" and not pattern else ttl.sample_facts(items)
        )
        row["verdict"] = judge(f"{facts['kind']}.ttl", verdict_facts)
        row["notes"] = notes + ([sample["error"]] if sample.get("error") else [])
        row["lookups_added"] = {"hits": 0, "misses": 0, "exact": True}
        rows.append(row)
    return rows


def offline_facts(bundle: str, common: Any) -> tuple[dict[str, Any], list[str]]:
    """A `--from` command's facts and warnings, refusing target flags (nothing is probed)."""
    from cachediag.errors import UsageError

    if common.redis or common.memcached:
        raise UsageError("--from reads a bundle: --redis and --memcached cannot be used with it")
    return checked_facts(bundle)


def checked_facts(path: str) -> tuple[dict[str, Any], list[str]]:
    """The bundle's facts, and a warning for each document that is not what its manifest
    says (edited after gather wrote it): judged all the same, as the user asked."""
    from cachediag.bundle.read import altered_documents, facts_of, open_bundle

    bundle = open_bundle(path)
    facts = facts_of(bundle)
    warnings = [
        f"warning: {name} does not match the bundle's manifest (changed after gather?)"
        for name in altered_documents(bundle)
    ]
    return facts, warnings
