"""`check --list`: every check with its section, item, thresholds in force and remedy."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from cachediag.checks.checklist import Checklist
from cachediag.render.console import output_width, render_to_string
from cachediag.render.fit import fit_columns


def render(checklist: Checklist) -> str:
    table = Table(title=f"{checklist.title} ({checklist.source})", title_justify="left")
    for column in ("id", "section", "item", "thresholds", "remedy"):
        table.add_column(column, overflow="fold")
    for spec in checklist.checks:
        thresholds = ", ".join(f"{k}={v}" for k, v in spec.thresholds.items()) or "–"
        # Remedies for particular causes follow the general one, each under its cause.
        remedy = "\n".join([spec.remedy, *(f"{c}: {r}" for c, r in spec.remedies.items())])
        table.add_row(
            Text(spec.id), Text(spec.section), Text(spec.item), Text(thresholds), Text(remedy)
        )
    fit_columns(table, output_width())  # remedies wrap at words where the width allows
    return render_to_string(table)
