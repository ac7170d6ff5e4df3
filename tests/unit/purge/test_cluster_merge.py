"""A cluster purge's rows: the nodes' reports added up, and its exit code."""

from __future__ import annotations

from typing import Any

from cachediag.cli.commands.purge import _code
from cachediag.cli.exit_codes import ExitCode
from cachediag.purge.cluster import merged_report
from cachediag.purge.report import PurgeReport


def _report(**fields: Any) -> dict[str, Any]:
    report = PurgeReport(mode="delete")
    for name, value in fields.items():
        setattr(report, name, value)
    return report.to_dict()


def test_counts_add_up_and_the_slowest_node_sets_the_time() -> None:
    one = _report(matched=10, deleted=9, already_gone=1, elapsed_s=1.0, complete=True)
    two = _report(matched=5, deleted=5, elapsed_s=2.5, complete=True, worst_round_trip_ms=7.0)
    one["namespaces"] = [{"namespace": "user:*", "keys": 10}]
    two["namespaces"] = [{"namespace": "user:*", "keys": 3}, {"namespace": "cart:*", "keys": 2}]
    one["namespace_count"], two["namespace_count"] = 1, 2
    merged = merged_report([one, two], sample_limit=10)
    assert (merged["matched"], merged["deleted"], merged["already_gone"]) == (15, 14, 1)
    assert merged["elapsed_s"] == 2.5 and merged["worst_round_trip_ms"] == 7.0
    assert merged["namespaces"][0] == {"namespace": "user:*", "keys": 13}
    assert merged["namespace_count"] == 2 and merged["complete"]


def test_one_node_incomplete_makes_the_system_incomplete() -> None:
    done = _report(complete=True)
    stopped = _report(complete=False, stop_reason="interrupted")
    merged = merged_report([done, stopped], sample_limit=10)
    assert not merged["complete"] and merged["stop_reason"] == "interrupted"


def test_unfinished_slots_are_listed_and_exit_3() -> None:
    moved = _report(complete=True, unfinished_slots={7, 3})
    merged = merged_report([_report(complete=True), moved], sample_limit=10)
    assert merged["unfinished_slots"] == [3, 7]
    row = {"status": "up", "error": None, "purge": merged}
    assert _code([row]) == ExitCode.UNREADABLE
    row["purge"] = merged_report([_report(complete=True)], sample_limit=10)
    assert _code([row]) == ExitCode.OK
