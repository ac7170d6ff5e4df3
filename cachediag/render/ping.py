"""`cachediag ping` as a table: one row per target, its status, round trip and what it is."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text

from cachediag.render.console import render_to_string
from cachediag.render.units import human_us
from cachediag.safety.textsafe import safe_text

STYLES = {"healthy": "green", "degraded": "yellow", "unhealthy": "bold red", "skipped": "dim"}
COLUMNS = ("target", "status", "latency", "connect", "version", "role", "detail")


def _us(value: float | None) -> str:
    return human_us(value) if value is not None else "–"


def render(rows: list[dict[str, Any]], terminal: bool | None = None) -> str:
    table = Table()
    for column in COLUMNS:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            Text(safe_text(row["target"])),
            Text(row["status"], style=STYLES[row["status"]]),
            _us(row["latency_us"]),
            _us(row["connect_us"]),
            Text(safe_text(str(row["version"] or "–"))),
            Text(safe_text(str(row["role"] or "–"))),
            Text(safe_text(row["error"]["message"]) if row["error"] else ""),
        )
    return render_to_string(table, terminal=terminal)
