"""Pieces every per-target text report shares, so the commands read alike.

`memory`, `ttl` and `eviction-policy` name a target that could not be read as
`target: status: why`; `bigkeys` and `inspect` start each target with its kind and
name, as their scan lines do. Targets are separated by one blank line.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from rich.console import Group, RenderableType
from rich.text import Text

from cachediag.render.console import render_to_string
from cachediag.safety.textsafe import safe_text

# One colour per verdict status, so a verdict looks the same in each of these reports.
STATUS_STYLE = {
    "pass": "green",
    "warn": "yellow",
    "fail": "bold red",
    "error": "bold red",
    "skip": "dim",
}


def status_text(status: str) -> Text:
    """A verdict's status (pass, warn, ...) in its colour."""
    return Text(status, style=STATUS_STYLE.get(status, ""))


def render_targets(
    rows: list[dict[str, Any]],
    render_target: Callable[[dict[str, Any]], list[RenderableType]],
    terminal: bool | None = None,
) -> str:
    """Each target's parts followed by a blank line, rendered as one string."""
    parts: list[RenderableType] = []
    for row in rows:
        parts.extend(render_target(row))
        parts.append(Text(""))
    return render_to_string(Group(*parts), terminal=terminal)


def _state_label(row: dict[str, Any]) -> str:
    """'down: ' before the reason; nothing for a saturated server, whose reason says 'up but…'."""
    if (row.get("error") or {}).get("kind") == "saturated":
        return ""  # up, but no connection to read it with: not "down"
    return f"{row['status']}: "


def unreachable_line(row: dict[str, Any]) -> Text:
    """`target: down: why`; dim when skipped (nothing at a default address), not an alarm."""
    style = "dim" if row["status"] == "skipped" else "bold red"
    return Text(
        f"{safe_text(row['target'])}: {_state_label(row)}{safe_text(row['error']['message'])}",
        style=style,
    )


def note_lines(row: dict[str, Any]) -> list[Text]:
    return [Text(f"note: {safe_text(note)}", style="dim") for note in row.get("notes") or []]


def kind_header(row: dict[str, Any]) -> Text:
    """The kind, padded to a column, then the target's name: how a scanned target starts."""
    text = Text()
    text.append(f"{row['kind']:<10}", style="bold")
    text.append(safe_text(row["target"]))
    return text


def unreachable_status(row: dict[str, Any]) -> Text:
    """`  down: why`, to follow a kind_header: red when down, dim when skipped."""
    error = row.get("error") or {}
    return Text(
        f"  {_state_label(row)}{safe_text(error.get('message', ''))}",
        style="red" if row["status"] == "down" else "dim",
    )


def no_keys_line(row: dict[str, Any]) -> Text:
    return Text("no keys" + (" match the pattern" if row.get("pattern") else ""), style="dim")


KEY_DISPLAY_CHARS = 160


# What safety/textsafe.key_text appends to a key name it shortened: its whole length.
_SHORTENED = re.compile(r"… \([\d,]+ bytes\)$")


def key_label(name: str) -> str:
    """A key name as a table shows it: whole up to a point, then cut, with its length.

    A 100 KB key name would otherwise fill hundreds of lines of every table it is in.
    A name the facts already shortened (key_text) keeps the length it gives, the key's.
    """
    if len(name) <= KEY_DISPLAY_CHARS:
        return name
    shortened = _SHORTENED.search(name)
    if shortened:
        return name[:KEY_DISPLAY_CHARS] + shortened.group(0)
    return f"{name[:KEY_DISPLAY_CHARS]}… ({len(name):,} characters)"


def lookups_line(row: dict[str, Any]) -> Text | None:
    """`note: this run added N hits and M misses to ...`: what the scan did to the hit rate."""
    from cachediag.scan.lookups import describe

    text = describe(row.get("lookups_added"), row.get("kind", "redis"))
    return Text(f"note: {text}", style="dim") if text else None
