"""What every server-facing command shares: read config, resolve targets, handle errors, write."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import typer

from cachediag import __version__
from cachediag.cli.options import CommonOptions
from cachediag.errors import CachediagError
from cachediag.safety.secrets import mask_secrets
from cachediag.safety.textsafe import safe_text
from cachediag.targets.config import Config, load_config
from cachediag.targets.parse import TargetRequest, resolve_targets
from cachediag.targets.target import Target, TLSOptions

DEFAULT_TIMEOUT = 2.0
T = TypeVar("T")


@dataclass(frozen=True)
class Setup:
    config: Config
    targets: list[Target]
    timeout: float


def setup(common: CommonOptions) -> Setup:
    config = load_config(common.config)
    tls = TLSOptions(
        ca=str(common.tls_ca) if common.tls_ca else None,
        cert=str(common.tls_cert) if common.tls_cert else None,
        key=str(common.tls_key) if common.tls_key else None,
        insecure=common.tls_insecure,
    )
    for name, path in (
        ("--tls-ca", common.tls_ca),
        ("--tls-cert", common.tls_cert),
        ("--tls-key", common.tls_key),
    ):
        if path is not None and not path.is_file():
            raise CachediagError(f"{name} {path}: no such file")
    if common.tls_ca is not None:
        _check_ca_bundle(common.tls_ca)
    request = TargetRequest(
        redis_flags=tuple(common.redis),
        memcached_flags=tuple(common.memcached),
        config_redis=config.redis,
        config_memcached=config.memcached,
        tls_options=tls,
    )
    timeout = common.timeout or config.timeout or DEFAULT_TIMEOUT
    from cachediag.backends import expand

    # A target may stand for several servers (a cluster, a pool): commands read each node.
    return Setup(config, expand(resolve_targets(request)), timeout)


def _check_ca_bundle(path: Path) -> None:
    import ssl

    try:
        ssl.create_default_context(cafile=str(path))
    except (OSError, ssl.SSLError) as exc:
        raise CachediagError(f"--tls-ca {path} is not a PEM CA bundle: {exc}") from None


def err(message: str) -> None:
    """One line on stderr, passwords masked whatever the message held."""
    print(f"cachediag: {safe_text(mask_secrets(message))}", file=sys.stderr)


@contextmanager
def cli_errors(debug: bool) -> Iterator[None]:
    """Typed errors become one sentence and exit 2; anything else one sentence and exit 3."""
    try:
        yield
    except (typer.Exit, typer.Abort, SystemExit):
        raise
    except CachediagError as exc:
        if debug:
            traceback.print_exc()
        err(f"error: {exc}")
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        err("interrupted")
        raise typer.Exit(130) from None
    except Exception as exc:
        if debug:
            traceback.print_exc()
        err(f"internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)")
        raise typer.Exit(3) from None


def guarded(debug: bool, fn: Callable[[], T]) -> T:
    with cli_errors(debug):
        return fn()
    raise AssertionError("unreachable")  # pragma: no cover


def targets_document(schema: str, rows: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    """A per-target command's --json document: schema, version and time, then the
    command's own fields, then the targets; in the key order these documents always had."""
    from cachediag.render.units import utc_stamp

    return {
        "schema": schema,
        "version": __version__,
        "generated_at": utc_stamp(),
        **fields,
        "targets": rows,
    }


def write_output(text: str, output: str | None) -> None:
    if output and output != "-":
        try:
            with open(output, "w", encoding="utf-8") as handle:
                handle.write(text)
        except OSError as exc:
            raise CachediagError(f"cannot write {output}: {exc.strerror}") from None
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
