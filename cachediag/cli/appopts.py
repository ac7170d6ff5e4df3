"""The options `check` and `diagnose` share: how the servers are read (the counters' window,
the key sample) and the application's side (its log, metrics, health)."""

from __future__ import annotations

from typing import Annotated

import typer

APP_PANEL = "Application"

AppLog = Annotated[
    list[str] | None,
    typer.Option(
        "--log",
        metavar="FILE",
        help="Application log to scan for cache errors and fallbacks "
        "(globs, .gz, - for stdin). Repeatable.",
        rich_help_panel=APP_PANEL,
    ),
]
MetricsUrl = Annotated[
    str | None,
    typer.Option(
        "--metrics-url",
        metavar="URL",
        help="The application's Prometheus metrics endpoint, e.g. http://app:9090/metrics.",
        rich_help_panel=APP_PANEL,
    ),
]
HealthUrl = Annotated[
    str | None,
    typer.Option(
        "--health-url",
        metavar="URL",
        help="The application's health endpoint, e.g. http://app:8080/health.",
        rich_help_panel=APP_PANEL,
    ),
]

Window = Annotated[
    float,
    typer.Option(
        "--window",
        metavar="SECONDS",
        min=0,
        max=3600,
        help="Read each Redis's counters twice, SECONDS apart, before the key sample: "
        "the hit rate (and rejected connections) of now, not since boot "
        "(0: since boot only).",
    ),
]
SampleKeys = Annotated[
    int,
    typer.Option(
        "--sample-keys",
        min=0,
        max=1_000_000,
        help="Keys sampled per target (SCAN, never KEYS; 0: no sample).",
    ),
]
