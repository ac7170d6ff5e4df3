"""The application-side options `check` and `diagnose` share: its log, metrics, health."""

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
