"""The fleet summary: one row per target, one column per checklist section, the worst
status of the target's checks in each cell: many targets read at a glance."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from cachediag.checks.evaluate import Report
from cachediag.safety.textsafe import safe_text

_SEVERITY = {"pass": 0, "skip": -1, "warn": 1, "error": 2, "fail": 3}
SYMBOLS = {"pass": "✓", "warn": "!", "fail": "✗", "skip": "-", "error": "?"}
STYLES = {"pass": "green", "warn": "yellow", "fail": "bold red", "skip": "dim", "error": "magenta"}


def worst_cells(report: Report) -> tuple[list[str], dict[str, dict[str, str]]]:
    """The sections in checklist order, and target -> section -> worst status."""
    sections: list[str] = []
    cells: dict[str, dict[str, str]] = {}
    for result in report.results:
        if result.target in ("host", "app"):
            continue
        if result.section not in sections:
            sections.append(result.section)
        row = cells.setdefault(result.target, {})
        current = row.get(result.section)
        if current is None or _SEVERITY[result.status] > _SEVERITY[current]:
            row[result.section] = result.status
    return sections, cells


def summary_table(report: Report) -> Table | None:
    """None for a run of one target (its own tables say it all)."""
    sections, cells = worst_cells(report)
    if len(cells) < 2:
        return None
    table = Table(title="Fleet summary (worst status per section)", title_justify="left")
    table.add_column("target", overflow="fold")
    for section in sections:
        table.add_column(section, no_wrap=True)
    order = [t["name"] for t in report.targets if t["name"] in cells]
    order += [name for name in cells if name not in order]
    for name in order:
        row = [Text(safe_text(name))]
        for section in sections:
            status = cells[name].get(section)
            row.append(
                Text(f"{SYMBOLS[status]} {status}", style=STYLES[status]) if status else Text("")
            )
        table.add_row(*row)
    return table
