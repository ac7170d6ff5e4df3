"""`cachediag check`: the whole production checklist, one verdict per item and target."""

from __future__ import annotations

import importlib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cachediag.cli.appopts import AppLog, HealthUrl, MetricsUrl, SampleKeys, Window
from cachediag.cli.common import cli_errors, log_paths, setup, write_output
from cachediag.cli.options import CommonOptions, target_options
from cachediag.cli.schema_option import json_schema_option
from cachediag.errors import CachediagError
from cachediag.render.json_text import to_json

CHECKLIST_SCHEMA = "cachediag.checklist/v1"

if TYPE_CHECKING:
    from cachediag.checks.checklist import Checklist
    from cachediag.checks.evaluate import Report


class Format(str, Enum):
    table = "table"
    json = "json"
    markdown = "markdown"
    junit = "junit"
    nagios = "nagios"
    prometheus = "prometheus"


# --format -> the renderer module; each has render(report) -> str (a test checks every choice maps).
RENDERERS: dict[Format, str] = {
    Format.table: "cachediag.render.table",
    Format.json: "cachediag.render.json_format",
    Format.markdown: "cachediag.render.markdown",
    Format.junit: "cachediag.render.junit",
    Format.nagios: "cachediag.render.nagios",
    Format.prometheus: "cachediag.render.prometheus",
}


class FailOn(str, Enum):
    fail = "fail"
    warn = "warn"


def _split(values: list[str] | None) -> list[str]:
    return [part.strip() for value in values or [] for part in value.split(",") if part.strip()]


@json_schema_option("check", of="--format json", variants={"list_checks": ("--list", "checklist")})
@target_options
def check(
    common: CommonOptions,
    format: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
    json_output: Annotated[bool, typer.Option("--json", help="Same as --format json.")] = False,
    output: Annotated[
        str | None,
        typer.Option(
            "--output", "-o", metavar="FILE", help="Write the report to FILE instead of stdout."
        ),
    ] = None,
    fail_on: Annotated[
        FailOn, typer.Option("--fail-on", help="Exit 1 on fail (default) or also on warn.")
    ] = FailOn.fail,
    checklist: Annotated[
        Path | None, typer.Option("--checklist", metavar="FILE", help="Run another checklist TOML.")
    ] = None,
    only: Annotated[
        list[str] | None,
        typer.Option(
            "--only",
            metavar="ID",
            help="Run only these check ids, globs (redis.*) or sections. Repeatable.",
        ),
    ] = None,
    skip: Annotated[
        list[str] | None,
        typer.Option(
            "--skip", metavar="ID", help="Leave out these check ids, globs or sections. Repeatable."
        ),
    ] = None,
    sample_keys: SampleKeys = 1000,
    window: Window = 2.0,
    list_checks: Annotated[
        bool,
        typer.Option(
            "--list", help="List every check with its section, thresholds and remedy, then exit."
        ),
    ] = False,
    log: AppLog = None,
    metrics_url: MetricsUrl = None,
    health_url: HealthUrl = None,
    from_bundle: Annotated[
        str | None,
        typer.Option(
            "--from",
            metavar="BUNDLE",
            help="Judge the facts in a `cachediag gather` bundle (.tar.gz or its folder) "
            "offline instead of probing.",
        ),
    ] = None,
) -> None:
    """Run the production troubleshooting checklist against Redis, Memcached and this host.

    Read-only: nothing is written to any server, and keys are sampled with a bounded SCAN.
    Redis counters are read twice, --window seconds apart (default 2), so the hit rate is
    today's; with no lookups in the window it falls back to the rate since boot, and says so.

    Examples: cachediag check 10.0.0.5:6379 10.0.0.6:11211
              cachediag check -h 10.0.0.5 -p 6380 -a secret
              cachediag check --redis redis://:secret@10.0.0.5:6379/0 -f json

    Offline: cachediag check --from BUNDLE judges the facts a `cachediag gather` bundle holds
    (newer rules, other thresholds, any format); nothing is probed.

    Exit codes: 0 no fail or error, 1 a check failed (or warned, with --fail-on warn),
    2 usage or configuration error, 3 no fail but a check could not run.
    With --format nagios: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
    """
    chosen = Format.json if json_output else format
    with cli_errors(common.debug), _nagios_unknown(chosen, output):
        from cachediag.checks import checklist as checklists
        from cachediag.checks.evaluate import evaluate
        from cachediag.probes.collect import collect_facts

        started = time.monotonic()
        config_setup = setup(common)
        loaded = checklists.load_checklist(checklist)
        loaded = checklists.with_overrides(loaded, config_setup.config.thresholds)
        loaded = checklists.select(
            loaded, _split(only), _split(skip), list(config_setup.config.disabled)
        )
        if list_checks:
            write_output(_render_list(loaded, chosen), output)
            return
        if from_bundle is not None:
            report = _offline_report(
                from_bundle, common, loaded, fail_on, log, metrics_url, health_url
            )
            write_output(render_report(report, chosen, terminal=False if output else None), output)
            raise typer.Exit(_exit_code(report, chosen))
        wants_kinds = {spec.kind for spec in loaded.checks}
        # Host checks judge local Redis settings (kernel, disk of its dir, jitter), so
        # selecting them still probes the targets; otherwise only the kinds asked for.
        # app.schema_change reads the targets' value samples: it needs them probed too.
        every_target = "host" in wants_kinds or "app.schema_change" in loaded.ids
        targets = [t for t in config_setup.targets if t.kind in wants_kinds or every_target]
        app_sources = None
        if "app" in wants_kinds:
            from cachediag.probes.app import sources_from

            config = config_setup.config
            app_sources = sources_from(
                log_paths(log), metrics_url, health_url, config.extra, config.path
            )
        facts = collect_facts(
            targets,
            config_setup.timeout,
            sample_keys,
            host="host" in wants_kinds,
            app=app_sources,
            entities=config_setup.config.entities,
            window=_window_needed(loaded, window),
            since=config_setup.started,
        )
        report = evaluate(
            loaded,
            facts,
            fail_on_warn=fail_on is FailOn.warn,
            duration_ms=int((time.monotonic() - started) * 1000),
        )
        write_output(render_report(report, chosen, terminal=False if output else None), output)
        code = _exit_code(report, chosen)
    raise typer.Exit(code)


def _exit_code(report: Report, chosen: Format) -> int:
    if chosen is Format.nagios:
        from cachediag.render import nagios

        return nagios.exit_code(report)
    return report.exit_code


def _offline_report(
    bundle: str,
    common: CommonOptions,
    loaded: Checklist,
    fail_on: FailOn,
    *live: object,
) -> Report:
    """check --from BUNDLE: the checklist on the bundle's facts; nothing is probed."""
    from cachediag.bundle.offline import checked_facts, evaluate_offline

    if common.redis or common.memcached or any(live):
        raise CachediagError(
            "--from judges the facts in a bundle: --redis, --memcached, --log, "
            "--metrics-url and --health-url cannot be used with it"
        )
    from cachediag.cli.common import err

    facts, warnings = checked_facts(bundle)
    for warning in warnings:
        err(warning)
    return evaluate_offline(loaded, facts, fail_on_warn=fail_on is FailOn.warn)


def _window_needed(loaded: Checklist, window: float) -> float:
    """The window, when a selected check judges over it; else 0, and no wait."""
    from cachediag.checks.base import WINDOWED

    return window if any(spec.id in WINDOWED for spec in loaded.checks) else 0.0


@contextmanager
def _nagios_unknown(chosen: Format, output: str | None) -> Iterator[None]:
    """Under --format nagios a usage or config error is UNKNOWN (3), said on stdout too.

    A monitoring system reads the plugin's stdout and exit code: exit 2 would page
    someone with CRITICAL for a typo in the check's own command line.
    """
    try:
        yield
    except CachediagError as exc:
        if chosen is not Format.nagios:
            raise
        from cachediag.safety.secrets import mask_secrets
        from cachediag.safety.textsafe import safe_text

        line = safe_text(mask_secrets(str(exc))).replace("|", "/")
        write_output(f"CACHEDIAG UNKNOWN - {line}\n", output)
        from cachediag.render.nagios import UNKNOWN

        exc.exit_code = UNKNOWN
        raise


def _render_list(loaded: Checklist, chosen: Format) -> str:
    if chosen is Format.json:
        checks = [
            {
                "id": spec.id,
                "section": spec.section,
                "item": spec.item,
                "thresholds": spec.thresholds,
                "remedy": spec.remedy,
                "remedies": spec.remedies,
                "ref": spec.ref,
            }
            for spec in loaded.checks
        ]
        document = {
            "schema": CHECKLIST_SCHEMA,
            "checklist": loaded.title,
            "source": loaded.source,
            "checks": checks,
        }
        return to_json(document) + "\n"
    from cachediag.render import checklist_list

    return checklist_list.render(loaded)


def render_report(report: Report, chosen: Format, terminal: bool | None = None) -> str:
    module = importlib.import_module(RENDERERS[chosen])
    if chosen is Format.table:
        return str(module.render(report, terminal=terminal))
    return str(module.render(report))
