"""`cachediag logs FILE...`: the cache-kit log patterns in application logs, by category.

The scanning is `cachediag.logscan`; its module docstring documents the `--json` document
(schema `cachediag.logs/v1`) key by key. Only typer is imported at module level, so that
registering this command costs nothing until it runs.
"""

from __future__ import annotations

from typing import Annotated

import typer

from cachediag.cli.schema_option import json_schema_option
from cachediag.render.json_text import to_json


@json_schema_option("logs")
def logs(
    files: Annotated[
        list[str],
        typer.Argument(
            help="Log files, globs (quote them: 'logs/*.log*') or - for standard input. "
            "Gzipped files are read as such.",
            metavar="FILE...",
            show_default=False,
        ),
    ],
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="Only lines at or after this time, in journalctl's forms: a duration before "
            "now (30m, 2h, 1d, 1h30m, -2h, '2h ago'), today, yesterday, now, a date "
            "(2024-01-15) or a timestamp (2024-01-15T10:00:00Z; without a zone: local time).",
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option("--until", help="Only lines at or before this time (same forms as --since)."),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print a cachediag.logs/v1 JSON document, nothing else.")
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Tracebacks and scan details on stderr.")
    ] = False,
) -> None:
    """Scan application logs for the guide's cache error patterns, by category.

    Categories: serialization (serialization/deserialization failed, invalid
    cache entry, magic header, version mismatch), pool_exhausted,
    backend_unavailable (backend unavailable, connection refused, Backend
    error), timeout, fallback (using fallback, falling back to database),
    flush (FLUSHDB/FLUSH_ALL), hit and miss (cache-kit's "Cache miss, falling
    back to database" follows the "Cache MISS" of the same miss: a fallback).

    Per category: count, first and last timestamp, a per-minute histogram and
    up to 5 sample lines (secrets redacted). Then the keys named in error
    lines, per namespace and per key: the guide's
    grep -i serialization app.log | grep -o "user:[0-9]*" | sort | uniq -c
    for every category and prefix at once, at about grep's speed.

    A line without a timestamp takes the last one seen before it. Bytes that
    are not UTF-8 are read, never fatal; memory stays bounded whatever the
    size of the logs.

    Examples: cachediag logs app.log
              cachediag logs 'logs/app.log*' --since 2h
              journalctl -u app -o short-iso | cachediag logs - --json

    Exit 0 after a scan (whatever it found), 2 on bad input (missing file,
    bad --since).
    """
    try:
        _run(files, since, until, json_output, debug)
    except BaseException:
        # The shared handling (one sentence and exit 2 for bad input, --debug tracebacks)
        # is imported only on failure: its imports would cost a small scan's time.
        from cachediag.cli.common import cli_errors

        with cli_errors(debug):
            raise


def _run(
    files: list[str], since: str | None, until: str | None, json_output: bool, debug: bool
) -> None:
    import sys

    from cachediag.logscan import scan_logs

    report = scan_logs(files, since=since, until=until)
    if debug:
        engine = report["engine"]
        scanned = sum(s["scanned_bytes"] for s in report["sources"])
        print(
            f"cachediag logs: {scanned:,} bytes in {report['duration_ms']} ms; "
            f"search {engine['search']}, {engine['jobs']} process(es), "
            f"{engine['ranges']} range(s), chunks of {engine['chunk_bytes']:,} bytes",
            file=sys.stderr,
        )
    if json_output:
        text = to_json(report) + "\n"
    else:
        from cachediag.render.logs import render_table

        text = render_table(report)
    sys.stdout.write(text)
    sys.stdout.flush()
