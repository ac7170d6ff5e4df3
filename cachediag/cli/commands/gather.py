"""`cachediag gather`: one redacted, checksummed bundle of everything cachediag sees."""

from __future__ import annotations

from typing import Annotated

import typer

from cachediag.cli.common import cli_errors, log_paths, setup, write_output
from cachediag.cli.options import CommonOptions, target_options
from cachediag.cli.schema_option import json_schema_option
from cachediag.render.json_text import to_json

GATHER_SCHEMA = "cachediag.gather/v1"


@json_schema_option("gather")
@target_options
def gather(
    common: CommonOptions,
    destination: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            metavar="PATH",
            help="The bundle's file (.tar.gz) or a folder for it; by default "
            "cachediag-HOST-UTCTIME.tar.gz here.",
        ),
    ] = None,
    log: Annotated[
        list[str] | None,
        typer.Option(
            "--log",
            metavar="FILE",
            help="Application log whose cache lines go into the bundle (globs, .gz). Repeatable.",
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            metavar="WHEN",
            help="Log lines from this long ago on: 30m, 2h, 1d, or a time.",
        ),
    ] = "2h",
    max_size: Annotated[
        str,
        typer.Option(
            "--max-size", metavar="SIZE", help="Cap on the bundle's content, e.g. 50MB, 500KB."
        ),
    ] = "50MB",
    redact_keys: Annotated[
        bool,
        typer.Option(
            "--redact-keys",
            help="Replace key names in every file by their namespace and a short stable hash.",
        ),
    ] = False,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print a cachediag.gather/v1 JSON document.")
    ] = False,
) -> None:
    """Write a diagnostics bundle to attach to an issue: redacted, checksummed, re-runnable.

    One .tar.gz (mode 0600): the checklist results and the facts they came from, each
    Redis's INFO, CONFIG, SLOWLOG, LATENCY, MEMORY, CLIENT LIST, ROLE and ACL LIST,
    each Memcached's stats, this host (system, processes, memory, disks, network,
    sysctls, OOM lines), the cache lines of each --log, a manifest with every file's
    sha256, and what was redacted. Read-only: nothing is written to any server, never
    KEYS, never a dump of keys or values. Passwords are redacted everywhere, and the
    bundle is re-read: if a credential cachediag was given is still in it, it is deleted.

    Example: cachediag gather --redis redis://:secret@10.0.0.5:6379 --log /var/log/app.log

    Then: cachediag verify BUNDLE, cachediag check --from BUNDLE.

    Exit 0 written, 1 a credential was left in it (deleted), 2 bad input or a destination
    that is not writable or has less than 100 MB free.
    """
    with cli_errors(common.debug):
        from cachediag.bundle.budget import parse_size
        from cachediag.bundle.gather import GatherRequest
        from cachediag.bundle.gather import gather as run
        from cachediag.checks import checklist as checklists
        from cachediag.errors import UsageError
        from cachediag.logscan.timestamps import parse_when

        size = parse_size(max_size)
        try:
            since_ts = parse_when(since, "--since") if since else None
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        config_setup = setup(common)
        loaded = checklists.load_checklist(None)
        loaded = checklists.with_overrides(loaded, config_setup.config.thresholds)
        loaded = checklists.select(loaded, [], [], list(config_setup.config.disabled))
        logs = log_paths(log)
        if logs:
            from cachediag.logscan.reader import expand_inputs

            expand_inputs(logs)  # a missing log is a usage error before anything is probed
        gathered = run(
            GatherRequest(
                targets=config_setup.targets,
                timeout=config_setup.timeout,
                checklist=loaded,
                output=destination,
                logs=logs,
                since=since_ts,
                max_size=size,
                redact_keys=redact_keys,
                entities=config_setup.config.entities,
            )
        )
        from cachediag.render import gather as render

        if json_output:
            write_output(to_json(render.document(gathered)) + "\n", None)
        else:
            write_output(render.text(gathered), None)
