"""`inspect` as text: one panel per named key, or a per-namespace table of envelope health."""

from __future__ import annotations

from typing import Any

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from cachediag.render.bigkeys import findings, human_ttl
from cachediag.render.targets import (
    key_label,
    kind_header,
    no_keys_line,
    render_targets,
    unreachable_status,
)
from cachediag.render.units import human_bytes
from cachediag.safety.textsafe import safe_text


def _ttl(ttl_ms: int | None) -> str:
    if ttl_ms is None:
        return "–"
    if ttl_ms < 0:
        return "-1 (no expiration set: cached forever)"
    return f"{ttl_ms / 1000:.0f} s ({human_ttl(ttl_ms / 1000)})"


def _envelope_text(env: dict[str, Any] | None) -> Text:
    if env is None:
        return Text("–")
    text = Text()
    if env["state"] == "valid":
        text.append("cache-kit envelope: magic valid", style="green")
        text.append(
            f", schema version {env['schema_version']}, payload {env['payload_length']:,} bytes"
        )
    elif env["state"] == "undecodable":
        text.append("cache-kit magic, but undecodable", style="bold red")
        text.append(f": {safe_text(env['reason'] or '')}")
    elif env["cache_kit"]:
        text.append(
            f"invalid magic header {env['magic_hex']} (expected 434b4954 'CKIT')", style="bold red"
        )
    else:
        text.append(f"not a cache-kit value (starts {env['magic_hex'] or 'empty'})", style="dim")
    text.append(f"\nhex: {env['hex_preview']}", style="dim")
    return text


def _keys_table(row: dict[str, Any]) -> Table:
    table = Table(show_header=True, title_justify="left")
    for column in ("key", "type", "TTL", "memory", "encoding", "length", "value"):
        table.add_column(column, overflow="fold")
    for key in row["keys"]:
        if not key["exists"]:  # None: could not be read; False: does not exist
            state = (
                Text(f"unreadable: {key.get('error')}", style="yellow")
                if key["exists"] is None
                else Text("-2 (does not exist)", style="dim")
            )
            table.add_row(Text(key_label(key["key"])), state, *[""] * 5)
            continue
        table.add_row(
            Text(key_label(key["key"])),
            key["type"],
            _ttl(key["ttl_ms"]),
            human_bytes(key["memory"]) if key["memory"] is not None else "–",
            key["encoding"] or "–",
            f"{key['length']:,}" if key["length"] is not None else "–",
            _envelope_text(key["envelope"]),
        )
    return table


def _sample_table(row: dict[str, Any]) -> Table:
    table = Table(title="Entries by namespace", title_justify="left", title_style="bold")
    table.add_column("namespace", overflow="fold")
    for column in ("entries", "valid", "invalid magic", "undecodable", "not cache-kit"):
        table.add_column(column, justify="right")
    table.add_column("schema versions")
    for ns in row["namespaces"]:
        bad = {"invalid_magic": "bold red", "undecodable": "bold red"}
        cells: list[Text | str] = [
            Text(ns["namespace"]),
            f"{ns['entries']:,}",
            Text(f"{ns['valid']:,}", style="green" if ns["valid"] else ""),
        ]
        for name in ("invalid_magic", "undecodable"):
            cells.append(Text(f"{ns[name]:,}", style=bad[name] if ns[name] else ""))
        cells.append(f"{ns['not_cache_kit']:,}")
        versions = ns["schema_versions"]
        cells.append(
            Text(
                ", ".join(f"v{v}: {n:,}" for v, n in versions.items()) or "–",
                style="yellow" if len(versions) > 1 else "",
            )
        )
        table.add_row(*cells)
    return table


def _affected(row: dict[str, Any]) -> Text:
    text = Text("Affected keys (sample)\n", style="bold")
    listed = 0
    for ns in row["namespaces"]:
        for entry in ns["affected"]:
            listed += 1
            text.append(f"  {key_label(entry['key'])}", style="red")
            text.append(f"  {entry['problem'].replace('_', ' ')}")
            if entry.get("reason"):
                text.append(f": {safe_text(entry['reason'])}", style="dim")
            text.append("\n")
    if not listed:
        text.append("  none\n", style="green")
    return text


def render_target(row: dict[str, Any]) -> list[RenderableType]:
    parts: list[RenderableType] = [kind_header(row)]
    if row["status"] != "up":
        return [*parts, unreachable_status(row)]
    if row["mode"] == "keys":
        parts.append(_keys_table(row))
        if row.get("memory_reason"):
            parts.append(
                Text(
                    f"memory: MEMORY USAGE unavailable ({safe_text(row['memory_reason'])})",
                    style="yellow",
                )
            )
        return parts
    totals = row["totals"]
    line = Text(style="dim")
    line.append(f"{row['entries']:,} entries sampled")
    if row.get("pattern"):
        line.append(" matching ")
        line.append(safe_text(row["pattern"]))
    line.append(f"; {row['values_decoded']:,} string values decoded")
    if row.get("not_fetched"):
        line.append(f"; {row['not_fetched']:,} items over 256 KB not fetched")
    if row.get("values_unreadable"):
        line.append(
            f"; values could not be read ({safe_text(row['values_unreadable'])}): "
            "nothing below says whether they are cache-kit entries",
            style="yellow",
        )
    if not row["complete"]:
        line.append(f"; partial ({row.get('stop_reason') or 'stopped'})")
        if row.get("resume_cursor") not in (None, "0"):
            line.append(f", resume with --cursor {row['resume_cursor']}")
    parts.append(line)
    if row.get("stop_reason") == "server-error" and row.get("error"):
        parts.append(Text(safe_text(row["error"]["message"]), style="yellow"))
    summary = Text()
    summary.append(f"valid {totals['valid']:,}", style="green")
    summary.append(
        f" · invalid magic {totals['invalid_magic']:,} · undecodable "
        f"{totals['undecodable']:,} · not cache-kit {totals['not_cache_kit']:,}"
    )
    versions = row["schema_versions"]
    summary.append(
        "  schema versions: " + (", ".join(f"v{v}: {n:,}" for v, n in versions.items()) or "–")
    )
    if not row["namespaces"]:
        return [*parts, no_keys_line(row)]
    parts += [summary, _sample_table(row), _affected(row), findings(row["findings"])]
    return parts


def render(rows: list[dict[str, Any]], terminal: bool | None = None) -> str:
    return render_targets(rows, render_target, terminal)
