"""The Typer app. Each command: options -> core -> renderer -> exit code.

Commands import their core lazily so that `cachediag --help` stays fast and loads
neither redis, hiredis nor psutil.
"""

from __future__ import annotations

from typing import Annotated

import typer

from cachediag import __version__
from cachediag.commands.bigkeys import bigkeys
from cachediag.commands.check import check
from cachediag.commands.eviction_policy import eviction_policy
from cachediag.commands.inspect import inspect
from cachediag.commands.latency import latency
from cachediag.commands.logs import logs
from cachediag.commands.memory import memory
from cachediag.commands.ping import ping
from cachediag.commands.ttl import ttl
from cachediag.commands.watch import watch

app = typer.Typer(
    name="cachediag",
    help="Troubleshoot Redis and Memcached caches: the cache-kit production checklist, executable.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"cachediag {__version__}")
        raise typer.Exit(0)


@app.callback()
def main_options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """Troubleshoot Redis and Memcached caches: the cache-kit production checklist, executable."""


app.command("check")(check)
app.command("ping")(ping)
app.command("latency")(latency)
app.command("memory")(memory)
app.command("ttl")(ttl)
app.command("eviction-policy")(eviction_policy)
app.command("watch")(watch)
app.command("bigkeys")(bigkeys)
app.command("inspect")(inspect)
app.command("logs")(logs)


def main() -> None:
    from cachediag import masking

    masking.install()
    app()
