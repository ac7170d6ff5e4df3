"""`cachediag latency`: round-trip latency like `redis-cli --latency`, in microseconds."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cachediag.cli.common import cli_errors, setup, targets_document, write_output
from cachediag.cli.exit_codes import ExitCode
from cachediag.cli.numbers import finite
from cachediag.cli.options import CommonOptions, target_options
from cachediag.cli.schema_option import json_schema_option
from cachediag.render.json_text import to_json

if TYPE_CHECKING:
    from cachediag.server.latency import TargetLatency

LATENCY_SCHEMA = "cachediag.latency/v1"
# Not on a terminal and with no bound given, a run must still end: about 5 s at 10 ms.
DEFAULT_PIPED_SAMPLES = 500


@json_schema_option("latency")
@target_options
def latency(
    common: CommonOptions,
    interval: Annotated[
        int,
        typer.Option(
            "--interval", metavar="MS", min=0, help="Milliseconds to wait between samples."
        ),
    ] = 10,
    samples: Annotated[
        int | None,
        typer.Option("--samples", metavar="N", min=1, help="Stop after N samples per target."),
    ] = None,
    duration: Annotated[
        float | None,
        typer.Option(
            "--duration",
            callback=finite,
            metavar="SECONDS",
            min=0.01,
            max=86400,
            help="Stop after this many seconds.",
        ),
    ] = None,
    history: Annotated[
        float | None,
        typer.Option(
            "--history",
            callback=finite,
            metavar="SECONDS",
            min=0.1,
            max=86400,
            help="One row per window of SECONDS, with its timestamp (like --latency-history); "
            "without --samples or --duration it runs until Ctrl-C.",
        ),
    ] = None,
    dist: Annotated[
        bool, typer.Option("--dist", help="Draw a histogram of the round trips.")
    ] = False,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print a cachediag.latency/v1 JSON document.")
    ] = False,
) -> None:
    """Measure round trips (Redis PING, Memcached mn) with microsecond resolution.

    On a terminal the figures update live until Ctrl-C; piped, or with --samples or
    --duration, one final report is printed (piped with no bound: 500 samples).
    Connect time (TCP, TLS, AUTH) is reported apart from the round trips.
    Verdict (the guide's): under 1 ms good, over 10 ms slow network, over 100 ms degraded;
    Redis: SLOWLOG and LATENCY LATEST are read around the round trips, and slow round
    trips while Redis ran slow commands are "server stalls", naming the commands.

    Example: cachediag latency --redis redis://10.0.0.5:6379 --samples 1000 --dist

    Exit 1 when a target is down or degraded, 2 on bad input.
    """
    code = ExitCode.OK
    with cli_errors(common.debug):
        from cachediag.checks.judge import Judge
        from cachediag.cli.exit_codes import exit_code
        from cachediag.render import latency as render
        from cachediag.render.console import stdout_is_terminal
        from cachediag.server import latency as core

        config_setup = setup(common)
        judge = Judge.load(config_setup.config.thresholds)
        limits = {
            kind: (
                int(judge.limit(f"{kind}.latency", "warn_p99_us", 10_000)),
                int(judge.limit(f"{kind}.latency", "fail_p99_us", 100_000)),
            )
            for kind in ("redis", "memcached")
        }
        states = core.open_all(config_setup.targets, config_setup.timeout)
        live = stdout_is_terminal() and not json_output and samples is None and duration is None
        if not live and samples is None and duration is None and history is None:
            samples = DEFAULT_PIPED_SAMPLES

        def print_window(rows: list[dict[str, Any]]) -> None:
            sys.stdout.write("".join(render.history_line(row) + "\n" for row in rows))
            sys.stdout.flush()

        bounds: dict[str, Any] = {
            "interval_s": interval / 1000,
            "max_samples": samples,
            "duration_s": duration,
            "history_s": history,
        }
        try:
            if live:
                _measure_live(states, bounds)
            else:
                core.measure(states, **bounds, on_window=None if json_output else print_window)
        except KeyboardInterrupt:
            pass  # Ctrl-C ends the measurement; the report of what was measured follows
        shown = [len(state.history) for state in states]
        core.read_stalls(states)
        rows = core.finish(states, history_s=history, dist=dist, limits=limits)
        if history and not json_output:
            # The last, partial window closes at the end: it gets its row like the others.
            print_window(
                [e for state, n in zip(states, shown, strict=True) for e in state.history[n:]]
            )
        if json_output:
            document = targets_document(LATENCY_SCHEMA, rows, interval_ms=interval)
            write_output(to_json(document) + "\n", None)
        else:
            write_output(render.report(rows, dist=dist), None)
        code = exit_code(rows, [row["verdict"]["status"] for row in rows if row.get("verdict")])
    raise typer.Exit(code)


def _measure_live(states: list[TargetLatency], bounds: dict[str, Any]) -> None:
    """Redraw the figures in place on the terminal; window rows scroll above them."""
    from rich.console import Console
    from rich.live import Live

    from cachediag.render import latency as render
    from cachediag.server import latency as core

    console = Console(file=sys.stdout, highlight=False, markup=False, emoji=False)
    with Live(
        render.live_table(states), console=console, refresh_per_second=8, transient=True
    ) as view:

        def tick() -> None:
            view.update(render.live_table(states))

        def window(rows: list[dict[str, Any]]) -> None:
            for row in rows:
                view.console.print(render.history_line(row))

        core.measure(states, **bounds, on_tick=tick, on_window=window)
