"""`cachediag diagnose [SYMPTOM]`: from a symptom to its ranked causes, with the evidence."""

from __future__ import annotations

import time
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from cachediag.cli.appopts import APP_PANEL, AppLog, HealthUrl, MetricsUrl, SampleKeys, Window
from cachediag.cli.common import cli_errors, log_paths, setup, write_output
from cachediag.cli.options import CommonOptions, target_options
from cachediag.cli.schema_option import json_schema_option
from cachediag.errors import CachediagError

_OFFLINE = "Offline"


class Symptom(str, Enum):
    low_hit_rate = "low-hit-rate"
    timeouts = "timeouts"
    memory = "memory"
    serialization = "serialization"


class Format(str, Enum):
    table = "table"
    json = "json"
    markdown = "markdown"


@json_schema_option("diagnose", of="--format json")
@target_options
def diagnose(
    common: CommonOptions,
    symptom: Annotated[
        Symptom | None,
        typer.Argument(
            help="The guide's Issue: low-hit-rate, timeouts, memory or serialization "
            "(none: every symptom whose signal is present)."
        ),
    ] = None,
    format: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
    json_output: Annotated[bool, typer.Option("--json", help="Same as --format json.")] = False,
    output: Annotated[
        str | None,
        typer.Option("--output", "-o", metavar="FILE", help="Write the diagnosis to FILE."),
    ] = None,
    window: Window = 2.0,
    sample_keys: SampleKeys = 1000,
    weights: Annotated[
        Path | None,
        typer.Option(
            "--weights", metavar="FILE", help="Another diagnoses TOML (causes and weights)."
        ),
    ] = None,
    log: AppLog = None,
    metrics_url: MetricsUrl = None,
    health_url: HealthUrl = None,
    app_timeout: Annotated[
        float | None,
        typer.Option(
            "--app-timeout",
            metavar="MS",
            min=0.001,
            help="The application's cache timeout in milliseconds: judged against the p99.",
            rich_help_panel=APP_PANEL,
        ),
    ] = None,
    facts_file: Annotated[
        Path | None,
        typer.Option(
            "--facts",
            metavar="FILE",
            help="Diagnose a cachediag.facts/v1 document (from --save-facts) instead of "
            "probing: offline, same result.",
            rich_help_panel=_OFFLINE,
        ),
    ] = None,
    from_bundle: Annotated[
        str | None,
        typer.Option(
            "--from",
            metavar="BUNDLE",
            help="Diagnose the facts in a `cachediag gather` bundle (.tar.gz or its folder) "
            "instead of probing: offline, same result.",
            rich_help_panel=_OFFLINE,
        ),
    ] = None,
    save_facts: Annotated[
        str | None,
        typer.Option(
            "--save-facts",
            metavar="FILE",
            help="Also write the facts collected (cachediag.facts/v1) to FILE.",
            rich_help_panel=_OFFLINE,
        ),
    ] = None,
) -> None:
    """Diagnose a symptom: the guide's possible causes, ranked, each with its evidence.

    For each cause: a verdict (likely, possible, unknown, ruled out), the evidence for and
    against it read from the servers' counters over --window seconds, the key sample,
    config, SLOWLOG, the application's log and metrics; the evidence still missing with
    the flag or command that gets it; and the guide's fix. Read-only.

    Example: cachediag diagnose low-hit-rate --redis redis://10.0.0.5:6379 --log app.log

    Exit codes: 0 no likely cause, 1 a likely cause found, 2 usage error,
    3 no likely cause and a target could not be read.
    """
    chosen = Format.json if json_output else format
    with cli_errors(common.debug):
        from cachediag.diagnose import sources
        from cachediag.diagnose.engine import diagnose as run_diagnosis
        from cachediag.diagnose.weights import load_weights, with_params
        from cachediag.render import diagnose as render
        from cachediag.render.json_text import to_json

        started = time.monotonic()
        loaded = load_weights(weights)
        if app_timeout is not None:
            loaded = with_params(
                loaded, "timeouts.timeout-too-aggressive", app_timeout_ms=app_timeout
            )
        offline = "--from" if from_bundle is not None else "--facts"
        if facts_file is not None and from_bundle is not None:
            raise CachediagError("--facts and --from are two offline sources: give one")
        if facts_file is not None or from_bundle is not None:
            live_only = [
                flag
                for flag, given in (
                    ("--redis", common.redis),
                    ("--memcached", common.memcached),
                    ("--log", log),
                    ("--metrics-url", metrics_url),
                    ("--health-url", health_url),
                    ("--save-facts", save_facts),
                )
                if given
            ]
            if live_only:
                raise CachediagError(
                    f"{offline} diagnoses saved facts; {', '.join(live_only)} "
                    "would only be read by a live run"
                )
            if from_bundle is not None:
                from cachediag.bundle.read import load_facts

                facts = sources.check_facts(load_facts(from_bundle), from_bundle)
                source = "bundle"
            else:
                assert facts_file is not None
                facts = sources.read_facts_file(facts_file)
                source = "facts file"
        else:
            from cachediag.probes.app import sources_from

            config_setup = setup(common)
            config = config_setup.config
            app = sources_from(log_paths(log), metrics_url, health_url, config.extra, config.path)
            facts = sources.live_facts(
                config_setup.targets,
                config_setup.timeout,
                sample_keys,
                window,
                app,
                config.entities,
            )
            source = "live"
            if save_facts:
                write_output(to_json(facts) + "\n", save_facts)
        diagnosis = run_diagnosis(
            facts,
            loaded,
            symptom.value if symptom else None,
            duration_ms=int((time.monotonic() - started) * 1000),
            source=source,
        )
        if chosen is Format.json:
            text = render.render_json(diagnosis)
        elif chosen is Format.markdown:
            text = render.render_markdown(diagnosis)
        else:
            text = render.render_table(diagnosis, terminal=False if output else None)
        write_output(text, output)
        code = diagnosis.exit_code
    raise typer.Exit(code)
