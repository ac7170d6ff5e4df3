"""`--version` on every command (`cachediag ping --version`), as on the app itself.

Added in build_app to each command's signature, the way --json-schema is: an eager
flag that prints the version and exits 0 before anything else is parsed or checked, so
`cachediag logs --version` needs no FILE. Typer must see the new signature, so the
wrapper carries it (and not __wrapped__).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer

F = TypeVar("F", bound=Callable[..., Any])


def print_version(ctx: typer.Context, value: bool) -> None:
    if value and not ctx.resilient_parsing:  # not while completing the shell's line
        from cachediag import __version__
        from cachediag.cli.exit_codes import ExitCode

        typer.echo(f"cachediag {__version__}")
        raise typer.Exit(ExitCode.OK)


def with_version(fn: F) -> F:
    signature = inspect.signature(fn, eval_str=True)
    if "version" in signature.parameters:  # pragma: no cover - a command of its own
        return fn
    own = list(signature.parameters.values())
    option = typer.Option(
        "--version", help="Show the version and exit.", is_eager=True, callback=print_version
    )
    flag = inspect.Parameter(
        "version",
        inspect.Parameter.KEYWORD_ONLY,
        annotation=Annotated[bool, option],
        default=False,
    )
    positional = [p for p in own if p.kind is not inspect.Parameter.KEYWORD_ONLY]
    keyword = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own if p not in positional]
    parameters = [*positional, *keyword, flag]

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        kwargs.pop("version", None)
        return fn(*args, **kwargs)

    wrapper.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in parameters}
    del wrapper.__wrapped__  # Typer must see the new signature
    return wrapper  # type: ignore[return-value]
