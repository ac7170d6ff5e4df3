"""`inspect` as text: one panel per named key, or a per-namespace table of envelope health."""

from __future__ import annotations

from typing import Any

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from cachediag.keyspace.entities import describe_outcome
from cachediag.render.bigkeys import findings, human_ttl, nodes_table
from cachediag.render.targets import (
    key_label,
    kind_header,
    lookups_line,
    no_keys_line,
    note_lines,
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
        # Say exactly what was verified: the header, and the payload only when decoded.
        text.append("cache-kit header valid", style="green")
        text.append(
            f" (magic CKIT, schema version {env['schema_version']}); "
            f"payload {env['payload_length']:,} bytes"
        )
        text.append_text(_payload_text(env.get("payload")))
    elif env["state"] == "undecodable":
        text.append("cache-kit magic, but undecodable", style="bold red")
        text.append(f": {safe_text(env['reason'] or '')}")
    elif env["cache_kit"]:
        text.append(
            f"invalid magic header {env['magic_hex']} (expected 434b4954 'CKIT')", style="bold red"
        )
    else:
        text.append(f"not a cache-kit value (starts {env['magic_hex'] or 'empty'})", style="dim")
    evidence = env.get("namespace_evidence")
    if evidence:
        text.append(f"\n{_evidence_text(evidence)}", style="dim")
    text.append(f"\nhex: {env['hex_preview']}", style="dim")
    return text


def _payload_text(payload: dict[str, Any] | None) -> Text:
    if payload is None:
        return Text(
            ", not decoded: no [entities] layout in cachediag.toml covers this key", style="dim"
        )
    style = {"ok": "green", "broken": "bold red", "trailing": "yellow"}.get(
        payload.get("state", ""), "yellow"
    )
    return Text("\n") + Text(safe_text(describe_outcome(payload)), style=style)


def _evidence_text(evidence: dict[str, Any]) -> str:
    namespace = safe_text(evidence.get("namespace", ""))
    if evidence.get("error"):
        return f"{namespace} could not be read to judge it: {safe_text(evidence['error'])}"
    found, looked = evidence.get("cache_kit_entries", 0), evidence.get("looked_at", 0)
    if evidence.get("source") == "named keys":
        carry = "named key carries" if found == 1 else "named keys carry"
        return f"{namespace} holds cache-kit entries ({found} {carry} the magic)"
    if evidence.get("source") == "none":
        return "no namespace to compare it with"
    if found:
        return f"{namespace} holds cache-kit entries ({found} of {looked} neighbouring keys read)"
    return f"no cache-kit entry among {looked} neighbouring keys of {namespace} read"


def _keys_table(row: dict[str, Any]) -> Table:
    table = Table(show_header=True, title_justify="left")
    on_nodes = any("node" in key for key in row["keys"])  # a cluster: where each key is
    columns = ("key", "type", "TTL", "memory", "encoding", "length", "value")
    for column in (*columns, "node") if on_nodes else columns:
        table.add_column(column, overflow="fold")
    for key in row["keys"]:
        node = [Text(safe_text(key.get("node", "")))] if on_nodes else []
        if not key["exists"]:  # None: could not be read; False: does not exist
            state = (
                Text(f"unreadable: {key.get('error')}", style="yellow")
                if key["exists"] is None
                else Text("-2 (does not exist)", style="dim")
            )
            table.add_row(Text(key_label(key["key"])), state, *[""] * 5, *node)
            continue
        table.add_row(
            Text(key_label(key["key"])),
            key["type"],
            _ttl(key["ttl_ms"]),
            human_bytes(key["memory"]) if key["memory"] is not None else "–",
            key["encoding"] or "–",
            f"{key['length']:,}" if key["length"] is not None else "–",
            _envelope_text(key["envelope"]),
            *node,
        )
    return table


def _sample_table(row: dict[str, Any]) -> Table:
    table = Table(title="Entries by namespace", title_justify="left", title_style="bold")
    table.add_column("namespace", overflow="fold")
    for column in ("entries", "valid", "invalid magic", "undecodable", "not cache-kit"):
        table.add_column(column, justify="right")
    table.add_column("schema versions")
    with_payloads = row.get("payloads") is not None
    if with_payloads:
        table.add_column("payload (layout)")
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
        if with_payloads:
            cells.append(_payload_cell(ns.get("payload")))
        table.add_row(*cells)
    return table


def _payload_cell(payload: dict[str, Any] | None) -> Text:
    if payload is None:
        return Text("no layout", style="dim")
    ok = payload["decoded"] - payload["trailing"]
    text = Text(f"{safe_text(payload['entity'])}: {ok:,} ok")
    if payload["broken"]:
        text.append(f", {payload['broken']:,} broken", style="bold red")
    if payload["trailing"]:
        text.append(f", {payload['trailing']:,} trailing", style="yellow")
    if payload["not_read"]:
        text.append(f", {payload['not_read']:,} not read", style="dim")
    return text


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
            if entry.get("node"):  # a cluster: where it was read
                text.append(f"  on {safe_text(entry['node'])}", style="dim")
            text.append("\n")
    if not listed:
        text.append("  none\n", style="green")
    return text


def _reads_line(row: dict[str, Any]) -> Text | None:
    """What the verdicts cost the server: each read is a lookup in its hit counters."""
    whole, neighbours = row.get("values_read_whole") or 0, row.get("neighbours_read") or 0
    line = Text(style="dim")
    if whole or neighbours:
        parts = []
        if whole:
            parts.append(f"{whole:,} {'value' if whole == 1 else 'values'} whole (bounded)")
        if neighbours:
            parts.append(
                f"the first bytes of {neighbours:,} neighbouring "
                f"{'key' if neighbours == 1 else 'keys'}"
            )
        total = whole + neighbours
        line.append(
            f"read {' and '.join(parts)} to judge them: {total:,} more "
            f"{'lookup' if total == 1 else 'lookups'} counted by the server"
        )
    if row.get("evidence_error"):
        line.append(
            f"{'; ' if whole or neighbours else ''}the verdicts could not be completed: "
            f"{safe_text(row['evidence_error'])}",
            style="yellow",
        )
    return line if line.plain else None


def _payloads_line(payloads: dict[str, Any] | None) -> Text:
    if payloads is None:
        return Text(
            "payloads not decoded: only headers (magic and schema version) are checked; an "
            '[entities."<prefix>"] layout in cachediag.toml decodes them in full',
            style="dim",
        )
    line = Text(style="dim")
    line.append(
        f"payloads decoded in full: {payloads['decoded']:,} ({payloads['trailing']:,} with "
        f"bytes past the layout), "
    )
    line.append(f"{payloads['broken']:,} broken", style="bold red" if payloads["broken"] else "dim")
    line.append(f", {payloads['not_read']:,} not read")
    if payloads.get("no_layout"):
        line.append(f", {payloads['no_layout']:,} of versions no layout covers")
    whole = payloads.get("values_read_whole") or 0
    if whole:
        line.append(f"; {whole:,} values read whole for it ({whole:,} more lookups on the server)")
    if payloads.get("read_error"):
        line.append(f"; reading stopped: {safe_text(payloads['read_error'])}", style="yellow")
    return line


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
        reads = _reads_line(row)
        if reads is not None:
            parts.append(reads)
        parts.extend(note_lines(row))  # a cluster: redirections followed
        return _with_lookups(parts, row)
    totals = row["totals"]
    line = Text(style="dim")
    line.append(f"{row['entries']:,} entries sampled")
    if row.get("pattern"):
        line.append(" matching ")
        line.append(safe_text(row["pattern"]))
    line.append(f"; {row['values_decoded']:,} string values' headers read")
    if row.get("not_fetched"):
        line.append(f"; {row['not_fetched']:,} items over 256 KiB not fetched")
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
    if row.get("nodes"):  # a cluster: what each node's part of the sample gave
        parts.append(nodes_table(row))
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
        return _with_lookups([*parts, no_keys_line(row)], row)
    parts += [
        summary,
        _payloads_line(row.get("payloads")),
        _sample_table(row),
        _affected(row),
        findings(row["findings"]),
    ]
    return _with_lookups(parts, row)


def _with_lookups(parts: list[RenderableType], row: dict[str, Any]) -> list[RenderableType]:
    line = lookups_line(row)
    return [*parts, line] if line is not None else parts


def render(rows: list[dict[str, Any]], terminal: bool | None = None) -> str:
    return render_targets(rows, render_target, terminal)
