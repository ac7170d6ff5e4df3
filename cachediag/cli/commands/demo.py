"""`cachediag demo`: the guide's issues on throwaway local servers, and the check finding them."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from cachediag.cli.common import cli_errors, write_output
from cachediag.cli.exit_codes import ExitCode


def demo(
    wait: Annotated[
        bool | None,
        typer.Option(
            "--wait/--no-wait",
            help="Keep the servers up after the check until Enter or Ctrl-C, to try the "
            "next commands on them. Default: on a terminal, wait.",
        ),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
) -> None:
    """Start a throwaway Redis and Memcached on loopback, seed the guide's issues, check them.

    Example: cachediag demo

    Needs redis-server and memcached installed. Only servers the demo started are touched:
    free loopback ports, a temp dir of their own, stopped on exit or Ctrl-C. Exit 0 once the
    demo ran, 2 when the servers are not installed, 3 when one would not start, 130 on Ctrl-C.
    """
    from cachediag.cli.app import COMMANDS
    from cachediag.demo.run import run_demo

    with cli_errors(debug):
        run_demo(
            lambda text: write_output(text, None),
            wait=sys.stdin.isatty() if wait is None else wait,
            with_purge="purge" in COMMANDS,
        )
    raise typer.Exit(ExitCode.OK)
