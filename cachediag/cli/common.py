"""What every server-facing command shares: read config, resolve targets, handle errors, write."""

from __future__ import annotations

import functools
import os
import stat
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer

from cachediag import __version__
from cachediag.cli.exit_codes import ExitCode
from cachediag.cli.options import CommonOptions
from cachediag.errors import CachediagError
from cachediag.safety.masking import masked
from cachediag.safety.secrets import mask_secrets
from cachediag.safety.textsafe import safe_text
from cachediag.targets.config import Config, load_config
from cachediag.targets.parse import TargetRequest, resolve_targets
from cachediag.targets.target import Target, TLSOptions

DEFAULT_TIMEOUT = 2.0


@dataclass(frozen=True)
class Setup:
    config: Config
    named: list[Target]  # the targets as the user named them
    timeout: float
    # When the command began with its targets (time.monotonic()): each target's whole
    # probe deadline counts from here, so its cluster discovery is inside the bound.
    started: float = field(default_factory=time.monotonic, compare=False)

    @functools.cached_property
    def targets(self) -> list[Target]:
        """The servers behind the named targets: a cluster URL as every node of the cluster,
        a redis+sentinel:// one as the nodes its sentinels name. Expanded on first use,
        so a command that reads no server (--list, --from a bundle) asks none."""
        from cachediag.backends import expand

        return expand(self.named, self.timeout)


def setup(common: CommonOptions) -> Setup:
    config = load_config(common.config)
    tls = TLSOptions(
        ca=str(common.tls_ca) if common.tls_ca else None,
        cert=str(common.tls_cert) if common.tls_cert else None,
        key=str(common.tls_key) if common.tls_key else None,
        insecure=common.tls_insecure,
        sni=common.sni,
    )
    for name, path in (
        ("--tls-ca", common.tls_ca),
        ("--tls-cert", common.tls_cert),
        ("--tls-key", common.tls_key),
    ):
        if path is not None and not path.is_file():
            why = "not a regular file" if path.exists() else "no such file"
            raise CachediagError(f"{name} {path}: {why}")
    if common.tls_ca is not None:
        _check_ca_bundle(common.tls_ca)
    timeout = common.timeout or config.timeout or DEFAULT_TIMEOUT
    request = TargetRequest(
        redis_flags=tuple(common.redis),
        memcached_flags=tuple(common.memcached),
        config_redis=config.redis,
        # A configured pool's servers are Memcached targets of the config layer too.
        config_memcached=tuple(dict.fromkeys(config.memcached + config.memcached_pool)),
        tls_options=tls,
        details=common.cli.details,
        named=_named_on_command_line(common, tls, timeout),
    )
    from cachediag.probes import fanout
    from cachediag.targets.pools import form_pools

    if common.parallel is not None:
        fanout.set_workers(common.parallel)
    targets = form_pools(_with_inventory(common, config, request), config.memcached_pool)
    # A target may stand for several servers (a cluster, a pool): commands read each node.
    return Setup(config, targets, timeout)


def _with_inventory(common: CommonOptions, config: Config, request: TargetRequest) -> list[Target]:
    """The targets asked for, cachediag.toml's [[targets]] included: --target/--tag pick
    entries (beside any --redis/--memcached); without them the entries are part of the
    config layer, read when no flag or env names a target."""
    from cachediag.targets import inventory

    if common.target_names or common.tags:
        chosen = inventory.select(config.inventory, common.target_names, common.tags)
        named = inventory.to_targets(chosen, config.path, request.tls_options)
        others = common.redis or common.memcached or request.named
        flagged = resolve_targets(request) if others else []
        return flagged + named
    resolved = resolve_targets(request)
    if not config.inventory or any(t.source in ("flag", "env") for t in resolved):
        return resolved
    everything = inventory.to_targets(list(config.inventory), config.path, request.tls_options)
    return [t for t in resolved if t.source == "config"] + everything


def _named_on_command_line(
    common: CommonOptions, tls: TLSOptions, timeout: float
) -> tuple[Target, ...]:
    """The target of redis-cli's flags, then the positional ones (probed for their kind)."""
    from cachediag.targets.redis_cli import PASSWORD_WARNING, build_cli_target

    others = bool(common.redis or common.memcached or common.positional)
    built = build_cli_target(common.cli, tls, others_named=others)
    typed_password = common.cli.password is not None or (
        built is not None and built.password_on_command_line
    )
    if typed_password and not common.cli.no_auth_warning:
        print(PASSWORD_WARNING, file=sys.stderr)  # redis-cli's, on stderr as there
    named = [built.target] if built is not None else []
    if common.positional:
        from cachediag.targets.autodetect import detect_all

        for found in detect_all(list(common.positional), common.cli.details, tls, timeout):
            if found.note:
                err(f"note: {found.note}")
            named.append(found.target)
    return tuple(named)


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
    """Typed errors become one sentence and their exit code (2, a usage error); anything
    else one sentence and exit 3; Ctrl-C exits 130."""
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
        raise typer.Exit(ExitCode.INTERRUPTED) from None
    except Exception as exc:
        if debug:
            traceback.print_exc()
        err(f"internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)")
        raise typer.Exit(ExitCode.UNREADABLE) from None


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
    """Write a command's output to stdout, or to FILE with -o; both through the one
    masking pass (a password a server echoed must not reach a file either).

    A regular FILE (or one that does not exist yet) is replaced atomically:
    node_exporter's textfile collector (or a CI job) reading the file while a run
    rewrites it must see the old report or the new one. Anything else (/dev/stdout,
    /dev/null, a FIFO, a terminal) is written through, never replaced: cachediag runs
    as root, and renaming a file over /dev/null would turn the device into a file.
    """
    if not output or output == "-":
        stream = masked(sys.stdout)
        stream.write(text)
        stream.flush()
        return
    target = Path(output)
    try:
        existing = target.stat()
    except FileNotFoundError:
        existing = None
    except OSError as exc:
        raise CachediagError(f"cannot write {target}: {exc.strerror or exc}") from None
    if existing is not None and not stat.S_ISREG(existing.st_mode):
        _write_through(target, text)
        return
    mode = stat.S_IMODE(existing.st_mode) if existing is not None else 0o666 & ~_umask()
    _replace_atomically(target, text, mode)


def _write_through(target: Path, text: str) -> None:
    """A device, FIFO or socket: opened for writing as it is, never truncated or replaced."""
    if stat.S_ISDIR(target.stat().st_mode):
        raise CachediagError(f"cannot write {target}: it is a directory")
    try:
        # O_NONBLOCK: a FIFO nobody reads fails at once (ENXIO) instead of hanging.
        descriptor = os.open(target, os.O_WRONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError as exc:
        raise CachediagError(f"cannot write {target}: {exc.strerror or exc}") from None
    try:
        os.set_blocking(descriptor, True)
        with open(descriptor, "w", encoding="utf-8", closefd=True) as handle:
            masked(handle).write(text)
    except OSError as exc:
        raise CachediagError(f"cannot write {target}: {exc.strerror or exc}") from None


def _umask() -> int:
    """The process umask, read without setting it (os.umask can only set and return)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


def _replace_atomically(target: Path, text: str, mode: int) -> None:
    """A temporary file beside FILE, created exclusively (mkstemp: O_EXCL, an unguessable
    name, mode 0600 until chmod), then renamed over FILE. A predictable name opened
    following symlinks would let anyone with write access to the directory (a shared
    textfile-collector folder) plant a link and have the report overwrite its target."""
    try:
        descriptor, temporary = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=".tmp", dir=target.parent
        )
    except OSError as exc:
        raise CachediagError(f"cannot write {target}: {exc.strerror or exc}") from None
    try:
        with open(descriptor, "w", encoding="utf-8") as handle:
            masked(handle).write(text)
        # mkstemp creates 0600: the report gets the mode FILE had, or a new file's.
        os.chmod(temporary, mode)
        os.replace(temporary, target)
    except OSError as exc:
        Path(temporary).unlink(missing_ok=True)
        raise CachediagError(f"cannot write {target}: {exc.strerror or exc}") from None


def open_private_new(path: Path) -> Any:
    """A new file only its owner can read (0600), opened for binary writing: purge's
    --backup, which holds the deleted values. An existing file is never overwritten (it
    may be the backup of an earlier purge)."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        raise CachediagError(
            f"{path} exists: a backup is never overwritten; name a new file"
        ) from None
    except OSError as exc:
        raise CachediagError(f"cannot write {path}: {exc.strerror or exc}") from None
    return open(descriptor, "wb")


def write_private(path: Path, text: str) -> None:
    """Replace `path` atomically with `text`, mode 0600 (purge's local checkpoint)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise CachediagError(f"cannot write {path}: {exc.strerror or exc}") from None
    _replace_atomically(path, text, 0o600)


def log_paths(values: list[str] | None) -> list[str]:
    """The --log values as given. Unlike ids, a path may contain a comma: --log is
    repeated, never split. An empty one is a usage error, as `logs ""` is, not a flag
    silently dropped."""
    if any(not value for value in values or []):
        raise CachediagError("--log needs a file path, not an empty string")
    return list(values or [])
