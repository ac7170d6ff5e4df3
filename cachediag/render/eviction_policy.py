"""Text for `cachediag eviction-policy`: settings, verdicts, fixes, what was done.

The plan shown before a change is cachediag.writes' (it is the confirmation).
"""

from __future__ import annotations

from typing import Any

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from cachediag.render.targets import note_lines, render_targets, status_text, unreachable_line
from cachediag.render.units import limit_text
from cachediag.safety.textsafe import safe_text


def _size(value: Any) -> str:
    if value is None:
        return "–"
    return limit_text(value)


def _target(row: dict[str, Any]) -> list[RenderableType]:
    if row["status"] != "up":
        return [unreachable_line(row)]
    table = Table(title=safe_text(row["target"]), title_justify="left", show_header=False)
    table.add_column("setting")
    table.add_column("value", overflow="fold")
    if row["kind"] == "redis":
        table.add_row("maxmemory", _size(row.get("maxmemory")))
        table.add_row("maxmemory-policy", Text(safe_text(str(row.get("maxmemory_policy") or "–"))))
    else:
        table.add_row("limit_maxbytes", _size(row.get("limit_maxbytes")))
        table.add_row("evictions", str(row.get("evictions") or "–"))
        table.add_row("start-up flags", row["restart_flags"]["text"] or "–")
    for verdict in row.get("verdicts") or []:
        cell = status_text(verdict["status"])
        cell.append(f" {safe_text(verdict['summary'])}", style="")
        table.add_row(verdict["check"], cell)
    parts: list[RenderableType] = [table]
    if row.get("fix"):
        parts.append(Text("to fix:", style="bold"))
        parts.extend(Text(f"  {safe_text(command)}") for command in row["fix"])
    parts.extend(note_lines(row))
    outcome = row.get("outcome")
    if outcome:
        if outcome.get("verified") and not outcome["changes"] and not outcome.get("rewrite"):
            parts.append(Text("already set as asked: nothing changed", style="green"))
        elif outcome.get("verified"):
            line = Text("applied and verified: ", style="green")
            line.append(
                ", ".join(f"{c['parameter']} = {c['read_back']}" for c in outcome["changes"])
                or "no change needed"
            )
            parts.append(line)
            if outcome.get("rewrite") and outcome["rewrite"]["ok"]:
                parts.append(Text("persisted with CONFIG REWRITE", style="green"))
        if outcome.get("error"):
            parts.append(Text(f"not done: {safe_text(outcome['error'])}", style="bold red"))
    return parts


def render(rows: list[dict[str, Any]], terminal: bool | None = None) -> str:
    return render_targets(rows, _target, terminal)
