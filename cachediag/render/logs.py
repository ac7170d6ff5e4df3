"""The terminal view of a `cachediag.logs/v1` report (the dict `scan_logs` returns).

Everything shown from the log (samples, keys, file names) was made safe by the scanner
(`safe_text`); it is still put in `Text` objects, never in markup strings.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

HIST_ROWS = 12
BAR_WIDTH = 40
SPARK = "▁▂▃▄▅▆▇█"
_SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}


def _when(iso: str | None) -> str:
    if not iso:
        return "–"
    return iso.replace("T", " ")


def _minute(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%d %H:%MZ")


def _parse_minute(key: str) -> float:
    return datetime.strptime(key, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()


def bucket_histogram(
    histogram: dict[str, int], rows: int = HIST_ROWS
) -> tuple[int, list[tuple[float, int]]]:
    """Per-minute counts regrouped into at most `rows` equal buckets: (minutes per bucket, rows)."""
    if not histogram:
        return 1, []
    points = sorted((_parse_minute(k), n) for k, n in histogram.items())
    first, last = points[0][0], points[-1][0]
    span = int((last - first) // 60) + 1
    width = max(1, -(-span // rows))
    buckets: dict[int, int] = {}
    for ts, n in points:
        index = int((ts - first) // 60) // width
        buckets[index] = buckets.get(index, 0) + n
    count = max(buckets) + 1
    return width, [(first + i * width * 60, buckets.get(i, 0)) for i in range(count)]


def sparkline(histogram: dict[str, int], width: int = 30) -> str:
    _, rows = bucket_histogram(histogram, width)
    if not rows:
        return ""
    top = max(n for _, n in rows) or 1
    return "".join(
        " " if n == 0 else SPARK[min(len(SPARK) - 1, n * len(SPARK) // (top + 1))] for _, n in rows
    )


def _histogram_table(histogram: dict[str, int]) -> Table:
    width, rows = bucket_histogram(histogram)
    top = max((n for _, n in rows), default=0) or 1
    label = "minute (UTC)" if width == 1 else f"{width} minutes from (UTC)"
    table = Table(box=None, show_header=True, pad_edge=False, header_style="dim")
    table.add_column(label, no_wrap=True)
    table.add_column("count", justify="right")
    table.add_column("", no_wrap=True)
    for ts, n in rows:
        bar = "█" * max(1 if n else 0, round(n * BAR_WIDTH / top))
        table.add_row(_minute(ts), f"{n:,}", Text(bar, style="magenta"))
    return table


def _overview(report: dict[str, Any]) -> Table:
    table = Table(title="Log patterns", title_justify="left")
    table.add_column("category")
    table.add_column("severity")
    table.add_column("count", justify="right")
    table.add_column("first (UTC)", no_wrap=True)
    table.add_column("last (UTC)", no_wrap=True)
    table.add_column("per minute", no_wrap=True)
    for name, cat in report["categories"].items():
        style = _SEVERITY_STYLE.get(cat["severity"], "") if cat["count"] else "dim"
        table.add_row(
            Text(name, style=style),
            Text(cat["severity"], style="dim"),
            f"{cat['count']:,}",
            _when(cat["first"]),
            _when(cat["last"]),
            Text(sparkline(cat["histogram"]), style="magenta"),
        )
    return table


def _category_detail(name: str, cat: dict[str, Any]) -> RenderableType:
    parts: list[RenderableType] = []
    header = Text()
    header.append(name, style=_SEVERITY_STYLE.get(cat["severity"], "bold"))
    header.append(f"  {cat['count']:,} ", style="bold")
    header.append(f"({cat['description']})", style="dim")
    parts.append(header)
    if cat["histogram"]:
        parts.append(_histogram_table(cat["histogram"]))
    notes = []
    if cat.get("histogram_dropped"):
        notes.append(f"{cat['histogram_dropped']:,} in older minutes not drawn")
    if cat.get("untimed"):
        notes.append(f"{cat['untimed']:,} without a timestamp")
    if notes:
        parts.append(Text("; ".join(notes), style="dim"))
    if cat["top_keys"]:
        keys = Text("keys: ", style="dim")
        for i, entry in enumerate(cat["top_keys"][:5]):
            if i:
                keys.append(", ")
            keys.append(entry["key"])
            keys.append(f" ×{entry['count']}", style="dim")
        parts.append(keys)
    for sample in cat["samples"]:
        line = Text("  ")
        line.append(f"{sample['source']}@{sample['offset']}: ", style="dim")
        line.append(sample["text"])
        parts.append(line)
    parts.append(Text(""))
    return Group(*parts)


def _keys(report: dict[str, Any]) -> RenderableType | None:
    keys = report["keys"]
    if not keys["mentions"]:
        return None
    title = "Affected keys (named in error lines)"
    if keys["truncated"]:
        title += " – rare keys dropped to bound memory"
    namespaces = Table(title=title, title_justify="left")
    namespaces.add_column("namespace")
    namespaces.add_column("mentions", justify="right")
    namespaces.add_column("distinct keys", justify="right")
    for entry in keys["namespaces"][:15]:
        namespaces.add_row(
            Text(entry["namespace"]), f"{entry['mentions']:,}", f"{entry['distinct_keys']:,}"
        )
    top = Table(title="Top keys", title_justify="left")
    top.add_column("key")
    top.add_column("count", justify="right")
    for entry in keys["top"]:
        top.add_row(Text(entry["key"]), f"{entry['count']:,}")
    return Group(namespaces, top)


def _fallback(report: dict[str, Any]) -> Text:
    fp = report["fallback_proximity"]
    text = Text("Fallback: ")
    if not fp["backend_errors"]:
        text.append("no backend errors", style="dim")
    else:
        text.append(
            f"{fp['with_fallback_nearby']:,} of {fp['backend_errors']:,} backend errors have a "
            f"fallback line within {fp['near_lines']} lines or {fp['near_seconds']:g} s"
        )
        if fp["without_fallback_nearby"]:
            text.append(f" ({fp['without_fallback_nearby']:,} without)", style="yellow")
    text.append(f"; {report['counts']['fallback']:,} fallback lines in all.", style="dim")
    return text


def renderables(report: dict[str, Any]) -> list[RenderableType]:
    scanned = sum(s["scanned_bytes"] for s in report["sources"])
    head = Text(
        f"{len(report['sources'])} source(s), {scanned / 1e6:,.1f} MB scanned in "
        f"{report['duration_ms'] / 1000:.2f} s",
        style="dim",
    )
    window = report["window"]
    if window["since"] or window["until"]:
        head.append(
            f"; lines from {_when(window['since'])} to {_when(window['until'])}", style="dim"
        )
    for source in report["sources"]:
        if source.get("problem"):
            head.append(f"\n{source['name']}: {source['problem']}", style="yellow")
    out: list[RenderableType] = [head, _overview(report)]
    for name, cat in report["categories"].items():
        if cat["count"]:
            out.append(_category_detail(name, cat))
    keys = _keys(report)
    if keys is not None:
        out.append(keys)
    out.append(_fallback(report))
    return out


def render_table(report: dict[str, Any], terminal: bool | None = None) -> str:
    from cachediag.render.console import render_to_string

    return render_to_string(*renderables(report), terminal=terminal)
