"""`cachediag ring` as a table: each key's owner per hashing, and where it actually is."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text

from cachediag.render.console import render_to_string
from cachediag.safety.textsafe import safe_text


def render(report: dict[str, Any], terminal: bool | None = None) -> str:
    table = Table(title=f"Pool of {len(report['servers'])} servers", title_justify="left")
    table.add_column("key", overflow="fold")
    for hashing in report["hashings"]:
        table.add_column(hashing, overflow="fold")
    table.add_column("held on", overflow="fold")
    for row in report["keys"]:
        held = set(row["present_on"])
        cells = [Text(safe_text(row["key"]))]
        for hashing in report["hashings"]:
            name = row["owners"][hashing]
            cells.append(Text(name, style="green" if name in held else ""))
        cells.append(Text(", ".join(row["present_on"]) or "nowhere", style="" if held else "dim"))
        table.add_row(*cells)
    notes = Text()
    for finding in report["findings"]:
        notes.append(f"· {safe_text(finding)}\n")
    return render_to_string(table, notes, terminal=terminal)
