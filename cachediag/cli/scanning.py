"""Running a scan command over its targets: a meter each, Ctrl-C, the exit code.

Shared by `bigkeys` and `inspect` (sample mode), which scan one target after
another, each with its own progress line.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cachediag.cli.exit_codes import ExitCode, exit_code
from cachediag.targets.target import Target

if TYPE_CHECKING:
    from cachediag.keyspace.fleet import Group
    from cachediag.scan.redis import Progress

Row = dict[str, Any]


def scan_groups(
    groups: list[Group],
    label: str,
    show_progress: bool,
    scan: Callable[[Target, Progress | None], Row],
    scan_nodes: Callable[[Group, Progress | None], Row],
) -> list[Row]:
    """One row per group, in order: a lone server scanned as itself, a system's nodes (a
    cluster) at once into one row. Ctrl-C ends the run after the interrupted group, whose
    partial row is kept so what was scanned is still printed."""
    from cachediag.cli.progress import StderrProgress
    from cachediag.safety.textsafe import safe_text

    rows = []
    for group in groups:
        name = safe_text(group.target.name)
        meter = StderrProgress(f"{label} {name}") if show_progress else None
        row = scan(group.nodes[0], meter) if group.system is None else scan_nodes(group, meter)
        if meter is not None:
            meter.finish()
        rows.append(row)
        if _interrupted(row):
            break
    return rows


def _interrupted(row: Row) -> bool:
    return row.get("stop_reason") == "interrupted"


def scan_exit_code(rows: list[Row], statuses: list[str] | None = None) -> ExitCode:
    """130 when Ctrl-C ended the scan, whatever was found; otherwise as every command."""
    return ExitCode.INTERRUPTED if any(map(_interrupted, rows)) else exit_code(rows, statuses)
