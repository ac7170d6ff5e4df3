"""`cachediag verify`: is a bundle as gather wrote it, and free of a given secret?"""

from __future__ import annotations

import os
from typing import Annotated

import typer

from cachediag.cli.common import cli_errors, write_output
from cachediag.cli.schema_option import json_schema_option
from cachediag.render.json_text import to_json


@json_schema_option("verify")
def verify(
    bundle: Annotated[
        str, typer.Argument(metavar="BUNDLE", help="A bundle: the .tar.gz or its unpacked folder.")
    ],
    secret_env: Annotated[
        str | None,
        typer.Option(
            "--secret-env",
            metavar="NAME",
            help="Also scan every file for the secret in this environment variable "
            "(plain and URL-encoded).",
        ),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print a cachediag.verify/v1 JSON document.")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
) -> None:
    """Check every file of a bundle against its manifest's sha256 and the bundle schema.

    The secret is read from an environment variable, never from the command line, where
    it would land in the shell's history.

    Example: cachediag verify cachediag-web1-20261201T101500Z.tar.gz --secret-env CACHE_PW

    Exit 0 intact, 1 altered or leaking, 2 not a bundle (or bad input).
    """
    with cli_errors(debug):
        from cachediag.bundle.verify import verify as run
        from cachediag.errors import UsageError

        secret = None
        if secret_env is not None:
            secret = os.environ.get(secret_env)
            if not secret:
                raise UsageError(f"--secret-env {secret_env}: that variable is not set or empty")
        verdict = run(bundle, secret)
        from cachediag.render import gather as render

        if json_output:
            write_output(to_json(render.verify_document(verdict)) + "\n", None)
        else:
            write_output(render.verify_text(verdict), None)
    raise typer.Exit(verdict.exit_code)
