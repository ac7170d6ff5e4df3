"""`bigkeys` as terminal tables: top keys, per type, namespaces, a size histogram, the reading.

Key names and namespaces arrive already escaped (safe_text) and are put in rich
Text objects, so a name holding markup or escape sequences shows as data.
"""

from __future__ import annotations

from typing import Any

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from cachediag.render.targets import (
    key_label,
    kind_header,
    lookups_line,
    no_keys_line,
    render_targets,
    unreachable_status,
)
from cachediag.render.units import human_bytes, human_duration, plural
from cachediag.safety.textsafe import safe_text

BAR_WIDTH = 40
LEVEL_STYLES = {"fail": "bold red", "warn": "yellow", "info": "cyan"}


def human_ttl(seconds: float | None) -> str:
    return "none" if seconds is None else human_duration(seconds)


def _num(value: int | None) -> str:
    return "–" if value is None else f"{value:,}"


def _pct(share: float) -> str:
    return f"{share:.1%}"


def scan_line(row: dict[str, Any]) -> Text:
    scan = row["scan"]
    text = kind_header(row)
    if row["kind"] == "redis":
        of = f" of {scan['dbsize']:,}" if scan.get("dbsize") is not None else ""
        text.append(
            f"  {plural(scan['inspected'], 'key')} inspected{of} in {scan['elapsed_s']:.1f}s",
            style="dim",
        )
        if scan.get("deleted"):
            text.append(f", {scan['deleted']:,} deleted while scanning (skipped)", style="dim")
        if scan.get("denied"):
            text.append(
                f", {scan['denied']:,} not readable by this ACL user (skipped)", style="yellow"
            )
        if scan.get("backoffs"):
            text.append(f", slowed down {scan['backoffs']}× for server latency", style="yellow")
    else:
        text.append(
            f"  {scan['matched']:,} items read in {scan['elapsed_s']:.1f}s ({scan['method']})",
            style="dim",
        )
    if row.get("pattern"):
        text.append("  pattern ", style="dim")
        text.append(safe_text(row["pattern"]))
    return text


def _status_line(row: dict[str, Any]) -> Text:
    if row["complete"]:
        what = "every key matching the pattern" if row.get("pattern") else "the whole keyspace"
        return Text(f"complete: {what} was scanned", style="green")
    reason = {
        "max-keys": "--max-keys reached",
        "max-seconds": "--max-seconds reached",
        "interrupted": "interrupted",
        "server-error": f"the server ended the scan: {row.get('scan', {}).get('error')}",
    }.get(row.get("stop_reason") or "", row.get("stop_reason") or "stopped")
    text = Text(
        f"partial ({reason}): the figures below cover the keys scanned so far", style="yellow"
    )
    if row.get("resume_cursor") not in (None, "0"):  # "0": nothing to resume, run it again
        text.append(f"; resume with --cursor {row['resume_cursor']}", style="bold yellow")
    return text


def _top_table(row: dict[str, Any]) -> Table:
    memcached = row["kind"] == "memcached"
    table = Table(
        title=f"Top {len(row['top'])} by {'size' if memcached else 'memory'}",
        title_justify="left",
        title_style="bold",
    )
    table.add_column("#", justify="right")
    table.add_column("key", overflow="fold")
    if memcached:
        table.add_column("size", justify="right")
        table.add_column("slab", justify="right")
        table.add_column("idle", justify="right")
    else:
        table.add_column("type")
        table.add_column("memory", justify="right")
        table.add_column("length", justify="right")
    table.add_column("TTL", justify="right")
    on_nodes = any("node" in entry for entry in row["top"])
    if on_nodes:  # a cluster: the node holding each key
        table.add_column("node", overflow="fold")
    for index, entry in enumerate(row["top"], 1):
        cells: list[Text | str] = [str(index), Text(key_label(entry["key"]))]
        if memcached:
            cells += [
                human_bytes(entry["bytes"]),
                str(entry.get("slab_class", "")),
                human_ttl(entry.get("idle_s")),
            ]
        else:
            cells += [entry["type"], human_bytes(entry["bytes"]), _num(entry["length"])]
        cells.append(human_ttl(entry["ttl_s"]))
        if on_nodes:
            cells.append(Text(safe_text(entry.get("node", ""))))
        table.add_row(*cells)
    return table


def nodes_table(row: dict[str, Any]) -> Table:
    """A cluster's nodes: what each one's part of the scan found."""
    skipped = row.get("replicas_skipped")
    title = f"Nodes scanned at once ({len(row['nodes'])})"
    if skipped:
        title += f"; {plural(skipped, 'replica')} left out (--replicas scans them)"
    table = Table(title=title, title_justify="left", title_style="bold")
    for column in ("node", "role", "keys", "scan"):
        table.add_column(column, justify="right" if column == "keys" else "left", overflow="fold")
    for node in row["nodes"]:
        if node["status"] != "up":
            state = Text(f"down: {safe_text((node.get('error') or {}).get('message', ''))}")
            state.stylize("red")
        elif node.get("complete"):
            state = Text(f"complete in {node.get('elapsed_s', 0):.1f}s", style="green")
        else:
            state = Text(f"partial ({node.get('stop_reason') or 'stopped'})", style="yellow")
        table.add_row(
            Text(safe_text(node["target"])), node.get("role") or "", f"{node['keys']:,}", state
        )
    return table


def _types_table(row: dict[str, Any]) -> Table:
    table = Table(
        title="By type (what redis-cli --bigkeys and --memkeys print)",
        title_justify="left",
        title_style="bold",
    )
    for column in (
        "type",
        "keys",
        "memory",
        "share",
        "avg",
        "elements",
        "biggest by memory",
        "biggest by length",
    ):
        table.add_column(
            column,
            justify="left"
            if column in ("type", "biggest by memory", "biggest by length")
            else "right",
            overflow="fold",
        )
    for entry in row["types"]:
        biggest = entry["biggest"]
        longest = entry["biggest_by_length"]
        unit = "bytes" if entry["type"] == "string" else "elements"
        table.add_row(
            entry["type"],
            f"{entry['keys']:,}",
            human_bytes(entry["bytes"]),
            _pct(entry["share"]),
            human_bytes(entry["average_bytes"]),
            f"{entry['elements']:,}",
            Text(f"{key_label(biggest['key'])} ({human_bytes(biggest['bytes'])})")
            if biggest
            else Text("–"),
            Text(f"{key_label(longest['key'])} ({longest['length']:,} {unit})")
            if longest
            else Text("–"),
        )
    return table


def _namespaces_table(row: dict[str, Any]) -> Table:
    shown = len(row["namespaces"])
    total = row["namespaces_total"]
    title = (
        f"Namespaces by memory ({shown} of {total})" if total > shown else "Namespaces by memory"
    )
    table = Table(title=title, title_justify="left", title_style="bold")
    table.add_column("namespace", overflow="fold")
    for column in ("keys", "memory", "share", "avg entry", "largest", "no TTL"):
        table.add_column(column, justify="right")
    for entry in row["namespaces"]:
        avg = Text(
            human_bytes(entry["average_bytes"]),
            style="yellow" if entry["average_bytes"] >= 512 else "",
        )
        table.add_row(
            Text(entry["namespace"]),
            f"{entry['keys']:,}",
            human_bytes(entry["bytes"]),
            _pct(entry["share"]),
            avg,
            human_bytes(entry["largest_bytes"]),
            f"{entry['without_ttl']:,}",
        )
    return table


def histogram(rows: list[dict[str, Any]], width: int = BAR_WIDTH) -> Text:
    """Keys per size bucket (powers of two), as bars."""
    text = Text("Size histogram (keys per size range)\n", style="bold")
    if not rows:
        text.append("no keys\n", style="dim")
        return text
    most = max(r["keys"] for r in rows)
    labels = [f"{human_bytes(r['from_bytes'])} – {human_bytes(r['to_bytes'])}" for r in rows]
    pad = max(len(label) for label in labels)
    for label, entry in zip(labels, rows, strict=True):
        filled = entry["keys"] * width / most if most else 0
        bar = "█" * int(filled) + ("▌" if filled - int(filled) >= 0.5 else "")
        text.append(f"{label:>{pad}} ")
        text.append(f"{bar:<{width + 1}}", style="cyan")
        text.append(f" {entry['keys']:>11,} keys  {human_bytes(entry['bytes']):>9}\n")
    return text


def _slabs_table(row: dict[str, Any]) -> Table:
    table = Table(title="Slab classes", title_justify="left", title_style="bold")
    for column in ("class", "chunk size", "items", "bytes", "avg item", "slack", "pages"):
        table.add_column(column, justify="right")
    for entry in row["slab_classes"]:
        table.add_row(
            str(entry["class"]),
            human_bytes(entry["chunk_size"]) if entry["chunk_size"] else "–",
            f"{entry['items']:,}",
            human_bytes(entry["bytes"]),
            human_bytes(entry["average_bytes"]),
            human_bytes(entry["slack_bytes"]) if entry["slack_bytes"] is not None else "–",
            str(entry["total_pages"]),
        )
    return table


def findings(items: list[dict[str, str]]) -> Text:
    text = Text("Reading\n", style="bold")
    if not items:
        text.append("  nothing stands out\n", style="green")
    for item in items:
        text.append(
            f"  {'!' if item['level'] != 'info' else '·'} ",
            style=LEVEL_STYLES.get(item["level"], ""),
        )
        text.append(item["text"])  # built from names already escaped with safe_text
        text.append(f"  ({item['ref']})\n", style="dim")
    return text


def render_target(row: dict[str, Any]) -> list[RenderableType]:
    if row["status"] != "up":
        line = kind_header(row)
        line.append_text(unreachable_status(row))
        return [line]
    parts: list[RenderableType] = [scan_line(row)]
    totals = row["totals"]
    summary = Text()
    summary.append(
        f"{plural(totals['keys'], 'key')}, {human_bytes(totals['bytes'])}, "
        f"average {human_bytes(totals['average_bytes'])}"
    )
    summary.append(
        f"; {totals['with_ttl']:,} with a TTL, {totals['without_ttl']:,} without", style="dim"
    )
    if "key_bytes" in totals:
        # redis-cli --bigkeys: "Total key length in bytes is N (avg len M)".
        summary.append(
            f"\nkey names: {totals['key_bytes']:,} bytes in total, "
            f"{totals['average_key_bytes']:.2f} on average",
            style="dim",
        )
    summary.append(
        f"\nsizes: {safe_text(row['size_source'])}",
        style="dim"
        if row["size_source"] == "MEMORY USAGE" or row["kind"] == "memcached"
        else "yellow",
    )
    parts += [_status_line(row), summary]
    if row.get("nodes"):
        parts.append(nodes_table(row))
    if (lookups := lookups_line(row)) is not None:
        parts.append(lookups)
    if not totals["keys"]:
        return [*parts, no_keys_line(row)]
    parts.append(_top_table(row))
    if row["kind"] == "redis":
        parts.append(_types_table(row))
    parts.append(_namespaces_table(row))
    if row["kind"] == "memcached":
        parts.append(_slabs_table(row))
    parts += [histogram(row["histogram"]), findings(row["findings"])]
    return parts


def render(rows: list[dict[str, Any]], terminal: bool | None = None) -> str:
    return render_targets(rows, render_target, terminal)
