"""`--json-schema`: one flag for every command with `--json`, declared once.

`@json_schema_option("ping")` adds the flag to a Typer command; it prints the JSON Schema
shipped in cachediag/schemas for that command's document and exits 0. A module of its
own, importing nothing but typer: `logs` keeps its start-up free of the server-facing
options in cli/options.py (whose Option objects and dataclass cost ~3 ms to build).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer

F = TypeVar("F", bound=Callable[..., Any])


def json_schema_option(
    document: str, of: str = "--json", variants: dict[str, tuple[str, str]] | None = None
) -> Callable[[F], F]:
    """Add --json-schema: print the shipped JSON Schema of the command's `of` document, exit 0.

    `variants` maps a flag's parameter to (the flag, another document it makes the command
    print): `check --list --json` is the checklist, not a report, so with that flag given
    its schema is printed instead. Such a command needs the flags parsed first, as with -o.

    Declared once here, so every command's flag says and does the same. It is eager, like
    --help, so `cachediag logs --json-schema` needs no FILE; a command with -o/--output
    writes the schema there instead, which needs -o parsed first: for it the flag is
    read with the other options.
    """
    title = f"cachediag.{document}/v1"
    help_text = f"Print the JSON schema of {of} ({title}), then exit."
    variants = variants or {}
    for flag, other in variants.values():
        help_text += f" With {flag}: cachediag.{other}/v1."

    def decorate(fn: F) -> F:
        signature = inspect.signature(fn, eval_str=True)
        own = [
            p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in signature.parameters.values()
        ]
        # Read with the other options when the schema depends on them (-o, a variant).
        writes_file = "output" in signature.parameters or bool(variants)

        def print_now(ctx: typer.Context, value: bool) -> None:
            if value and not ctx.resilient_parsing:  # not while completing the shell's line
                _print_schema(document, None)

        option = typer.Option(
            "--json-schema",
            help=help_text,
            is_eager=not writes_file,
            callback=None if writes_file else print_now,
        )
        flag = inspect.Parameter(
            "json_schema",
            inspect.Parameter.KEYWORD_ONLY,
            annotation=Annotated[bool, option],
            default=False,
        )
        # Right after --json in the help, where a reader of --json looks.
        at = next((i + 1 for i, p in enumerate(own) if p.name == "json_output"), len(own))
        parameters = [*own[:at], flag, *own[at:]]

        @functools.wraps(fn)
        def wrapper(**kwargs: Any) -> Any:
            if kwargs.pop("json_schema"):
                from cachediag.cli.common import cli_errors

                chosen = next(
                    (d for name, (_, d) in variants.items() if kwargs.get(name)), document
                )
                with cli_errors(bool(kwargs.get("debug"))):
                    _print_schema(chosen, kwargs.get("output"))
            return fn(**kwargs)

        wrapper.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in parameters}
        del wrapper.__wrapped__  # Typer must see the new signature
        return wrapper  # type: ignore[return-value]

    return decorate


def _print_schema(document: str, output: str | None) -> None:
    from cachediag.cli.common import write_output
    from cachediag.cli.exit_codes import ExitCode
    from cachediag.schemas import schema_text

    write_output(schema_text(document), output)
    raise typer.Exit(ExitCode.OK)
