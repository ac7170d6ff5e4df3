"""`cachediag purge`: delete keys by name or pattern, dry run first, gently, reversibly."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from cachediag.cli.common import cli_errors, err, setup, targets_document, write_output
from cachediag.cli.exit_codes import ExitCode
from cachediag.cli.numbers import finite
from cachediag.cli.options import CommonOptions, target_options
from cachediag.cli.scanopts import Count, Delimiter, ProgressFlag, RedisType, want_progress
from cachediag.cli.schema_option import json_schema_option
from cachediag.render.json_text import to_json

PURGE_SCHEMA = "cachediag.purge/v1"
_FILTERS = "Filters (narrow a --pattern)"
_GUARD = "Guard rails"


@json_schema_option("purge")
@target_options
def purge(
    common: CommonOptions,
    keys: Annotated[
        list[str] | None,
        typer.Argument(metavar="[KEY]...", help="Keys to delete, by exact name (no globbing)."),
    ] = None,
    pattern: Annotated[
        list[str] | None,
        typer.Option(
            "--pattern",
            metavar="GLOB",
            help="Delete the keys matching GLOB (SCAN MATCH). Repeatable.",
        ),
    ] = None,
    all_keys: Annotated[
        bool,
        typer.Option("--all-keys", help="Allow a pattern of only '*', or no pattern: every key."),
    ] = False,
    invalid: Annotated[
        bool,
        typer.Option(
            "--invalid",
            help="Only values without a valid cache-kit envelope.",
            rich_help_panel=_FILTERS,
        ),
    ] = False,
    schema_version: Annotated[
        int | None,
        typer.Option(
            "--schema-version",
            metavar="N",
            min=0,
            help="Only cache-kit entries of schema version N.",
            rich_help_panel=_FILTERS,
        ),
    ] = None,
    schema_below: Annotated[
        int | None,
        typer.Option(
            "--schema-below",
            metavar="N",
            min=0,
            help="Only cache-kit entries of a schema version below N.",
            rich_help_panel=_FILTERS,
        ),
    ] = None,
    no_ttl: Annotated[
        bool,
        typer.Option("--no-ttl", help="Only keys without an expiry.", rich_help_panel=_FILTERS),
    ] = False,
    ttl_above: Annotated[
        float | None,
        typer.Option(
            "--ttl-above",
            metavar="SECONDS",
            min=0.0,
            callback=finite,
            help="Only keys expiring in more than SECONDS.",
            rich_help_panel=_FILTERS,
        ),
    ] = None,
    idle_above: Annotated[
        int | None,
        typer.Option(
            "--idle-above",
            metavar="SECONDS",
            min=0,
            help="Only keys not read or written for more than SECONDS (OBJECT IDLETIME).",
            rich_help_panel=_FILTERS,
        ),
    ] = None,
    type_: Annotated[
        RedisType | None,
        typer.Option("--type", help="Only keys of this type (Redis).", rich_help_panel=_FILTERS),
    ] = None,
    yes: Annotated[
        bool,
        typer.Option(
            "--yes", "-y", help="Delete without asking (required when not on a terminal)."
        ),
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only report what would be deleted (and do not ask).")
    ] = False,
    sync: Annotated[
        bool,
        typer.Option(
            "--sync",
            help="Delete in the foreground instead of UNLINK (memory freed before the reply).",
        ),
    ] = False,
    rate: Annotated[
        float | None,
        typer.Option(
            "--rate",
            metavar="N",
            min=0.001,
            callback=finite,
            help="At most N keys deleted per second.",
            rich_help_panel=_GUARD,
        ),
    ] = None,
    max_keys: Annotated[
        int,
        typer.Option(
            "--max-keys",
            metavar="N",
            min=0,
            help="Stop after N matching keys (0: no limit).",
            rich_help_panel=_GUARD,
        ),
    ] = 0,
    max_latency: Annotated[
        float,
        typer.Option(
            "--max-latency",
            metavar="MS",
            min=0.1,
            callback=finite,
            help="Pause while purge's own round trips take longer than MS.",
            rich_help_panel=_GUARD,
        ),
    ] = 10.0,
    backup: Annotated[
        Path | None,
        typer.Option(
            "--backup",
            metavar="FILE",
            help="Keep DUMP + PTTL of every deleted key in FILE (new, mode 0600). Redis.",
        ),
    ] = None,
    restore: Annotated[
        Path | None,
        typer.Option(
            "--restore",
            metavar="FILE",
            help="Put back the keys a --backup FILE holds (RESTORE). Redis.",
        ),
    ] = None,
    replace: Annotated[
        bool,
        typer.Option(
            "--replace", help="With --restore: overwrite keys that exist again (RESTORE REPLACE)."
        ),
    ] = False,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue a stopped purge from its local checkpoint.")
    ] = False,
    checkpoint: Annotated[
        Path | None,
        typer.Option(
            "--checkpoint",
            metavar="FILE",
            help="Where the checkpoint is kept (default: under ~/.local/state/cachediag/purge/).",
        ),
    ] = None,
    count: Count = 1000,
    delimiter: Delimiter = ":",
    progress: ProgressFlag = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print a cachediag.purge/v1 JSON document.")
    ] = False,
) -> None:
    """Delete keys by exact name or by --pattern, safely: a dry run unless --yes (or confirmed).

    The dry run counts the matching keys, their memory (MEMORY USAGE of a sample,
    extrapolated) per namespace, with samples, and deletes nothing. Deleting walks the
    keyspace with SCAN (never KEYS, never FLUSHDB) and UNLINKs each batch; with filters,
    each delete is conditional on the key still holding what was read. It paces itself
    (--rate, --max-latency), can keep what it deletes (--backup, then --restore), and a
    Ctrl-C or a lost server stops after the batch with a checkpoint for --resume.
    Memcached: the LRU crawler lists the keys, `md KEY C<cas>` deletes them. A Redis
    Cluster: every primary at once, a slot at a time, into one report (replicas follow).

    Examples: cachediag purge --pattern 'user:*'                  (dry run)
              cachediag purge --pattern 'user:*' --invalid --yes --backup users.bak
              cachediag purge --restore users.bak --yes
              cachediag purge 'session:42' 'session:43' --yes

    Exit 0 done (or a dry run), 1 a target is down, 2 bad input or not confirmed,
    3 the purge stopped part-way (server error), 130 interrupted.
    """
    with cli_errors(common.debug):
        from cachediag.errors import UsageError
        from cachediag.purge.request import Filters, Limits, PurgeRequest, validate

        if yes and dry_run:
            raise UsageError("--yes and --dry-run exclude each other")
        filters = Filters(
            invalid=invalid,
            schema_version=schema_version,
            schema_below=schema_below,
            no_ttl=no_ttl,
            ttl_above_s=ttl_above,
            idle_above_s=idle_above,
            type=type_.value if type_ else None,
        )
        config_setup = setup(common)
        out = sys.stderr if json_output else sys.stdout
        if restore is not None:
            if keys or pattern or backup or resume or filters.any:
                raise UsageError(
                    "--restore FILE takes no KEYs, --pattern, filters, --backup or --resume"
                )
            code = _restore(config_setup, restore, replace, yes, dry_run, json_output, out)
            raise typer.Exit(code)
        if replace:
            raise UsageError("--replace goes with --restore FILE")
        request = validate(
            PurgeRequest(
                keys=tuple(k.encode("utf-8", "surrogateescape") for k in keys or ()),
                patterns=tuple(pattern or ()),
                all_keys=all_keys,
                filters=filters,
                limits=Limits(rate=rate, max_keys=max_keys, max_latency_ms=max_latency),
                sync=sync,
                count=count,
                delimiter=delimiter,
            )
        )
        code = _purge(
            config_setup,
            request,
            yes,
            dry_run,
            backup,
            resume,
            checkpoint,
            progress,
            json_output,
            out,
        )
    raise typer.Exit(code)


def _purge(
    config_setup: Any,
    request: Any,
    yes: bool,
    dry_run: bool,
    backup: Path | None,
    resume: bool,
    checkpoint_file: Path | None,
    progress: bool | None,
    json_output: bool,
    out: Any,
) -> ExitCode:
    import dataclasses

    from cachediag import writes
    from cachediag.backends import backend_for
    from cachediag.errors import UsageError
    from cachediag.keyspace.fleet import groups
    from cachediag.purge import checkpoint
    from cachediag.render import purge as render

    # A cluster's primaries (a Sentinel set's primary) are purged; replicas follow them.
    fleet = groups(config_setup.targets)
    targets = [node for group in fleet for node in group.nodes]
    timeout = config_setup.timeout
    if backup is not None and any(group.system is not None for group in fleet):
        raise UsageError(
            "--backup FILE keeps one server's keys: a cluster's primaries are several servers"
        )
    if backup is not None:
        if len(targets) != 1:
            raise UsageError("--backup FILE keeps one target's keys: name one target")
        if not backend_for(targets[0]).purge_backup:
            raise UsageError("--backup is for Redis: Memcached has no DUMP to keep an item with")
    needs_values = request.filters.reads_value or request.filters.type is not None
    if needs_values and not all(backend_for(t).purge_value_filters for t in targets):
        # Refused before anything is deleted anywhere, not at the first Memcached target.
        raise UsageError(
            "Memcached purges filter on the crawler's metadata only: --no-ttl, --ttl-above, "
            "--idle-above (not --invalid, --schema-* or --type)"
        )
    if checkpoint_file is not None and len(targets) != 1:
        raise UsageError("--checkpoint FILE is one target's: name one target")
    positions: dict[str, tuple[int, int]] = {}
    paths = {t.name: checkpoint_file or checkpoint.default_path(t.name, request) for t in targets}
    if resume:
        positions = {t.name: checkpoint.read(paths[t.name], t.name, request) for t in targets}
    show = want_progress(progress)
    notes: list[str] = [
        f"{key!r} is taken as a key name, not a pattern: use --pattern to match"
        for key in (k.decode("utf-8", "replace") for k in request.keys)
        if any(c in key for c in "*?[")
    ]
    for note in notes:
        err(note)

    def run(apply: bool) -> list[dict[str, Any]]:
        from cachediag.cli.purge_progress import PurgeMeter
        from cachediag.purge.backup import BackupWriter
        from cachediag.purge.redis import Sinks
        from cachediag.purge.run import purge_target
        from cachediag.safety.textsafe import safe_text

        def node_sinks(target: Any, meter: Any) -> Any:
            sinks = Sinks(progress=meter)
            if apply:
                path = paths[target.name]
                sinks.checkpoint = lambda position, t=target, p=path: _save(
                    p, t.name, request, position
                )
            return sinks

        def finish_node(row: dict[str, Any]) -> dict[str, Any]:
            report = row.get("purge")
            if report is not None and apply:
                path = paths[row["target"]]
                if report["complete"]:
                    path.unlink(missing_ok=True)
                else:
                    report["checkpoint"] = str(path)
            return row

        def purge_system(group: Any) -> dict[str, Any]:
            from cachediag.purge.cluster import SummedMeter, purge_nodes

            label = f"purge {safe_text(group.target.name)} ({len(group.nodes)} nodes)"
            meter = PurgeMeter(label) if show else None
            summed = SummedMeter(meter, len(group.nodes))
            try:
                row = purge_nodes(
                    group.target,
                    group.nodes,
                    group.skipped,
                    timeout,
                    dataclasses.replace(request, apply=apply),
                    lambda node, index: node_sinks(node, summed.for_node(index)),
                    positions,
                    lambda *args: finish_node(purge_target(*args)),
                )
            finally:
                if meter is not None:
                    meter.finish()
            return row

        rows = []
        for group in fleet:
            if group.system is not None:
                rows.append(purge_system(group))
                continue
            target = group.nodes[0]
            index, cursor = positions.get(target.name, (0, 0))
            one = dataclasses.replace(request, apply=apply, pattern_index=index, cursor=cursor)
            meter = PurgeMeter(f"purge {safe_text(target.name)}") if show else None
            sinks = Sinks(progress=meter)
            handle = None
            if apply and backup is not None:
                from cachediag.cli.common import open_private_new
                from cachediag.render.units import utc_stamp

                handle = open_private_new(backup)
                sinks.backup = BackupWriter(
                    handle,
                    {"target": target.name, "created": utc_stamp(), "request": request.to_dict()},
                )
            if apply:
                sinks.checkpoint = node_sinks(target, None).checkpoint
            try:
                row = purge_target(target, timeout, one, sinks)
            finally:
                if handle is not None:
                    handle.close()
                if meter is not None:
                    meter.finish()
            report = row.get("purge")
            if report is not None and handle is not None:
                report["backup"] = {"file": str(backup), "records": sinks.backup.records}  # type: ignore[union-attr]
            rows.append(finish_node(row))
            if report is not None and report["stop_reason"] == "interrupted":
                break
        return rows

    def emit(rows: list[dict[str, Any]], mode: str, hint: str = "") -> None:
        if json_output:
            document = targets_document(PURGE_SCHEMA, rows, mode=mode, request=request.to_dict())
            write_output(to_json(document) + "\n", None)
        else:
            write_output(render.render(rows, hint), None)

    if not yes:
        rows = run(apply=False)
        matched = sum(row["purge"]["matched"] for row in rows if row.get("purge"))
        plans = [
            writes.purge_plan(group.target, row["purge"]["matched"], request.what(), request.sync)
            for group, row in zip(fleet, rows, strict=False)
            if row.get("purge") and row["purge"]["matched"]
        ]
        if dry_run or not plans:
            hint = (
                ""
                if json_output or not matched
                else "dry run: nothing was deleted; run again with --yes to delete"
            )
            emit(rows, "dry-run", hint)
            return _code(rows)
        if not json_output:
            emit(rows, "dry-run")
        writes.confirm(
            plans,
            writes.Mode.ASK,
            what="the keyspace",
            out=out,
            ask=lambda question: typer.confirm(question, default=False, err=True),
        )
    rows = run(apply=True)
    emit(rows, "delete")
    return _code(rows)


def _save(path: Path, name: str, request: Any, position: dict[str, Any]) -> None:
    from cachediag.cli.common import write_private
    from cachediag.purge import checkpoint

    write_private(path, checkpoint.document(name, request, position))


def _code(rows: list[dict[str, Any]]) -> ExitCode:
    from cachediag.cli.exit_codes import exit_code

    if any((row.get("purge") or {}).get("stop_reason") == "interrupted" for row in rows):
        return ExitCode.INTERRUPTED
    code = exit_code(rows)
    if code == ExitCode.OK and any(
        (row.get("purge") or {}).get("unfinished_slots") for row in rows
    ):
        # Slots that moved and could not be followed still hold matching keys.
        return ExitCode.UNREADABLE
    return code


def _restore(
    config_setup: Any,
    path: Path,
    replace: bool,
    yes: bool,
    dry_run: bool,
    json_output: bool,
    out: Any,
) -> ExitCode:
    from cachediag import writes
    from cachediag.errors import UsageError
    from cachediag.purge.backup import read_header
    from cachediag.purge.run import restore_target
    from cachediag.render import purge as render

    targets = config_setup.targets
    if len(targets) != 1:
        raise UsageError("--restore FILE puts keys back on one target: name one target")
    target = targets[0]

    def run(apply: bool) -> dict[str, Any]:
        try:
            handle = path.open("rb")
        except OSError as exc:
            raise UsageError(f"--restore {path}: {exc.strerror or exc}") from None
        with handle:
            header = read_header(handle, str(path))
            if header.get("target") != target.name:
                err(f"{path} was taken from {header.get('target')}; restoring to {target.name}")
            return restore_target(target, config_setup.timeout, handle, str(path), replace, apply)

    def emit(rows: list[dict[str, Any]], mode: str, hint: str = "") -> None:
        if json_output:
            document = targets_document(
                PURGE_SCHEMA, rows, mode=mode, request={"restore": str(path), "replace": replace}
            )
            write_output(to_json(document) + "\n", None)
        else:
            write_output(render.render(rows, hint), None)

    if not yes:
        row = run(apply=False)
        restore = row.get("restore")
        if dry_run or not restore or not restore["records"]:
            emit(
                [row],
                "restore-dry-run",
                ""
                if json_output
                else "dry run: nothing was restored; run again with --yes to restore",
            )
            return _code([row])
        if not json_output:
            emit([row], "restore-dry-run")
        plan = writes.restore_plan(
            target, restore["records"] - restore["expired"], str(path), replace
        )
        writes.confirm(
            [plan],
            writes.Mode.ASK,
            what="the keyspace",
            out=out,
            ask=lambda question: typer.confirm(question, default=False, err=True),
        )
    row = run(apply=True)
    emit([row], "restore")
    return ExitCode.FAILED if (row.get("restore") or {}).get("failed") else _code([row])
