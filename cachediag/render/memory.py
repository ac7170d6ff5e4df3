"""Text for `cachediag memory`: readings with verdicts, databases, slabs, MEMORY DOCTOR."""

from __future__ import annotations

from typing import Any

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from cachediag.render.targets import note_lines, render_targets, status_text, unreachable_line
from cachediag.render.units import human_bytes
from cachediag.safety.textsafe import safe_text


def _verdict_cells(verdict: dict[str, Any] | None) -> tuple[Text, Text]:
    if not verdict:
        return Text(""), Text("")
    return status_text(verdict["status"]), Text(safe_text(verdict["summary"]))


def _readings(row: dict[str, Any]) -> Table:
    table = Table(title=f"{safe_text(row['target'])}", title_justify="left")
    for column in ("reading", "value", "verdict", "meaning"):
        table.add_column(column, overflow="fold")
    for reading in row["readings"]:
        status, summary = _verdict_cells(reading["verdict"])
        table.add_row(reading["name"], Text(safe_text(reading["display"])), status, summary)
    return table


def _databases(rows: list[dict[str, Any]]) -> Table:
    table = Table(title="keys per database (INFO keyspace)", title_justify="left")
    for column in ("db", "keys", "with TTL", "without TTL", "avg_ttl"):
        table.add_column(column, justify="left" if column == "db" else "right")
    for db in rows:
        avg = db.get("avg_ttl_ms")
        table.add_row(
            db["db"],
            f"{db['keys']:,}",
            f"{db['with_ttl']:,}",
            f"{db['without_ttl']:,}",
            f"{avg / 1000:,.0f} s" if avg else "–",
        )
    return table


def _slabs(rows: list[dict[str, Any]]) -> Table:
    table = Table(title="slabs (memcached-tool display)", title_justify="left")
    for column in (
        "#",
        "Item_Size",
        "Max_age",
        "Pages",
        "Count",
        "Full?",
        "Evicted",
        "Evict_Time",
        "OOM",
    ):
        table.add_column(column, justify="right")
    for slab in rows:
        table.add_row(
            str(slab["class"]),
            slab["item_size_text"],
            f"{slab['max_age']}s",
            str(slab["pages"]),
            str(slab["count"]),
            Text("yes", style="yellow") if slab["full"] else "no",
            str(slab["evicted"]),
            str(slab["evict_time"]),
            str(slab["oom"]),
        )
    return table


def _errorstats(counts: dict[str, int]) -> Table:
    table = Table(
        title="errors replied since start or CONFIG RESETSTAT (INFO errorstats)",
        title_justify="left",
    )
    table.add_column("error")
    table.add_column("count", justify="right")
    for name, count in sorted(counts.items(), key=lambda kv: -kv[1]):
        table.add_row(Text(safe_text(name)), f"{count:,}")
    return table


def _memory_stats(values: dict[str, Any]) -> Table:
    table = Table(title="MEMORY STATS highlights", title_justify="left")
    table.add_column("field")
    table.add_column("value", justify="right")
    for name, value in values.items():
        if name.endswith("percentage") and isinstance(value, (int, float, str)):
            shown = f"{float(value):.1f}%"
        elif name == "keys.count":
            shown = f"{value:,}" if isinstance(value, int) else str(value)
        elif isinstance(value, int):
            shown = human_bytes(value)
        elif isinstance(value, float) or (
            isinstance(value, str) and value.replace(".", "", 1).isdigit()
        ):
            shown = f"{float(value):.2f}"
        else:
            shown = str(value)
        table.add_row(name, Text(safe_text(shown)))
    return table


def _target(row: dict[str, Any]) -> list[RenderableType]:
    if row["status"] != "up":
        return [unreachable_line(row)]
    parts: list[RenderableType] = [_readings(row)]
    if row.get("projection"):
        basis = (
            row["projection"].get("basis") or f"average of {row['sampled_keys']} sampled entries"
        )
        parts.append(Text(f"projection: {row['projection']['text']} ({basis})"))
    if row.get("errorstats"):
        parts.append(_errorstats(row["errorstats"]))
    if row.get("databases"):
        parts.append(_databases(row["databases"]))
    if row.get("slabs"):
        parts.append(_slabs(row["slabs"]))
    if row.get("memory_stats"):
        parts.append(_memory_stats(row["memory_stats"]))
    if row.get("memory_doctor"):
        parts.append(Text("MEMORY DOCTOR:", style="bold"))
        parts.append(Text("\n".join(safe_text(line) for line in row["memory_doctor"].splitlines())))
    remedies = sorted(
        {
            r["verdict"]["remedy"]
            for r in row["readings"]
            if r.get("verdict") and r["verdict"].get("remedy")
        }
    )
    for remedy in remedies:
        parts.append(Text(f"→ {safe_text(remedy)}", style="yellow"))
    parts.extend(note_lines(row))
    if row.get("error"):
        parts.append(Text(f"error: {safe_text(row['error']['message'])}", style="red"))
    return parts


def render(rows: list[dict[str, Any]], terminal: bool | None = None) -> str:
    return render_targets(rows, _target, terminal)
