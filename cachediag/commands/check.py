"""`cachediag check`: the whole production checklist, one verdict per item and target."""

from __future__ import annotations

import time
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from cachediag.commands.common import cli_errors, setup, write_output
from cachediag.options import CommonOptions, target_options


class Format(str, Enum):
    table = "table"
    json = "json"


class FailOn(str, Enum):
    fail = "fail"
    warn = "warn"


def _split(values: list[str] | None) -> list[str]:
    return [part.strip() for value in values or [] for part in value.split(",") if part.strip()]


@target_options
def check(
    common: CommonOptions,
    format: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
    json_output: Annotated[bool, typer.Option("--json", help="Same as --format json.")] = False,
    output: Annotated[str | None, typer.Option("--output", "-o", metavar="FILE", help="Write the report to FILE instead of stdout.")] = None,
    fail_on: Annotated[FailOn, typer.Option("--fail-on", help="Exit 1 on fail (default) or also on warn.")] = FailOn.fail,
    checklist: Annotated[Path | None, typer.Option("--checklist", metavar="FILE", help="Run another checklist TOML.")] = None,
    only: Annotated[list[str] | None, typer.Option("--only", metavar="ID", help="Run only these check ids, globs (redis.*) or sections. Repeatable.")] = None,
    skip: Annotated[list[str] | None, typer.Option("--skip", metavar="ID", help="Leave out these check ids, globs or sections. Repeatable.")] = None,
    sample_keys: Annotated[int, typer.Option("--sample-keys", min=0, help="Keys sampled per target (SCAN, never KEYS).")] = 1000,
    list_checks: Annotated[bool, typer.Option("--list", help="List every check with its section, thresholds and remedy, then exit.")] = False,
) -> None:
    """Run the production troubleshooting checklist against Redis, Memcached and this host.

    Read-only: nothing is written to any server, and keys are sampled with a bounded SCAN.

    Example: cachediag check --redis redis://:secret@10.0.0.5:6379/0 --memcached 10.0.0.6:11211

    Exit codes: 0 no fail or error, 1 a check failed (or warned, with --fail-on warn),
    2 usage or configuration error, 3 no fail but a check could not run.
    """
    with cli_errors(common.debug):
        from cachediag import checklist as checklists
        from cachediag.collect import collect_facts
        from cachediag.report import evaluate

        started = time.monotonic()
        config_setup = setup(common)
        loaded = checklists.load_checklist(checklist)
        loaded = checklists.with_overrides(loaded, config_setup.config.thresholds)
        loaded = checklists.select(loaded, _split(only), _split(skip), list(config_setup.config.disabled))
        if list_checks:
            from cachediag.render import checklist_list

            write_output(checklist_list.render(loaded), output)
            return
        wants_kinds = {spec.kind for spec in loaded.checks}
        targets = [t for t in config_setup.targets if t.kind in wants_kinds]
        facts = collect_facts(targets, config_setup.timeout, sample_keys, host="host" in wants_kinds)
        report = evaluate(
            loaded,
            facts,
            fail_on_warn=fail_on is FailOn.warn,
            duration_ms=int((time.monotonic() - started) * 1000),
        )
        chosen = Format.json if json_output else format
        if chosen is Format.json:
            from cachediag.render import json_format

            text = json_format.render(report)
        else:
            from cachediag.render import table

            text = table.render(report, terminal=False if output else None)
        write_output(text, output)
    raise typer.Exit(report.exit_code)
