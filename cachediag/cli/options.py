"""Options shared by every command that talks to servers, declared once.

`@target_options` adds --redis, --memcached, the TLS flags, --config, --timeout and
--debug to a Typer command and hands the command one `CommonOptions` object, the
way sqlite-utils' output_options decorator shares its flags.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from cachediag.cli.numbers import finite

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class CommonOptions:
    redis: list[str]
    memcached: list[str]
    tls_ca: Path | None
    tls_cert: Path | None
    tls_key: Path | None
    tls_insecure: bool
    config: Path | None
    timeout: float | None
    debug: bool
    # Inventories (cachediag.toml [[targets]]): which entries, and how many probed at once.
    target_names: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    parallel: int | None = None


_TARGETS = "Targets"

_PARAMETERS: list[tuple[str, Any, Any]] = [
    (
        "redis",
        Annotated[
            list[str] | None,
            typer.Option(
                "--redis",
                metavar="URL",
                help="Redis to diagnose: redis://user:password@host:port/db "
                "(all but host optional), "
                "rediss://… (TLS) "
                "or unix:///path.sock?db=N. Repeatable. Password also from REDISCLI_AUTH or "
                "CACHEDIAG_REDIS_PASSWORD.",
                rich_help_panel=_TARGETS,
            ),
        ],
        None,
    ),
    (
        "memcached",
        Annotated[
            list[str] | None,
            typer.Option(
                "--memcached",
                metavar="ADDR",
                help="Memcached to diagnose: host:port, memcached://host:port or unix:///path. "
                "Repeatable.",
                rich_help_panel=_TARGETS,
            ),
        ],
        None,
    ),
    (
        "tls_ca",
        Annotated[
            Path | None,
            typer.Option(
                "--tls-ca", help="CA bundle for rediss:// targets.", rich_help_panel=_TARGETS
            ),
        ],
        None,
    ),
    (
        "tls_cert",
        Annotated[
            Path | None,
            typer.Option(
                "--tls-cert", help="Client certificate for rediss://.", rich_help_panel=_TARGETS
            ),
        ],
        None,
    ),
    (
        "tls_key",
        Annotated[
            Path | None,
            typer.Option("--tls-key", help="Client key for rediss://.", rich_help_panel=_TARGETS),
        ],
        None,
    ),
    (
        "tls_insecure",
        Annotated[
            bool,
            typer.Option(
                "--tls-insecure",
                help="Do not verify the server certificate.",
                rich_help_panel=_TARGETS,
            ),
        ],
        False,
    ),
    (
        "config",
        Annotated[
            Path | None,
            typer.Option(
                "--config",
                metavar="FILE",
                help="Config file (default: ./cachediag.toml when present).",
                rich_help_panel=_TARGETS,
            ),
        ],
        None,
    ),
    (
        "timeout",
        Annotated[
            float | None,
            typer.Option(
                "--timeout",
                callback=finite,
                metavar="SECONDS",
                min=0.01,
                max=3600,
                help="Bound on connect and on every command. [default: 2]",
                rich_help_panel=_TARGETS,
            ),
        ],
        None,
    ),
    ("debug", Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")], False),
    (
        "target_names",
        Annotated[
            list[str] | None,
            typer.Option(
                "--target",
                metavar="NAME",
                help="A [[targets]] entry of cachediag.toml, by name. Repeatable.",
                rich_help_panel=_TARGETS,
            ),
        ],
        None,
    ),
    (
        "tags",
        Annotated[
            list[str] | None,
            typer.Option(
                "--tag",
                metavar="TAG",
                help="The [[targets]] entries with this tag. Repeatable.",
                rich_help_panel=_TARGETS,
            ),
        ],
        None,
    ),
    (
        "parallel",
        Annotated[
            int | None,
            typer.Option(
                "--parallel",
                metavar="N",
                min=1,
                max=1024,
                help="Servers probed at once. [default: 128]",
                rich_help_panel=_TARGETS,
            ),
        ],
        None,
    ),
]

COMMON_NAMES = [name for name, _, _ in _PARAMETERS]


def target_options(fn: F) -> F:
    signature = inspect.signature(fn, eval_str=True)  # real objects, not strings
    own = [p for p in signature.parameters.values() if p.name != "common"]
    extra = [
        inspect.Parameter(
            name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default
        )
        for name, annotation, default in _PARAMETERS
    ]

    @functools.wraps(fn)
    def wrapper(**kwargs: Any) -> Any:
        values = {name: kwargs.pop(name) for name in COMMON_NAMES}
        values["redis"] = values["redis"] or []
        values["memcached"] = values["memcached"] or []
        values["target_names"] = values["target_names"] or []
        values["tags"] = values["tags"] or []
        return fn(common=CommonOptions(**values), **kwargs)

    parameters = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own] + extra
    wrapper.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in parameters}
    del wrapper.__wrapped__  # Typer must see the new signature
    return wrapper  # type: ignore[return-value]
