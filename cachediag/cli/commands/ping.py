"""`cachediag ping`: is each cache up, how fast does it answer, what is it."""

from __future__ import annotations

from typing import Annotated

import typer

from cachediag.cli.common import cli_errors, setup, targets_document, write_output
from cachediag.cli.exit_codes import ExitCode
from cachediag.cli.options import CommonOptions, target_options
from cachediag.cli.schema_option import json_schema_option
from cachediag.render.json_text import to_json

PING_SCHEMA = "cachediag.ping/v1"


@json_schema_option("ping")
@target_options
def ping(
    common: CommonOptions,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print a cachediag.ping/v1 JSON document.")
    ] = False,
) -> None:
    """Ping every target: healthy, degraded (over 100 ms) or unhealthy, with version and role.

    Examples: cachediag ping 127.0.0.1:6379 127.0.0.1:11211
              cachediag ping -h 10.0.0.5 -p 6380 -a secret

    Exit 1 when any target is unhealthy, 2 on bad input.
    """
    with cli_errors(common.debug):
        from cachediag.probes.ping import ping_all

        config_setup = setup(common)
        rows = ping_all(config_setup.targets, config_setup.timeout)
        if json_output:
            document = targets_document(PING_SCHEMA, rows)
            write_output(to_json(document) + "\n", None)
        else:
            from cachediag.render import ping as render  # rich: only when a table is printed

            write_output(render.render(rows), None)
    unhealthy = any(row["status"] == "unhealthy" for row in rows)
    raise typer.Exit(ExitCode.FAILED if unhealthy else ExitCode.OK)
