"""The Typer app. Each command: options -> core -> renderer -> exit code.

Commands import their core lazily so that `cachediag --help` stays fast and loads
neither redis, hiredis nor psutil. `main` builds the app with only the command being
run: Typer prepares every registered command's parameters before it parses anything,
and a monitor running `cachediag ping` every minute should not pay for nine others.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Annotated, Any, NoReturn

import typer

from cachediag import __version__
from cachediag.cli.exit_codes import ExitCode
from cachediag.cli.helptext import reflow

# command name -> (module, function); the order is the order of `cachediag --help`.
COMMANDS: dict[str, tuple[str, str]] = {
    "check": ("cachediag.cli.commands.check", "check"),
    "ping": ("cachediag.cli.commands.ping", "ping"),
    "latency": ("cachediag.cli.commands.latency", "latency"),
    "memory": ("cachediag.cli.commands.memory", "memory"),
    "ttl": ("cachediag.cli.commands.ttl", "ttl"),
    "eviction-policy": ("cachediag.cli.commands.eviction_policy", "eviction_policy"),
    "watch": ("cachediag.cli.commands.watch", "watch"),
    "bigkeys": ("cachediag.cli.commands.bigkeys", "bigkeys"),
    "inspect": ("cachediag.cli.commands.inspect", "inspect"),
    "logs": ("cachediag.cli.commands.logs", "logs"),
    "gather": ("cachediag.cli.commands.gather", "gather"),
    "verify": ("cachediag.cli.commands.verify", "verify"),
    "ring": ("cachediag.cli.commands.ring", "ring"),
    "demo": ("cachediag.cli.commands.demo", "demo"),
    "diagnose": ("cachediag.cli.commands.diagnose", "diagnose"),
    "purge": ("cachediag.cli.commands.purge", "purge"),
}

# On a command that talks to Redis, -h is the host, as in redis-cli (`cachediag ping -h
# 10.0.0.5 -p 6380`), and help is --help alone. `cachediag -h` (no command yet) and
# `logs`, `verify` and `demo`, which talk to no server of yours, keep -h as help.
HELP_IS_H = {"logs", "verify", "demo"}

HELP = "Troubleshoot Redis and Memcached caches: the cache-kit production checklist, executable."


def _version(value: bool) -> None:
    if value:
        typer.echo(f"cachediag {__version__}")
        raise typer.Exit(ExitCode.OK)


def _man(value: bool) -> None:
    if value:
        from cachediag.cli.man import man_page

        # Past the masking stream: the page is cachediag's own help, no server's text,
        # and its examples' `redis://:secret@…` must read as written.
        stream = sys.__stdout__ or sys.stdout
        stream.write(man_page(build_app()))
        stream.flush()
        raise typer.Exit(ExitCode.OK)


def main_options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
    man: Annotated[
        bool,
        typer.Option(
            "--man",
            callback=_man,
            is_eager=True,
            help="Print the man page, cachediag(1), in roff (man -l - reads it), and exit.",
        ),
    ] = False,
) -> None:
    """Troubleshoot Redis and Memcached caches: the cache-kit production checklist, executable."""


class _HelpCommand(typer.core.TyperCommand):
    def format_help(self, ctx: Any, formatter: Any) -> None:
        from cachediag.safety.masking import own_help

        with own_help():  # cachediag's own text: nothing in it to mask
            super().format_help(ctx, formatter)


class _HelpGroup(typer.core.TyperGroup):
    def format_help(self, ctx: Any, formatter: Any) -> None:
        from cachediag.safety.masking import own_help

        with own_help():
            super().format_help(ctx, formatter)


def build_app(only: str | None = None) -> typer.Typer:
    """The app with every command, or with just `only` (same names, options and help)."""
    app = typer.Typer(
        cls=_HelpGroup,
        name="cachediag",
        help=HELP,
        no_args_is_help=True,
        add_completion=True,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    app.callback()(main_options)
    from cachediag.cli.version_option import with_version

    for name, (module, function) in COMMANDS.items():
        if only in (None, name):
            settings = None if name in HELP_IS_H else {"help_option_names": ["--help"]}
            fn = with_version(getattr(importlib.import_module(module), function))
            command = app.command(
                name, cls=_HelpCommand, context_settings=settings, help=reflow(fn.__doc__)
            )
            command(fn)
    return app


def __getattr__(name: str) -> Any:
    # `from cachediag.cli.app import app` (tests, docs tooling) gets the whole app.
    if name == "app":
        return build_app()
    raise AttributeError(name)


def main() -> NoReturn:
    from cachediag.safety import masking

    masking.install()
    wanted = sys.argv[1] if len(sys.argv) > 1 else None
    hint_h = wanted not in HELP_IS_H and not _wants_nagios(sys.argv[2:])  # nagios: its UNKNOWN
    if wanted in COMMANDS and hint_h and sys.argv[-1] == "-h":
        # Fingers that learnt `-h` as help, on a command where it is redis-cli's host.
        sys.stderr.write(
            f"cachediag: error: -h is the Redis host here, as in redis-cli (-h HOST); "
            f"help is `cachediag {wanted} --help`\n"
        )
        _leave(ExitCode.USAGE)
    app = build_app(wanted if wanted in COMMANDS else None)
    if wanted == "check" and _wants_nagios(sys.argv[2:]):
        _leave(_run_as_plugin(app))
    try:
        app()
    except SystemExit as exc:
        _leave(exc.code)
    _leave(ExitCode.OK)


def _wants_nagios(args: list[str]) -> bool:
    """Whether `check` was asked for --format nagios (-f nagios, --format=nagios, -fnagios)."""
    for index, arg in enumerate(args):
        if arg in ("--format", "-f") and args[index + 1 : index + 2] == ["nagios"]:
            return True
        if arg in ("--format=nagios", "-fnagios"):
            return True
    return False


def _run_as_plugin(app: typer.Typer) -> int:
    """`check --format nagios`: a bad option is UNKNOWN (3) with its line on stdout.

    A monitor reads a plugin's stdout and exit code; the option parser's own exit 2
    would be CRITICAL, paging someone for a typo in the check's command line.
    """
    try:
        code = app(standalone_mode=False)
    except Exception as exc:
        if not any(cls.__name__ == "UsageError" for cls in type(exc).__mro__):
            raise
        from cachediag.safety.secrets import mask_secrets
        from cachediag.safety.textsafe import safe_text

        format_message = getattr(exc, "format_message", None)
        message = format_message() if callable(format_message) else str(exc)
        line = safe_text(mask_secrets(message)).replace("|", "/")
        sys.stdout.write(f"CACHEDIAG UNKNOWN - usage: {line}\n")
        sys.stderr.write(f"cachediag: error: {line}\n")
        return 3
    return code if isinstance(code, int) else 0


def _leave(code: object) -> NoReturn:
    """Exit once the output is flushed, without the interpreter's teardown.

    Teardown (a last garbage collection of every object, then every module) takes
    ~20 ms after a big `logs` scan: 2 % of its time budget for nothing, since cachediag
    registers nothing to run at exit and has joined its processes by now. Worker
    threads left behind by a probe stuck past its deadline are abandoned, not awaited.
    """
    if isinstance(code, str):  # what sys.exit("message") would print
        sys.stderr.write(code + "\n")
        code = ExitCode.FAILED
    status = code if isinstance(code, int) else ExitCode.OK if code is None else ExitCode.FAILED
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (`| head`): nothing left to say
            status = status or ExitCode.FAILED
    os._exit(status)
