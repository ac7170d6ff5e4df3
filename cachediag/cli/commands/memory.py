"""`cachediag memory`: where the memory goes, with the same verdicts as `check`."""

from __future__ import annotations

from typing import Annotated

import typer

from cachediag.cli.common import cli_errors, err, setup, targets_document, write_output
from cachediag.cli.options import CommonOptions, target_options
from cachediag.cli.schema_option import json_schema_option
from cachediag.render.json_text import to_json

MEMORY_SCHEMA = "cachediag.memory/v1"


@json_schema_option("memory")
@target_options
def memory(
    common: CommonOptions,
    sample_keys: Annotated[
        int,
        typer.Option(
            "--sample-keys",
            min=0,
            help="Keys sampled for the average entry size (SCAN, never KEYS).",
        ),
    ] = 1000,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print a cachediag.memory/v1 JSON document.")
    ] = False,
    from_bundle: Annotated[
        str | None,
        typer.Option(
            "--from",
            metavar="BUNDLE",
            help="Read the facts in a `cachediag gather` bundle instead of the servers.",
        ),
    ] = None,
) -> None:
    """Show memory use, limit, policy, fragmentation, evictions and keys, each with its verdict.

    Redis: INFO memory, DBSIZE, keys with and without TTL per database, the average entry
    size from a bounded sample and the guide's projection (keys × average entry), MEMORY
    DOCTOR and MEMORY STATS. Memcached: the slab allocator (total_malloced) against the
    limit, item bytes, items, evictions, writes refused (outofmemory), items evicted or
    expired unread, and the slab table of memcached-tool display. Read-only.

    Examples: cachediag memory 10.0.0.5:6379 mc.internal:11211
              cachediag memory -h 10.0.0.5 -p 6380 --tls --cacert ca.pem

    Exit 1 when a target is down or a reading fails its check, 2 on bad input.
    """
    with cli_errors(common.debug):
        from cachediag.checks.judge import Judge
        from cachediag.cli.exit_codes import exit_code
        from cachediag.probes.fanout import per_target
        from cachediag.probes.rows import unexpected_row
        from cachediag.server.memory import build

        config_setup = setup(common)
        judge = Judge.load(config_setup.config.thresholds)
        if from_bundle is not None:
            from cachediag.bundle.offline import memory_rows, offline_facts

            facts_document, warnings = offline_facts(from_bundle, common)
            for warning in warnings:
                err(warning)
            rows = memory_rows(facts_document, judge)
        else:
            rows = per_target(
                config_setup.targets,
                lambda t: build(t, config_setup.timeout, sample_keys, judge, config_setup.started),
                on_error=unexpected_row,
            )
        if json_output:
            document = targets_document(MEMORY_SCHEMA, rows)
            write_output(to_json(document) + "\n", None)
        else:
            from cachediag.render import memory as render

            write_output(render.render(rows), None)
        statuses = [
            r["verdict"]["status"]
            for row in rows
            for r in row.get("readings") or []
            if r.get("verdict")
        ]
        code = exit_code(rows, statuses)
    raise typer.Exit(code)
