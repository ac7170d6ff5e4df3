"""`cachediag eviction-policy`: show maxmemory and the policy with a verdict; --set changes them."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Annotated, Any

import typer

from cachediag.cli.common import cli_errors, setup, targets_document, write_output
from cachediag.cli.exit_codes import ExitCode
from cachediag.cli.options import CommonOptions, target_options
from cachediag.cli.schema_option import json_schema_option
from cachediag.render.json_text import to_json

EVICTION_SCHEMA = "cachediag.eviction-policy/v1"


@json_schema_option("eviction-policy")
@target_options
def eviction_policy(
    common: CommonOptions,
    set_policy: Annotated[
        str | None,
        typer.Option(
            "--set", metavar="POLICY", help="Change maxmemory-policy (Redis), e.g. allkeys-lru."
        ),
    ] = None,
    maxmemory: Annotated[
        str | None,
        typer.Option(
            "--maxmemory",
            metavar="SIZE",
            help="With --set: also change maxmemory (2gb, 512mb, 100000000; 0 = no limit).",
        ),
    ] = None,
    rewrite: Annotated[
        bool, typer.Option("--rewrite", help="With --set: persist with CONFIG REWRITE.")
    ] = False,
    yes: Annotated[
        bool,
        typer.Option(
            "--yes",
            "-y",
            help="With --set: apply without asking (required when not on a terminal).",
        ),
    ] = False,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print a cachediag.eviction-policy/v1 JSON document.")
    ] = False,
) -> None:
    """Show maxmemory and the eviction policy, with the verdict of `check` and the fix.

    With --set POLICY (Redis): validate it, show the change, ask (or --yes), CONFIG SET,
    read it back, and with --rewrite persist it. Memcached cannot change its eviction
    mode at runtime (its limit only, with cache_memlimit): the restart flags (-m, -M)
    are shown instead.

    Examples: cachediag eviction-policy --redis redis://10.0.0.5:6379
              cachediag eviction-policy --set allkeys-lru --maxmemory 2gb --rewrite

    Exit 1 when a target is down, a verdict fails, or a change could not be applied and
    verified; 2 on bad input or when a change was not confirmed.
    """
    with cli_errors(common.debug):
        from cachediag.checks.judge import Judge
        from cachediag.cli.exit_codes import exit_code
        from cachediag.errors import UsageError
        from cachediag.probes.fanout import per_target
        from cachediag.probes.rows import unexpected_row
        from cachediag.render import eviction_policy as render
        from cachediag.server import eviction

        if (maxmemory is not None or rewrite) and set_policy is None:
            raise UsageError("--maxmemory and --rewrite go with --set POLICY")
        policy = eviction.validate_policy(set_policy) if set_policy is not None else None
        size = eviction.parse_size(maxmemory) if maxmemory is not None else None
        config_setup = setup(common)
        from cachediag.backends import backend_for

        if policy is not None and not any(
            backend_for(t).runtime_eviction_settings for t in config_setup.targets
        ):
            raise UsageError(
                "--set changes Redis only: Memcached cannot change its eviction mode at "
                "runtime; restart it with -m MEGABYTES and without -M (cache_memlimit MB "
                "raises its limit without a restart)"
            )
        judge = Judge.load(config_setup.config.thresholds)
        timeout = config_setup.timeout
        rows = per_target(
            config_setup.targets,
            lambda t: eviction.read(t, timeout, judge),
            on_error=unexpected_row,
        )
        if policy is None:
            statuses = [v["status"] for row in rows for v in row.get("verdicts") or []]
            code = exit_code(rows, statuses)
        else:
            code = _set(
                rows,
                config_setup.targets,
                policy,
                size,
                rewrite,
                yes,
                json_output,
                lambda t: eviction.read(t, timeout, judge),
                timeout,
            )
        if json_output:
            document = targets_document(EVICTION_SCHEMA, rows)
            if policy is not None:
                document["set"] = {"policy": policy, "maxmemory": size, "rewrite": rewrite}
            write_output(to_json(document) + "\n", None)
        else:
            write_output(render.render(rows), None)
    raise typer.Exit(code)


def _set(
    rows: list[dict[str, Any]],
    targets: list[Any],
    policy: str,
    size: int | None,
    rewrite: bool,
    yes: bool,
    json_output: bool,
    reread: Callable[[Any], dict[str, Any]],
    timeout: float,
) -> ExitCode:
    """Plan, confirm, apply, verify (cachediag.writes); returns the exit code. Nothing is
    written unconfirmed."""
    from cachediag import writes
    from cachediag.server import eviction

    plans, failed = eviction.plan_writes(rows, targets, policy, size, rewrite)
    if not plans:
        return ExitCode.FAILED if failed else ExitCode.OK
    writes.confirm(
        plans,
        writes.Mode.YES if yes else writes.Mode.ASK,
        what="the eviction settings",
        # The plan goes where the user reads it: stderr when stdout carries JSON.
        out=sys.stderr if json_output else sys.stdout,
        ask=lambda question: typer.confirm(question, default=False, err=True),
    )
    outcomes = writes.apply_all(plans, timeout)
    failed = eviction.record_outcomes(rows, outcomes, reread) or failed
    return ExitCode.FAILED if failed else ExitCode.OK
