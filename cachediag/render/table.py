"""The default `check` output: one rich table per checklist section, then a summary line."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from cachediag.checks.evaluate import Report, Result
from cachediag.render.console import output_width, render_to_string
from cachediag.render.fit import fit_columns
from cachediag.safety.textsafe import safe_text

SYMBOLS = {"pass": "✓", "fail": "✗", "warn": "!", "skip": "–", "error": "?"}
STYLES = {"pass": "green", "fail": "bold red", "warn": "yellow", "skip": "dim", "error": "magenta"}


def status_text(status: str) -> Text:
    return Text(f"{SYMBOLS[status]} {status}", style=STYLES[status])


def summary_line(report: Report) -> str:
    counts = report.counts()
    parts = [f"{counts[s]} {s}" for s in ("fail", "error", "warn", "pass", "skip")]
    return f"{', '.join(parts)} · exit {report.exit_code} · {report.duration_ms} ms"


def render(report: Report, terminal: bool | None = None) -> str:
    header = Text()
    for target in report.targets:
        version = report.versions.get(target["name"], "")
        header.append(f"{target['kind']:<10}", style="bold")
        header.append(safe_text(target["name"]))
        header.append(f"  {target['status']}", style="green" if target["status"] == "up" else "red")
        if version:
            header.append(f"  {safe_text(version)}", style="dim")
        header.append(f"  ({target['source']})\n", style="dim")
    tables = []
    sections: dict[str, list] = {}
    for result in report.results:
        sections.setdefault(result.section, []).append(result)
    for name, results in sections.items():
        table = Table(title=name, title_justify="left", title_style="bold", expand=False)
        table.add_column("", no_wrap=True)
        table.add_column("check", no_wrap=True)
        table.add_column("target", overflow="fold")
        table.add_column("observed", overflow="fold")
        table.add_column("remedy", overflow="fold")
        for result in results:
            table.add_row(
                status_text(result.status),
                Text(result.id),
                Text(safe_text(result.target)),
                Text(safe_text(result.summary)),
                Text(safe_text(result.remedy), style="cyan"),
            )
        # Too narrow for the table without cutting words: one block per check instead.
        fits = fit_columns(table, output_width(terminal))
        tables.append(table if fits else _stacked(name, results))
    from cachediag.render.fleet import summary_table

    fleet = summary_table(report)
    if fleet is not None:
        tables.append(fleet)
    return render_to_string(header, *tables, Text(summary_line(report)), terminal=terminal)


def _stacked(name: str, results: list[Result]) -> RenderableType:
    """A section as one block per check, each line wrapped at word boundaries:
    status, id and target, then what was observed, then the remedy (→) indented."""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True)
    grid.add_column(overflow="fold")  # a word wider than the whole terminal, only
    for result in results:
        heading = Text.assemble(Text(result.id, style="bold"), "  ", safe_text(result.target))
        grid.add_row(status_text(result.status), heading)
        grid.add_row("", Text(safe_text(result.summary)))
        if result.remedy:
            grid.add_row("", Text("→ " + safe_text(result.remedy), style="cyan"))
    return Group(Text(name, style="bold"), grid, Text(""))
