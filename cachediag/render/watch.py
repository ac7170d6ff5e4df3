"""Text for `cachediag watch`: the live table, one line per interval when piped, the summary."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text

from cachediag.render.console import render_to_string
from cachediag.render.units import human_bytes
from cachediag.safety.textsafe import safe_text

COLUMNS = (
    "target",
    "ops/s",
    "hit rate",
    "memory",
    "clients",
    "blocked",
    "conn/s",
    "rejected",
    "evict/s",
    "expired/s",
    "keys",
)


def _rate(value: Any) -> str:
    return "–" if value is None else f"{value:,.1f}"


def _hit(row: dict[str, Any]) -> str:
    return "–" if row.get("hit_rate") is None else f"{row['hit_rate']:.1%}"


def _count(value: Any) -> str:
    return "–" if value is None else f"{value:,}"


def _cells(row: dict[str, Any]) -> list[str]:
    return [
        _rate(row.get("ops_per_sec")),
        _hit(row),
        human_bytes(row["used_memory"]),
        str(row["clients"]),
        # redis-cli --stat's "blocked" and "connections"; rejected: clients turned away
        _count(row.get("blocked_clients")),
        _rate(row.get("connections_per_sec")),
        _count(row.get("rejected_connections")),
        _rate(row.get("evictions_per_sec")),
        _rate(row.get("expired_per_sec")),
        f"{row['keys']:,}",
    ]


def _problem(row: dict[str, Any]) -> str | None:
    if row["status"] == "down":
        return f"down: {safe_text(row['error']['message'])}"
    if row["status"] == "priming":
        return "first reading taken; rates from the next interval"
    if row.get("reset"):
        return "counters reset (restart or CONFIG RESETSTAT)"
    return None


# What each Memcached trouble counter's move in an interval means, worst first.
PRESSURE_TEXT = (
    ("refused_writes", "{:,} writes refused (SERVER_ERROR out of memory)"),
    ("rejected_connections", "{:,} connections rejected at the connection limit"),
    ("listen_disabled", "stopped accepting connections {:,} times at the connection limit"),
    ("conn_yields", "{:,} connection yields (clients hit -R with big batches)"),
    ("evicted_unfetched", "{:,} items evicted before any read"),
    ("expired_unfetched", "{:,} items expired before any read"),
)


def pressure_notes(row: dict[str, Any]) -> list[str]:
    """The Memcached trouble counters that moved in this interval, as words."""
    return [text.format(row[name]) for name, text in PRESSURE_TEXT if row.get(name)]


def _pressure_caption(rows: list[dict[str, Any]]) -> str | None:
    lines = [
        f"{safe_text(row['target'])}: {'; '.join(notes)}"
        for row in rows
        if row["status"] == "up" and (notes := pressure_notes(row))
    ]
    return "\n".join(lines) or None


def live_table(rows: list[dict[str, Any]], stamp: str) -> Table:
    table = Table(
        title=f"cachediag watch · {stamp} · Ctrl-C to stop",
        title_justify="left",
        caption=_pressure_caption(rows),
        caption_justify="left",
        caption_style="yellow",
    )
    for column in COLUMNS:
        if column == "target":
            table.add_column(column, overflow="fold", min_width=16)
        else:
            table.add_column(column, justify="right")
    for row in rows:
        problem = _problem(row)
        if problem and row["status"] != "up":
            table.add_row(
                Text(safe_text(row["target"])),
                Text(problem, style="red" if row["status"] == "down" else "dim"),
            )
            continue
        table.add_row(Text(safe_text(row["target"])), *_cells(row))
    return table


def line(rows: list[dict[str, Any]], stamp: str) -> str:
    """One line per interval, every target side by side."""
    parts = []
    for row in rows:
        problem = _problem(row)
        if problem and row["status"] != "up":
            parts.append(f"{safe_text(row['target'])} {problem}")
            continue
        ops, hit, mem, clients, blocked, conns, rejected, evict, expired, keys = _cells(row)
        parts.append(
            f"{safe_text(row['target'])} ops/s {ops} hit {hit} mem {mem} clients {clients} "
            f"blocked {blocked} conn/s {conns} rejected {rejected} "
            f"evict/s {evict} expired/s {expired} keys {keys}"
        )
        if notes := pressure_notes(row):
            parts[-1] += f" ! {'; '.join(notes)}"
    return f"{stamp}  " + " | ".join(parts)


def summary(totals: dict[str, dict[str, Any]], terminal: bool | None = None) -> str:
    table = Table(title="watch summary", title_justify="left")
    for column in (
        "target",
        "intervals",
        "avg ops/s",
        "peak ops/s",
        "hit rate",
        "lookups",
        "evicted",
        "expired",
        "new conns",
        "rejected",
        "memory (first → last, max)",
    ):
        if column == "target":
            table.add_column(column, overflow="fold", min_width=16)
        else:
            table.add_column(column, justify="right")
    for name, t in totals.items():
        memory = "–"
        if t["memory_first"] is not None:
            first, last = human_bytes(t["memory_first"]), human_bytes(t["memory_last"])
            memory = f"{first} → {last}, {human_bytes(t['memory_max'])}"
        table.add_row(
            Text(safe_text(name)),
            str(t["intervals"]),
            _rate(t["avg_ops_per_sec"]),
            _rate(t["peak_ops_per_sec"]),
            "–" if t["hit_rate"] is None else f"{t['hit_rate']:.1%}",
            f"{t['lookups']:,}",
            f"{t['evicted']:,}",
            f"{t['expired']:,}",
            f"{t.get('new_connections', 0):,}",
            f"{t.get('rejected_connections', 0):,}",
            memory,
        )
    table.caption = _pressure_caption(
        [
            {"target": name, "status": "up", **(t.get("pressure") or {})}
            for name, t in totals.items()
        ]
    )
    table.caption_justify, table.caption_style = "left", "yellow"
    return render_to_string(table, terminal=terminal)
