"""Text for `cachediag ttl`: per-key readings, or the keyspace's TTL buckets by namespace."""

from __future__ import annotations

from typing import Any

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from cachediag.keyspace.ttl import BUCKET_NAMES, NO_EXPIRY
from cachediag.render.bigkeys import nodes_table
from cachediag.render.targets import (
    key_label,
    lookups_line,
    note_lines,
    render_targets,
    status_text,
    unreachable_line,
)
from cachediag.render.units import human_bytes, human_bytes_iec, human_duration, plural
from cachediag.safety.textsafe import safe_text

TOP_NAMESPACES = 20


def _memory(key: dict[str, Any]) -> str:
    return human_bytes(key["memory_bytes"]) if key["memory_bytes"] is not None else "–"


def _memcached_size(key: dict[str, Any]) -> str:
    """The item's bytes in its slab chunk, as bigkeys shows them, and its class."""
    if key["memory_bytes"] is None:
        return "–"
    size = human_bytes_iec(key["memory_bytes"])
    return f"{size}, class {key['slab_class']}" if key.get("slab_class") is not None else size


def _keys(row: dict[str, Any]) -> Table:
    memcached = row.get("kind") == "memcached"
    size_cell = _memcached_size if memcached else _memory
    table = Table(title=safe_text(row["target"]), title_justify="left")
    on_nodes = any("node" in key for key in row["keys"])  # a cluster: each key's owner
    columns = ["key", "ttl", "type", "item size" if memcached else "memory", "reading"]
    for column in [*columns, "node"] if on_nodes else columns:
        table.add_column(column, overflow="fold")
    for key in row["keys"]:
        ttl = key["ttl"]
        style = "yellow" if ttl == -1 else "red" if ttl == -2 else ""
        cells: list[Text | str] = [
            Text(key_label(key["key"])),
            "–" if ttl is None else str(ttl),
            key["type"] or "–",
            size_cell(key),
            Text(key["reading"], style=style),
        ]
        if on_nodes:
            cells.append(Text(safe_text(key.get("node", ""))))
        table.add_row(*cells)
    return table


def _databases(rows: list[dict[str, Any]]) -> Table:
    table = Table(title="per database (INFO keyspace)", title_justify="left")
    for column in ("db", "keys", "expires", "without TTL", "avg_ttl"):
        table.add_column(column, justify="left" if column == "db" else "right")
    for db in rows:
        avg = db.get("avg_ttl_ms") or 0
        table.add_row(
            db["db"],
            f"{db['keys']:,}",
            f"{db['expires']:,}",
            f"{db['keys'] - db['expires']:,}",
            human_duration(avg / 1000) if avg else "–",
        )
    return table


def _buckets(row: dict[str, Any]) -> Table:
    scope = f"pattern {row['pattern']}, " if row.get("pattern") else ""
    extent = "the whole keyspace" if row.get("complete") else f"bounded at {row['max_keys']:,} keys"
    table = Table(
        title=f"sampled keys by remaining TTL ({scope}{plural(row['sampled'], 'key')}, {extent})",
        title_justify="left",
    )
    table.add_column("namespace", overflow="fold")
    table.add_column("keys", justify="right")
    for name in BUCKET_NAMES:
        table.add_column(name, justify="right", style="yellow" if name == NO_EXPIRY else "")
    table.add_row(
        Text("all", style="bold"),
        f"{row['sampled']:,}",
        *(f"{row['buckets'][n]:,}" for n in BUCKET_NAMES),
    )
    for ns in row["namespaces"][:TOP_NAMESPACES]:
        table.add_row(
            Text(safe_text(ns["namespace"])),
            f"{ns['keys']:,}",
            *(f"{ns['buckets'][n]:,}" for n in BUCKET_NAMES),
        )
    return table


def _target(row: dict[str, Any]) -> list[RenderableType]:
    if row["status"] != "up":
        return [unreachable_line(row)]
    if row["mode"] == "keys":
        parts: list[RenderableType] = [_keys(row)]
    else:
        parts = [Text(safe_text(row["target"]), style="bold")]
        if row.get("nodes"):  # a cluster: what each node's part of the sample gave
            parts.append(nodes_table(row))
        if row.get("databases"):
            parts.append(_databases(row["databases"]))
        parts.append(_buckets(row))
        hidden = len(row["namespaces"]) - TOP_NAMESPACES
        if hidden > 0:
            parts.append(Text(f"… and {hidden} more namespaces (see --json)", style="dim"))
        verdict = row.get("verdict")
        if verdict:
            line = Text("verdict: ")
            line.append_text(status_text(verdict["status"]))
            line.append(f" {safe_text(verdict['summary'])}")
            parts.append(line)
            if verdict.get("remedy"):
                parts.append(Text(f"→ {safe_text(verdict['remedy'])}", style="yellow"))
    parts.extend(note_lines(row))
    if (lookups := lookups_line(row)) is not None:
        parts.append(lookups)
    return parts


def render(rows: list[dict[str, Any]], terminal: bool | None = None) -> str:
    return render_targets(rows, _target, terminal)
