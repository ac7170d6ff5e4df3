"""`cachediag watch`: a live view like `redis-cli --stat`, every target side by side."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any

import typer

from cachediag.cli.common import cli_errors, setup, write_output
from cachediag.cli.exit_codes import ExitCode
from cachediag.cli.numbers import finite
from cachediag.cli.options import CommonOptions, target_options
from cachediag.cli.schema_option import json_schema_option
from cachediag.render.json_text import to_json

WATCH_SCHEMA = "cachediag.watch/v1"


@json_schema_option("watch")
@target_options
def watch(
    common: CommonOptions,
    interval: Annotated[
        float,
        typer.Option(
            "--interval",
            callback=finite,
            metavar="SECONDS",
            min=0.1,
            max=3600,
            help="Seconds between readings.",
        ),
    ] = 1.0,
    count: Annotated[
        int | None,
        typer.Option(
            "--count", metavar="N", min=1, help="Stop after N intervals (default: until Ctrl-C)."
        ),
    ] = None,
    json_output: Annotated[
        bool,
        typer.Option(
            "--json",
            help="One cachediag.watch/v1 JSON document per line: each interval, then the summary.",
        ),
    ] = False,
) -> None:
    """Watch ops/s, hit rate in the interval, memory, clients, evictions/s and expired/s live.

    Also, like redis-cli --stat: blocked clients, new connections per second, and the
    connections rejected in the interval (maxclients, memcached -c).

    On a terminal the table updates in place; piped, one line per interval with every
    target side by side. Ctrl-C (or --count) ends it with a summary (on stderr when
    piped, so stdout stays one line per interval). Memcached targets also show, when
    they move, writes refused for memory, connections rejected at the limit, connection
    yields and items gone before any read. Read-only: one INFO, or `stats` and `stats
    items`, per target and interval.

    Example: cachediag watch --redis redis://10.0.0.5:6379 --memcached 10.0.0.6:11211 --interval 2

    Exit 1 when a target never answered, 2 on bad input.
    """
    with cli_errors(common.debug):
        from cachediag.render import watch as render
        from cachediag.render.console import stdout_is_terminal
        from cachediag.server.watch import Poller, Totals

        config_setup = setup(common)
        pollers = [Poller(t, config_setup.timeout) for t in config_setup.targets]
        totals = {p.target.name: Totals() for p in pollers}
        live = stdout_is_terminal() and not json_output
        emit = _live_emitter if live else _line_emitter
        try:
            with ThreadPoolExecutor(max_workers=min(8, len(pollers) or 1)) as pool:
                emit(
                    lambda: list(pool.map(lambda p: p.poll(), pollers)),
                    totals,
                    interval,
                    count,
                    json_output,
                )
        except KeyboardInterrupt:
            pass  # Ctrl-C is how a watch ends: the summary follows
        finally:
            for poller in pollers:
                poller.close()
        summary = {name: t.to_dict() for name, t in totals.items()}
        if json_output:
            write_output(
                to_json(
                    {"schema": WATCH_SCHEMA, "type": "summary", "targets": summary}, indent=None
                )
                + "\n",
                None,
            )
        elif live:
            write_output(render.summary(summary), None)
        else:
            sys.stderr.write(render.summary(summary, terminal=False))
        never = any(t.intervals == 0 and t.errors for t in totals.values())
    raise typer.Exit(ExitCode.FAILED if never else ExitCode.OK)


def _rounds(
    poll_all: Callable[[], list[dict[str, Any]]],
    totals: dict[str, Any],
    interval: float,
    count: int | None,
) -> Any:
    """Yield each interval's rows on a fixed schedule; the first poll only primes the counters.

    Ctrl-C ends the rounds quietly: the caller then prints the summary.
    """
    try:
        yield poll_all()
        next_at = time.monotonic() + interval
        emitted = 0
        while count is None or emitted < count:
            time.sleep(max(0.0, next_at - time.monotonic()))
            next_at = max(next_at + interval, time.monotonic())
            rows = poll_all()
            for row in rows:
                totals[row["target"]].add(row, row.get("seconds", 0.0))
            emitted += 1
            yield rows
    except KeyboardInterrupt:
        return


def _line_emitter(
    poll_all: Callable[[], list[dict[str, Any]]],
    totals: dict[str, Any],
    interval: float,
    count: int | None,
    json_output: bool,
) -> None:
    from cachediag.render import watch as render
    from cachediag.render.units import utc_stamp

    for index, rows in enumerate(_rounds(poll_all, totals, interval, count)):
        if index == 0:
            continue  # priming: no rates yet
        if json_output:
            text = (
                to_json(
                    {
                        "schema": WATCH_SCHEMA,
                        "type": "interval",
                        "at": utc_stamp(),
                        "targets": rows,
                    },
                    indent=None,
                )
                + "\n"
            )
        else:
            text = render.line(rows, time.strftime("%H:%M:%S")) + "\n"
        sys.stdout.write(text)
        sys.stdout.flush()


def _live_emitter(
    poll_all: Callable[[], list[dict[str, Any]]],
    totals: dict[str, Any],
    interval: float,
    count: int | None,
    json_output: bool,
) -> None:
    from rich.console import Console
    from rich.live import Live

    from cachediag.render import watch as render

    console = Console(file=sys.stdout, highlight=False, markup=False, emoji=False)
    with Live(console=console, auto_refresh=False) as view:
        for rows in _rounds(poll_all, totals, interval, count):
            view.update(render.live_table(rows, time.strftime("%H:%M:%S")), refresh=True)
