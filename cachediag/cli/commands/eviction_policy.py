"""`cachediag eviction-policy`: show maxmemory and the policy with a verdict; --set changes them."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Annotated, Any

import typer

from cachediag.cli.common import cli_errors, setup, targets_document, write_output
from cachediag.cli.options import CommonOptions, target_options

EVICTION_SCHEMA = "cachediag.eviction-policy/v1"


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
    read it back, and with --rewrite persist it. Memcached cannot change its limit or
    eviction mode at runtime: the restart flags (-m, -M) are shown instead.

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
                "--set changes Redis only: Memcached cannot change its memory limit or "
                "eviction mode at runtime; "
                "restart it with -m MEGABYTES and without -M"
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
            write_output(json.dumps(document, indent=2) + "\n", None)
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
) -> int:
    """Plan, confirm, apply, verify; returns the exit code. Nothing is written unconfirmed."""
    from cachediag.errors import UsageError
    from cachediag.render import eviction_policy as render
    from cachediag.server import eviction

    by_name = {t.name: t for t in targets}
    planned: list[tuple[str, list[dict[str, Any]]]] = []
    failed = False
    from cachediag.backends import backend_for

    for row in rows:
        if not backend_for(row["kind"]).runtime_eviction_settings:
            continue
        if row["status"] != "up":
            failed = True
            continue
        if not row.get("config_available"):
            row["outcome"] = {
                "changes": [],
                "verified": False,
                "error": "CONFIG is unavailable to this user: nothing can be changed here",
            }
            failed = True
            continue
        changes = eviction.plan(row, policy, size)
        if changes or rewrite:
            planned.append((row["target"], changes))
        else:
            row["outcome"] = {"changes": [], "verified": True, "rewrite": None, "error": None}
    if not planned:
        return 1 if failed else 0
    # The plan goes where the user reads it: stderr when stdout carries JSON.
    stream = sys.stderr if json_output else sys.stdout
    stream.write(render.plan_text(planned, rewrite))
    stream.flush()
    if not yes:
        if not sys.stdin.isatty():
            raise UsageError(
                "refusing to change the eviction settings without confirmation: "
                "not on a terminal; run again with --yes to apply"
            )
        if not typer.confirm("Apply these changes?", default=False, err=True):
            raise UsageError("not confirmed: nothing was changed")
    from cachediag.probes.fanout import per_target

    names = [name for name, _ in planned]
    outcomes = per_target(
        [by_name[n] for n in names],
        lambda t: eviction.apply(t, timeout, dict(planned)[t.name], rewrite),
    )
    for index, row in enumerate(rows):
        if row["target"] in names:
            outcome = outcomes[names.index(row["target"])]
            failed = failed or bool(outcome["error"])
            # Show the settings as they are now, judged again, beside what was done.
            fresh = reread(by_name[row["target"]])
            rows[index] = {**(fresh if fresh["status"] == "up" else row), "outcome": outcome}
    return 1 if failed else 0
