"""`cachediag bigkeys`: the biggest keys, per type and per namespace, in one gentle scan."""

from __future__ import annotations

from typing import Annotated

import typer

from cachediag.cli.common import cli_errors, err, setup, targets_document, write_output
from cachediag.cli.options import CommonOptions, target_options
from cachediag.cli.scanopts import (
    BackoffAbove,
    Count,
    Crawl,
    CrawlSpec,
    Cursor,
    Delimiter,
    MaxSeconds,
    Pattern,
    ProgressFlag,
    RedisType,
    Replicas,
    Sleep,
    check_delimiter,
    parse_cursor,
    want_progress,
)
from cachediag.cli.schema_option import json_schema_option
from cachediag.render.json_text import to_json

BIGKEYS_SCHEMA = "cachediag.bigkeys/v1"


@json_schema_option("bigkeys")
@target_options
def bigkeys(
    common: CommonOptions,
    top: Annotated[
        int, typer.Option("--top", min=0, max=10_000, help="How many of the biggest keys to list.")
    ] = 20,
    max_keys: Annotated[
        int,
        typer.Option(
            "--max-keys",
            min=0,
            help="Stop after about N keys (0: the whole keyspace).",
            rich_help_panel="Scan budget",
        ),
    ] = 100_000,
    max_seconds: MaxSeconds = None,
    sleep: Sleep = 0.0,
    pattern: Pattern = None,
    type_: Annotated[
        RedisType | None,
        typer.Option(
            "--type",
            help="Only keys of this type (SCAN TYPE). Redis only.",
            rich_help_panel="Scan budget",
        ),
    ] = None,
    count: Count = 1000,
    cursor: Cursor = "0",
    samples: Annotated[
        int | None,
        typer.Option(
            "--samples",
            # SAMPLES 0 walks every element of a collection: O(N) on the server's one
            # thread (28 ms measured on a 200k-field hash). Diagnosis never does that.
            min=1,
            max=1000,
            help="MEMORY USAGE SAMPLES for collections. \\[default: the server's, 5]",
            rich_help_panel="Scan budget",
        ),
    ] = None,
    delimiter: Delimiter = ":",
    namespaces: Annotated[
        int, typer.Option("--namespaces", min=0, help="How many namespaces to list.")
    ] = 20,
    crawl: Crawl = CrawlSpec.auto,
    backoff_above: BackoffAbove = None,
    progress: ProgressFlag = None,
    replicas: Replicas = False,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print a cachediag.bigkeys/v1 JSON document.")
    ] = False,
) -> None:
    """The biggest keys by memory with type, element count and TTL; per type; per namespace.

    Also a size histogram and the guide's reading of the average entry size.

    One SCAN reads memory and element counts together (redis-cli needs --bigkeys and
    --memkeys). Read-only and gentle: SCAN never KEYS, a bounded budget, optional
    sleeps, and it slows down when the server's latency rises. Ctrl-C or a budget
    stop prints what was scanned and the cursor to resume from. Memcached: the LRU
    crawler's metadump (sizes, namespaces, slab classes). A Redis Cluster: every
    primary scanned at once (--replicas: the replicas too) into one report that
    names the node of each key.

    Examples: cachediag bigkeys --redis redis://10.0.0.5:6379 --max-keys 0
              cachediag bigkeys --pattern 'user:*' --max-seconds 30 --sleep 5

    Exit 0 done (also partial, at a budget), 1 a target is down, 2 bad
    input, 3 the server ended the scan (SCAN refused, connection lost:
    what was scanned is printed), 130 interrupted.
    """
    with cli_errors(common.debug):
        from cachediag.cli.scanning import scan_exit_code, scan_groups
        from cachediag.keyspace import bigkeys as core
        from cachediag.scan.memcached import CrawlOptions
        from cachediag.scan.redis import ScanOptions

        config_setup = setup(common)
        request = core.BigkeysRequest(
            top=top,
            namespaces=namespaces,
            scan=ScanOptions(
                count=count,
                match=pattern,
                type=type_.value if type_ else None,
                max_keys=max_keys,
                max_seconds=max_seconds,
                sleep_ms=sleep,
                samples=samples,
                cursor=parse_cursor(cursor),
                delimiter=check_delimiter(delimiter),
                backoff_above_ms=backoff_above,
            ),
            crawl=CrawlOptions(
                max_keys=max_keys,
                max_seconds=max_seconds,
                match=pattern,
                spec=crawl.value,
                delimiter=delimiter,
            ),
        )
        from cachediag.keyspace.fleet import groups

        rows = scan_groups(
            groups(config_setup.targets, replicas),
            "bigkeys",
            want_progress(progress),
            lambda t, meter: core.run(t, config_setup.timeout, request, meter),
            lambda group, meter: core.run_nodes(group, config_setup.timeout, request, meter),
        )
        for row in rows:
            if row.get("resume_cursor") not in (None, "0"):
                err(f"{row['target']}: partial scan; resume with --cursor {row['resume_cursor']}")
        if json_output:
            document = targets_document(BIGKEYS_SCHEMA, rows)
            write_output(to_json(document) + "\n", None)
        else:
            from cachediag.render import bigkeys as render

            write_output(render.render(rows), None)
        code = scan_exit_code(rows)
    raise typer.Exit(code)
