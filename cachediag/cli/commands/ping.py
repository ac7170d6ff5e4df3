"""`cachediag ping`: is each cache up, how fast does it answer, what is it."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from cachediag.cli.common import cli_errors, setup, write_output
from cachediag.cli.options import CommonOptions, target_options

PING_SCHEMA = "cachediag.ping/v1"


def render_table(rows: list[dict[str, Any]]) -> str:
    from rich.table import Table
    from rich.text import Text

    from cachediag.render.console import render_to_string
    from cachediag.render.units import human_us
    from cachediag.safety.textsafe import safe_text

    styles = {"healthy": "green", "degraded": "yellow", "unhealthy": "bold red", "skipped": "dim"}
    table = Table()
    for column in ("target", "status", "latency", "connect", "version", "role", "detail"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            Text(safe_text(row["target"])),
            Text(row["status"], style=styles[row["status"]]),
            human_us(row["latency_us"]) if row["latency_us"] is not None else "–",
            human_us(row["connect_us"]) if row["connect_us"] is not None else "–",
            Text(safe_text(str(row["version"] or "–"))),
            Text(safe_text(str(row["role"] or "–"))),
            Text(safe_text(row["error"]["message"]) if row["error"] else ""),
        )
    return render_to_string(table)


@target_options
def ping(
    common: CommonOptions,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print a cachediag.ping/v1 JSON document.")
    ] = False,
) -> None:
    """Ping every target: healthy, degraded (over 100 ms) or unhealthy, with version and role.

    Example: cachediag ping --redis redis://127.0.0.1:6379 --memcached 127.0.0.1:11211

    Exit 1 when any target is unhealthy, 2 on bad input.
    """
    with cli_errors(common.debug):
        from cachediag.probes.ping import ping_all

        config_setup = setup(common)
        rows = ping_all(config_setup.targets, config_setup.timeout)
        if json_output:
            document = {"schema": PING_SCHEMA, "targets": rows}
            write_output(json.dumps(document, indent=2) + "\n", None)
        else:
            write_output(render_table(rows), None)
    raise typer.Exit(1 if any(row["status"] == "unhealthy" for row in rows) else 0)
