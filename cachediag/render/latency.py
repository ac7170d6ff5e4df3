"""Text for `cachediag latency`: the live table, history rows, the final report and histograms."""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from cachediag.checks.facts_view import latency_summary
from cachediag.render.console import render_to_string
from cachediag.render.units import human_us
from cachediag.safety.textsafe import safe_text

STATUS_STYLE = {"pass": "green", "warn": "yellow", "fail": "bold red", "error": "bold red"}
BAR_WIDTH = 40


def _us(value: Any) -> str:
    return human_us(value) if isinstance(value, (int, float)) else "–"


def live_table(states: list[Any]) -> Table:
    """Current figures of every target (states: latency.TargetLatency), redrawn in place."""
    table = Table(box=None, pad_edge=False)
    for column in ("target", "samples", "min", "p50", "p99", "max", "avg"):
        table.add_column(column, justify="left" if column == "target" else "right")
    for state in states:
        name = Text(safe_text(state.target.name))
        if not state.samples:
            message = (state.row.get("error") or {}).get("message", "connecting…")
            table.add_row(name, Text(safe_text(message), style="red"), "", "", "", "", "")
            continue
        s = latency_summary(state.samples)
        table.add_row(
            name,
            str(s["samples"]),
            _us(s["min_us"]),
            _us(s["p50_us"]),
            _us(s["p99_us"]),
            _us(s["max_us"]),
            _us(s["avg_us"]),
        )
    return table


def history_line(entry: dict[str, Any]) -> str:
    """One window, like `redis-cli --latency-history`, with its timestamp first."""
    return (
        f"{entry['at']}  {safe_text(entry['target'])}  min {_us(entry['min_us'])}  "
        f"p50 {_us(entry['p50_us'])}  "
        f"p99 {_us(entry['p99_us'])}  max {_us(entry['max_us'])}  avg {_us(entry['avg_us'])}  "
        f"({entry['samples']} samples)"
    )


def _connect_text(connect: dict[str, Any] | None) -> str:
    if not connect:
        return "–"
    parts = [f"TCP {_us(connect.get('tcp_us'))}"]
    if connect.get("tls_us") is not None:
        parts.append(f"TLS {_us(connect['tls_us'])}")
    if connect.get("auth_us") is not None:
        parts.append(f"AUTH {_us(connect['auth_us'])}")
    return ", ".join(parts)


def histogram_lines(buckets: list[dict[str, Any]]) -> Text:
    """A bar per bucket: its bound, a bar scaled to the fullest bucket, count and share."""
    total = sum(b["count"] for b in buckets) or 1
    peak = max((b["count"] for b in buckets), default=1) or 1
    out = Text()
    previous: int | None = None
    for bucket in buckets:
        bound = bucket["le_us"]
        label = f"≤ {human_us(bound)}" if bound is not None else f"> {human_us(previous or 0)}"
        previous = bound
        bar = "█" * max(1 if bucket["count"] else 0, round(BAR_WIDTH * bucket["count"] / peak))
        out.append(f"  {label:>11} ")
        out.append(f"{bar:<{BAR_WIDTH}}", style="cyan")
        out.append(f" {bucket['count']:>7} {100 * bucket['count'] / total:5.1f}%\n")
    return out


def report(rows: list[dict[str, Any]], *, dist: bool = False, terminal: bool | None = None) -> str:
    table = Table(title="Round-trip latency (connect time apart)", title_justify="left")
    for column in (
        "target",
        "command",
        "connect",
        "samples",
        "min",
        "p50",
        "p99",
        "max",
        "avg",
        "verdict",
    ):
        table.add_column(column, overflow="fold")
    notes: list[RenderableType] = []
    for row in rows:
        summary = row.get("summary") or {}
        verdict = row.get("verdict") or {}
        status_text = (
            Text(verdict.get("band", ""), style=STATUS_STYLE.get(verdict.get("status", ""), ""))
            if verdict
            else Text(row["status"], style="dim" if row["status"] == "skipped" else "bold red")
        )
        table.add_row(
            Text(safe_text(row["target"])),
            Text((row.get("connect") or {}).get("command", "–")),
            _connect_text(row.get("connect")),
            str(summary.get("samples", 0)),
            _us(summary.get("min_us")),
            _us(summary.get("p50_us")),
            _us(summary.get("p99_us")),
            _us(summary.get("max_us")),
            _us(summary.get("avg_us")),
            status_text,
        )
        line = Text(f"{safe_text(row['target'])}: ")
        if verdict:
            line.append(verdict["text"], style=STATUS_STYLE.get(verdict["status"], ""))
        if row.get("error"):
            line.append(("; " if verdict else "") + safe_text(row["error"]["message"]), style="red")
        notes.append(line)
        if dist and row.get("histogram"):
            notes.append(Text(f"distribution of {safe_text(row['target'])}:"))
            notes.append(histogram_lines(row["histogram"]))
    return render_to_string(Group(table, *notes), terminal=terminal)
