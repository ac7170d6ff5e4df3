"""`cachediag ttl`: do keys expire, and when?"""

from __future__ import annotations

from typing import Annotated

import typer

from cachediag.cli.common import cli_errors, err, setup, targets_document, write_output
from cachediag.cli.options import CommonOptions, target_options
from cachediag.cli.scanopts import Replicas
from cachediag.cli.schema_option import json_schema_option
from cachediag.render.json_text import to_json

TTL_SCHEMA = "cachediag.ttl/v1"


@json_schema_option("ttl")
@target_options
def ttl(
    common: CommonOptions,
    keys: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="KEY",
            help="Keys to read the TTL of; none: the keyspace report.",
            show_default=False,
        ),
    ] = None,
    max_keys: Annotated[
        int,
        typer.Option(
            "--max-keys",
            min=1,
            help="Keys sampled per target for the keyspace report (SCAN, never KEYS).",
        ),
    ] = 10_000,
    pattern: Annotated[
        str | None,
        typer.Option(
            "--pattern",
            metavar="GLOB",
            help="Sample only keys matching this glob (SCAN MATCH), e.g. 'user:*'.",
        ),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print a cachediag.ttl/v1 JSON document.")
    ] = False,
    from_bundle: Annotated[
        str | None,
        typer.Option(
            "--from",
            metavar="BUNDLE",
            help="Report on the key sample in a `cachediag gather` bundle instead of the servers.",
        ),
    ] = None,
    replicas: Replicas = False,
) -> None:
    """Read TTLs: of given keys, or of a bounded sample of the keyspace, bucketed per namespace.

    With keys (like redis-cli TTL): seconds remaining; -1 no expiration set, cached
    forever; -2 key does not exist; plus type and memory. Without keys: keys, expires
    and avg_ttl per database and a sample bucketed as no expiry, < 1 h, 1–4 h, 4–12 h,
    12–24 h, 1–7 d, > 7 d, per namespace, the namespaces with most keys without a TTL
    first. Memcached through lru_crawler metadump. Read-only. A Redis Cluster: each
    key read on the node owning its slot (MOVED and ASK followed); the sample taken
    on every primary at once (--replicas: the replicas too, with READONLY).

    Examples: cachediag ttl user:123 session:9 --redis redis://10.0.0.5:6379
              cachediag ttl --pattern 'user:*' --max-keys 50000
              cachediag ttl user:123 -h 10.0.0.5 -p 6380 -n 2

    Exit 1 when a target is down or the share of keys without TTL fails its check.
    """
    with cli_errors(common.debug):
        from cachediag.checks.judge import Judge
        from cachediag.cli.exit_codes import exit_code
        from cachediag.keyspace import ttl as ttl_report
        from cachediag.keyspace.fleet import groups, per_group

        if replicas and (keys or from_bundle is not None):
            from cachediag.errors import UsageError

            raise UsageError(
                "--replicas applies to the keyspace sample of live servers (ttl without KEY "
                "or --from): a named key is read on the primary owning its slot"
            )
        config_setup = setup(common)
        timeout = config_setup.timeout
        # A cluster's nodes are one group, one row: keys read on their slot's owner, the
        # keyspace sampled on every primary (and replica, with --replicas) at once.
        nodes = groups(config_setup.targets, replicas) if from_bundle is None else []
        if from_bundle is not None:
            from cachediag.bundle.offline import offline_facts, ttl_rows
            from cachediag.errors import UsageError

            if keys:
                raise UsageError("ttl KEY reads a live server: it cannot be used with --from")
            judge = Judge.load(config_setup.config.thresholds)
            facts_document, warnings = offline_facts(from_bundle, common)
            for warning in warnings:
                err(warning)
            rows = ttl_rows(facts_document, judge, pattern)
        elif keys:
            rows = per_group(nodes, lambda g: ttl_report.keys_report_group(g, timeout, keys))
        else:
            judge = Judge.load(config_setup.config.thresholds)
            rows = per_group(
                nodes,
                lambda g: ttl_report.keyspace_report_group(g, timeout, max_keys, pattern, judge),
            )
        if json_output:
            document = targets_document(TTL_SCHEMA, rows, mode="keys" if keys else "keyspace")
            write_output(to_json(document) + "\n", None)
        else:
            from cachediag.render import ttl as render

            write_output(render.render(rows), None)
        code = exit_code(rows, [row["verdict"]["status"] for row in rows if row.get("verdict")])
    raise typer.Exit(code)
