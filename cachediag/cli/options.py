"""Options shared by every command that talks to servers, declared once.

`@target_options` adds --redis, --memcached, redis-cli's connection flags (-h, -p, -a,
--user, --pass, -n, -u, -s, --tls, --sni, and --cacert/--cert/--key/--insecure as the
names of the TLS options), the TLS flags, --config, --timeout and --debug to a Typer
command, and on a command without positional arguments of its own the positional
targets (`cachediag check 10.0.0.5:6379 10.0.0.6:11211`); it hands the command one
`CommonOptions` object, the way sqlite-utils' output_options decorator shares its flags.

redis-cli reads its flags in order, a later one overriding an earlier one (-u then -h:
the host of -h), so each redis-cli flag's callback records when it was typed: click
runs the callbacks of the options given in the order they appear on the command line.
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
from cachediag.targets.redis_cli import RedisCliFlags

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
    cli: RedisCliFlags = field(default_factory=RedisCliFlags)
    sni: str | None = None
    positional: tuple[str, ...] = ()
    # Inventories (cachediag.toml [[targets]]): which entries, and how many probed at once.
    target_names: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    parallel: int | None = None


_TARGETS = "Targets"
_REDIS_CLI = "Redis, as redis-cli takes it"
_ORDER = "cachediag.redis_cli_order"


def _typed(ctx: typer.Context, param: typer.CallbackParam, value: Any) -> Any:
    """Record that a redis-cli flag was given, in command-line order (see the module doc)."""
    if value is not None and value is not False and not ctx.resilient_parsing:
        ctx.meta.setdefault(_ORDER, []).append(param.name)
    return value


def _cli_option(*names: str, metavar: str | None = None, help: str, **extra: Any) -> Any:
    return typer.Option(
        *names,
        metavar=metavar,
        help=help,
        callback=_typed,
        rich_help_panel=_REDIS_CLI,
        show_default=False,
        **extra,
    )


# name on CommonOptions.cli -> (parameter name, annotation, default); the parameter
# names are prefixed so that no command's own option (say, a future --user) collides.
_REDIS_CLI_PARAMETERS: list[tuple[str, str, Any, Any]] = [
    (
        "host",
        "rc_host",
        Annotated[
            str | None,
            _cli_option(
                "-h", metavar="HOST", help="Redis host (default 127.0.0.1), as redis-cli -h."
            ),
        ],
        None,
    ),
    (
        "port",
        "rc_port",
        Annotated[
            int | None,
            _cli_option("-p", metavar="PORT", min=1, max=65535, help="Redis port (default 6379)."),
        ],
        None,
    ),
    (
        "password",
        "rc_password",
        Annotated[
            str | None,
            _cli_option(
                "-a",
                "--pass",
                metavar="PASSWORD",
                help="Redis password (REDISCLI_AUTH is safer: a command line is visible to "
                "every local user).",
            ),
        ],
        None,
    ),
    (
        "user",
        "rc_user",
        Annotated[
            str | None,
            _cli_option("--user", metavar="USER", help="ACL user, sent with the password."),
        ],
        None,
    ),
    (
        "db",
        "rc_db",
        Annotated[
            int | None, _cli_option("-n", metavar="DB", min=0, help="Redis database number.")
        ],
        None,
    ),
    (
        "url",
        "rc_url",
        Annotated[
            str | None,
            _cli_option(
                "-u",
                metavar="URL",
                help="Redis URL, redis://host:port/db with user:password@ before the host, "
                "or rediss:// (flags after it override its parts).",
            ),
        ],
        None,
    ),
    (
        "socket",
        "rc_socket",
        Annotated[
            str | None,
            _cli_option("-s", metavar="SOCKET", help="Redis unix socket (overrides -h and -p)."),
        ],
        None,
    ),
    (
        "tls",
        "rc_tls",
        Annotated[
            bool,
            _cli_option(
                "--tls",
                help="TLS to this Redis, and to every target given as a bare HOST:PORT "
                "(Memcached included).",
            ),
        ],
        False,
    ),
    (
        "no_auth_warning",
        "rc_no_auth_warning",
        Annotated[
            bool,
            _cli_option(
                "--no-auth-warning", help="No warning about a password on the command line."
            ),
        ],
        False,
    ),
]

_PARAMETERS: list[tuple[str, Any, Any]] = [
    (
        "redis",
        Annotated[
            list[str] | None,
            typer.Option(
                "--redis",
                metavar="URL",
                help="Redis to diagnose: redis://host:port/db (all but the host optional; "
                "user:password@ before the host), rediss:// for TLS, or "
                "unix:///path.sock?db=N. Repeatable. Password also from REDISCLI_AUTH or "
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
                "--tls-ca",
                metavar="FILE",
                help="CA bundle for TLS targets (rediss://, memcacheds://, --tls).",
                rich_help_panel=_TARGETS,
            ),
        ],
        None,
    ),
    (
        "tls_cert",
        Annotated[
            Path | None,
            typer.Option(
                "--tls-cert",
                metavar="FILE",
                help="Client certificate for TLS targets.",
                rich_help_panel=_TARGETS,
            ),
        ],
        None,
    ),
    (
        "tls_key",
        Annotated[
            Path | None,
            typer.Option(
                "--tls-key",
                metavar="FILE",
                help="Client key for TLS targets.",
                rich_help_panel=_TARGETS,
            ),
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
                help="Bound on connect and on every command. \\[default: 2]",
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

# redis-cli's names for the TLS options: the same settings (typed both ways, they must
# agree), listed with redis-cli's other flags; and its --sni.
_TLS_ALIASES: list[tuple[str, str, Any, Any]] = [
    (
        "tls_ca",
        "rc_cacert",
        Annotated[
            Path | None, _cli_option("--cacert", metavar="FILE", help="CA bundle (as --tls-ca).")
        ],
        None,
    ),
    (
        "tls_cert",
        "rc_cert",
        Annotated[
            Path | None,
            _cli_option("--cert", metavar="FILE", help="Client certificate (as --tls-cert)."),
        ],
        None,
    ),
    (
        "tls_key",
        "rc_key",
        Annotated[
            Path | None, _cli_option("--key", metavar="FILE", help="Client key (as --tls-key).")
        ],
        None,
    ),
    (
        "tls_insecure",
        "rc_insecure",
        Annotated[
            bool,
            _cli_option("--insecure", help="Do not verify certificates (as --tls-insecure)."),
        ],
        False,
    ),
    (
        "sni",
        "rc_sni",
        Annotated[
            str | None,
            _cli_option(
                "--sni", metavar="HOST", help="TLS server name to ask for (default: the host)."
            ),
        ],
        None,
    ),
]

COMMON_NAMES = [name for name, _, _ in _PARAMETERS]
_POSITIONAL = "positional_targets"
_CONTEXT = "rc_context"
_POSITIONAL_PARAMETER = (
    _POSITIONAL,
    Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[TARGET]...",
            help="Servers to diagnose: HOST:PORT (asked whether Redis or Memcached answers "
            "there) or a URL (redis://, rediss://, memcached://, memcacheds://).",
            show_default=False,
        ),
    ],
    None,
)


def _has_arguments(signature: inspect.Signature) -> bool:
    """Does the command take positional arguments of its own (ttl KEY, inspect KEY)?"""
    for parameter in signature.parameters.values():
        metadata = getattr(parameter.annotation, "__metadata__", ())
        if any(isinstance(item, typer.models.ArgumentInfo) for item in metadata):
            return True
    return False


def target_options(fn: F) -> F:
    """Add the shared options; the positional targets only to a command that has no
    positional arguments of its own (ttl KEY... and inspect KEY... name targets by flag)."""
    signature = inspect.signature(fn, eval_str=True)  # real objects, not strings
    own = [p for p in signature.parameters.values() if p.name != "common"]
    declared = list(_PARAMETERS) + [
        (p, a, d) for _, p, a, d in (*_REDIS_CLI_PARAMETERS, *_TLS_ALIASES)
    ]
    if not _has_arguments(signature):
        declared.append(_POSITIONAL_PARAMETER)
    extra = [
        inspect.Parameter(
            name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default
        )
        for name, annotation, default in declared
    ]
    # Typer hands the click context to a parameter of this type: it holds the order.
    extra.append(
        inspect.Parameter(_CONTEXT, inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context)
    )

    @functools.wraps(fn)
    def wrapper(**kwargs: Any) -> Any:
        values = {name: kwargs.pop(name) for name in COMMON_NAMES}
        values["redis"] = values["redis"] or []
        values["memcached"] = values["memcached"] or []
        values["target_names"] = values["target_names"] or []
        values["tags"] = values["tags"] or []
        cli = {field_name: kwargs.pop(p) for field_name, p, _, _ in _REDIS_CLI_PARAMETERS}
        context = kwargs.pop(_CONTEXT)
        typed = list(context.meta.get(_ORDER, []))
        given = [(typed.index(p), f) for f, p, _, _ in _REDIS_CLI_PARAMETERS if p in typed]
        order = tuple(f for _, f in sorted(given))
        values["cli"] = RedisCliFlags(**cli, order=order)
        for field_name, p, _, default in _TLS_ALIASES:
            values[field_name] = _agree(field_name, values.get(field_name, default), kwargs.pop(p))
        values["positional"] = tuple(kwargs.pop(_POSITIONAL, None) or ())
        return fn(common=CommonOptions(**values), **kwargs)

    parameters = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own] + extra
    wrapper.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in parameters}
    del wrapper.__wrapped__  # Typer must see the new signature
    return wrapper  # type: ignore[return-value]


def _agree(name: str, ours: Any, redis_cli: Any) -> Any:
    """An option given under its name and under redis-cli's: one value, or a usage error."""
    if redis_cli in (None, False):
        return ours
    if ours not in (None, False) and ours != redis_cli:
        raise typer.BadParameter(
            f"--{name.replace('_', '-')} and its redis-cli name disagree: give one of them"
        )
    return redis_cli
