"""`cachediag inspect`: what a key holds; which cached entries are corrupt or of an old schema."""

from __future__ import annotations

import os
from typing import Annotated, Any

import typer

from cachediag.cli.common import cli_errors, setup, targets_document, write_output
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
    Replicas,
    Sleep,
    check_delimiter,
    parse_cursor,
    want_progress,
)
from cachediag.cli.schema_option import json_schema_option
from cachediag.render.json_text import to_json

INSPECT_SCHEMA = "cachediag.inspect/v1"


@json_schema_option("inspect")
@target_options
def inspect(
    common: CommonOptions,
    keys: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[KEY]...", help="Keys to inspect; none: a bounded sample.", show_default=False
        ),
    ] = None,
    pattern: Pattern = None,
    max_keys: Annotated[
        int,
        typer.Option(
            "--max-keys",
            min=0,
            help="Keys sampled per target (0: all matching keys).",
            rich_help_panel="Scan budget",
        ),
    ] = 1000,
    max_seconds: MaxSeconds = None,
    sleep: Sleep = 0.0,
    count: Count = 1000,
    cursor: Cursor = "0",
    delimiter: Delimiter = ":",
    affected: Annotated[
        int, typer.Option("--affected", min=0, help="Affected keys listed per namespace.")
    ] = 20,
    crawl: Crawl = CrawlSpec.auto,
    backoff_above: BackoffAbove = None,
    progress: ProgressFlag = None,
    replicas: Replicas = False,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print a cachediag.inspect/v1 JSON document.")
    ] = False,
) -> None:
    """Inspect keys: type, TTL, memory, encoding, length and the cache-kit envelope.

    The envelope: its header (magic CKIT, schema version), payload length and a
    hex preview. A value without the magic is an invalid header when cache-kit
    entries live in its namespace (a few neighbours are read to tell), and not
    cache-kit's otherwise. With entity layouts in cachediag.toml, such as
    entities.user.fields = ["u64", "string", "string"], payloads are decoded in
    full (values under 64 KiB are read whole) and the first field that fails is
    named (the guide's Issue 4 Step 3).

    Without keys: a bounded sample (or --pattern GLOB) judged per namespace: valid
    envelopes, invalid magic headers, undecodable entries, values that are not
    cache-kit's, the schema versions present, and sample affected keys (the guide's
    Issue 4). Memcached: the sampled items' values are fetched with multi-gets.
    Read-only. A Redis Cluster: each key read on the node owning its slot (MOVED
    and ASK followed); the sample taken on every primary at once (--replicas: the
    replicas too) into one report that names the node of each affected key.

    Examples: cachediag inspect user:123 product:prod_123 --redis redis://10.0.0.5:6379
              cachediag inspect --pattern 'user:*' --max-keys 5000

    Exit 0 nothing wrong, 1 corrupt entries found or a target is down,
    2 bad input, 3 values or keys that could not be read (SCAN or GETRANGE
    refused, connection lost), 130 interrupted.
    """
    with cli_errors(common.debug):
        from cachediag.cli.scanning import scan_exit_code, scan_groups
        from cachediag.keyspace import inspect as core
        from cachediag.scan.memcached import CrawlOptions
        from cachediag.scan.redis import ScanOptions

        config_setup = setup(common)
        check_delimiter(delimiter)
        from cachediag.keyspace.fleet import groups

        if keys and replicas:
            from cachediag.errors import UsageError

            raise UsageError(
                "--replicas applies to the sample (inspect without KEY): a named key is read "
                "on the primary owning its slot"
            )
        if keys:
            # argv was decoded with surrogateescape: fsencode gives back the exact bytes typed.
            raw = [os.fsencode(key) for key in keys]
            # The key's namespace and whole value complete its verdict (bounded reads); in
            # a cluster each key is read on the node owning its slot.
            rows = [
                core.keys_report_group(
                    group, config_setup.timeout, raw, config_setup.config.entities, delimiter
                )
                for group in groups(config_setup.targets)
            ]
        else:
            request = core.SampleRequest(
                scan=ScanOptions(
                    count=count,
                    match=pattern,
                    max_keys=max_keys,
                    max_seconds=max_seconds,
                    sleep_ms=sleep,
                    cursor=parse_cursor(cursor),
                    with_head=True,
                    delimiter=delimiter,
                    backoff_above_ms=backoff_above,
                ),
                crawl=CrawlOptions(
                    max_keys=max_keys,
                    max_seconds=max_seconds,
                    match=pattern,
                    spec=crawl.value,
                    delimiter=delimiter,
                ),
                affected=affected,
                entities=config_setup.config.entities,
            )
            # A cluster's primaries (and replicas, READONLY, with --replicas) sampled at
            # once into one row for the cluster.
            rows = scan_groups(
                groups(config_setup.targets, replicas),
                "inspect",
                want_progress(progress),
                lambda t, meter: core.sample_report(t, config_setup.timeout, request, meter),
                lambda g, meter: core.sample_report_nodes(g, config_setup.timeout, request, meter),
            )
        if json_output:
            document = targets_document(INSPECT_SCHEMA, rows, mode="keys" if keys else "sample")
            write_output(to_json(document) + "\n", None)
        else:
            from cachediag.render import inspect as render

            write_output(render.render(rows), None)
        failing = [f["level"] for row in rows for f in row.get("findings", [])]
        failing += [_key_status(key) for row in rows for key in row.get("keys", [])]
        failing += ["error" for row in rows if row.get("evidence_error")]
        code = scan_exit_code(rows, failing)
    raise typer.Exit(code)


def _key_status(key: dict[str, Any]) -> str:
    """A named key: unreadable is an error; a corrupt cache-kit entry (invalid magic header in
    a cache-kit namespace, a broken header or payload), a fail; bytes past the layout, a warn."""
    if key.get("exists") is None:
        return "error"
    envelope = key.get("envelope") or {}
    if envelope.get("verdict") in ("invalid_magic", "undecodable"):
        return "fail"
    payload = envelope.get("payload") or {}
    if payload.get("error") or (envelope.get("namespace_evidence") or {}).get("error"):
        return "error"  # the verdict needed a reading that could not be taken
    return "warn" if payload.get("state") == "trailing" else "pass"
