"""Positional targets: `cachediag check 10.0.0.5:6379 10.0.0.6:11211`.

A URL's scheme decides what it is, without a probe (redis://, rediss://, memcached://,
memcacheds://). A bare `HOST:PORT` (or a unix:// socket) is asked once what it speaks
(clients/sniff: `PING\\r\\n`, read-only on both servers) within the timeout, in plain
text, or in TLS with --tls; a server that closes the plain connection unanswered or
answers with a TLS record is asked again over TLS (the TLS options apply). The target
is then named as what it turned out to be (`redis://…`, `memcacheds://…`).

A bare address that cannot be reached is taken by its port when the port is a
well-known one (6379/6380/26379: Redis, 11211: Memcached), so that the command reports
it down as it reports any named target; any other port, or a server speaking neither
protocol, is a usage error that says to give the scheme.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from cachediag.errors import ProbeError, ProtocolViolation, UsageError
from cachediag.safety.secrets import remember_secret
from cachediag.targets.parse import parse_memcached, parse_redis
from cachediag.targets.redis_cli import memcached_url, redis_url
from cachediag.targets.target import Details, Target, TLSOptions

WELL_KNOWN_PORTS = {6379: "redis", 6380: "redis", 26379: "redis", 11211: "memcached"}
_SCHEMES = ("redis", "rediss", "memcached", "memcacheds", "unix")


@dataclass(frozen=True)
class Detected:
    target: Target
    note: str | None = None  # one line for stderr, when the kind was not heard but guessed


def _address(raw: str) -> tuple[str, int]:
    from cachediag.targets.parse import _split_host_port

    text = raw.strip()
    has_port = text.rpartition("]")[2].count(":") == 1 if text.startswith("[") else ":" in text
    if not has_port:
        raise UsageError(
            f"target '{text}': give its port (HOST:PORT), or a URL: redis://{text}, "
            f"memcached://{text}"
        )
    return _split_host_port("target", raw, text, 0)


def _sniff(target: Target, timeout: float) -> str:
    from cachediag.clients.sniff import Sniffer

    return Sniffer(target, timeout).sniff()


def detect(raw: str, details: Details, tls_options: TLSOptions, timeout: float) -> Detected:
    """The Target that `raw` (a positional argument) stands for."""
    text = raw.strip()
    scheme = text.partition("://")[0].lower() if "://" in text else None
    if scheme in ("redis", "rediss"):
        return Detected(parse_redis(text, "flag", tls_options, option="target"))
    if scheme in ("memcached", "memcacheds"):
        return Detected(parse_memcached(text, "flag", tls_options))
    if scheme is not None and scheme != "unix":
        known = ", ".join(f"{name}://" for name in _SCHEMES)
        raise UsageError(f"target '{text}': unknown scheme '{scheme}' (use {known})")
    if scheme == "unix":
        return Detected(_unix(text, details, timeout))
    host, port = _address(text)
    probe = Target(
        "unknown", text, "flag", host=host, port=port, tls=details.tls, tls_options=tls_options
    )
    note = None
    try:
        kind, tls = _hear_with_tls_fallback(probe, text, timeout)
    except _Unreachable as exc:
        guessed = WELL_KNOWN_PORTS.get(port)
        if guessed is None:
            raise UsageError(
                f"target '{text}': cannot tell what it is: {exc}; name it: redis://{text} or "
                f"memcached://{text}"
            ) from None
        kind, tls = guessed, details.tls
        shown = "Redis" if kind == "redis" else "Memcached"
        note = f"{text}: {exc}; taken as {shown} from its port"
    if kind == "redis":
        url = redis_url(host, port, details, tls=tls)
        return Detected(parse_redis(url, "flag", tls_options, option="target"), note)
    url = memcached_url(host, port, tls=tls)
    return Detected(parse_memcached(url, "flag", tls_options), note)


def _unix(text: str, details: Details, timeout: float) -> Target:
    """A unix:// socket: asked like a bare address (no TLS over a socket)."""
    path, _, query = text[len("unix://") :].partition("?")
    if not path:
        raise UsageError(f"target '{text}': a unix socket URL needs a path")
    kind = _hear(Target("unknown", text, "flag", unix_path=path), text, timeout)
    if kind == "memcached":
        return parse_memcached(f"unix://{path}", "flag")
    url = text if query or details.db is None else f"{text}?db={details.db}"
    target = parse_redis(url, "flag", option="target")
    if details.password is None:
        return target
    remember_secret(details.password)
    return replace(target, password=details.password, username=details.user)


class _Unreachable(Exception):
    """Nothing was heard: no connection, or no answer in time."""


def _hear(probe: Target, text: str, timeout: float) -> str:
    try:
        return _sniff(probe, timeout)
    except ProtocolViolation as exc:
        raise UsageError(f"target '{text}': {exc.message}") from None
    except ProbeError as exc:
        raise _Unreachable(exc.message) from None


def _hear_with_tls_fallback(probe: Target, text: str, timeout: float) -> tuple[str, bool]:
    """(kind, over TLS) of what answers at `probe`; plain first unless --tls was given."""
    from cachediag.clients.sniff import NotTLS

    try:
        return _sniff(probe, timeout), probe.tls
    except NotTLS as plain:
        if probe.tls:
            raise _Unreachable(plain.message) from None
        try:
            return _sniff(replace(probe, tls=True), timeout), True
        except ProtocolViolation as exc:
            raise UsageError(f"target '{text}': {exc.message}") from None
        except ProbeError as exc:
            if exc.kind == "tls":
                raise UsageError(
                    f"target '{text}' closed the plain-text connection unanswered (a TLS-only "
                    f"port?) and TLS failed too: {exc.message}"
                ) from None
            raise _Unreachable(plain.message) from None
    except ProtocolViolation as exc:
        raise UsageError(f"target '{text}': {exc.message}") from None
    except ProbeError as exc:
        if exc.kind == "tls":
            raise UsageError(f"target '{text}': {exc.message}") from None
        raise _Unreachable(exc.message) from None


def detect_all(
    raws: list[str], details: Details, tls_options: TLSOptions, timeout: float
) -> list[Detected]:
    """Every positional target, probed side by side (each within `timeout`)."""
    if len(raws) <= 1:
        return [detect(raw, details, tls_options, timeout) for raw in raws]
    with ThreadPoolExecutor(max_workers=min(8, len(raws))) as pool:
        futures = [pool.submit(detect, raw, details, tls_options, timeout) for raw in raws]
        return [future.result() for future in futures]
