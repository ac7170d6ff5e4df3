"""Turn what the user typed (flags, env, cachediag.toml) into Target objects.

A target's `name` is what every output shows: the URL with any password replaced by
`***`. The password itself is kept only on the object, never in its repr.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from urllib.parse import SplitResult, parse_qs, unquote, urlsplit

from cachediag.errors import UsageError
from cachediag.safety.secrets import mask_secrets, remember_secret
from cachediag.targets.target import Details, Target, TLSOptions

DEFAULT_REDIS = "redis://127.0.0.1:6379"
DEFAULT_MEMCACHED = "127.0.0.1:11211"


def _without_userinfo(raw: str) -> str:
    """`raw` with whatever stands between :// and the last @ masked.

    A URL that fails to parse is echoed in its error, and its password may hold the
    very characters that broke it (/, # or ? in a base64 password): mask_secrets' URL
    pattern stops at them, so the user-info is cut out here by position instead.
    """
    start = raw.find("://")
    start = start + 3 if start >= 0 else 0
    at = raw.rfind("@")
    if at < start:
        return raw
    userinfo = raw[start:at]
    user, colon, _ = userinfo.partition(":")
    shown = f"{user}:***" if colon else "***"
    return raw[:start] + shown + raw[at:]


def _bad(option: str, raw: str, why: str) -> UsageError:
    return UsageError(f"invalid {option} '{mask_secrets(_without_userinfo(raw))}': {why}")


def _check_host_name(option: str, raw: str, host: str) -> None:
    """A host name DNS can be asked about: else a usage error now, not a resolver crash later."""
    try:
        ipaddress.ip_address(host)
        return
    except ValueError:
        pass
    name = host[:-1] if host.endswith(".") else host
    labels = name.split(".")
    if len(name) > 253 or any(not label or len(label) > 63 for label in labels):
        raise _bad(option, raw, f"'{host}' is not a valid host name")
    try:
        name.encode("idna")
    except UnicodeError:
        raise _bad(option, raw, f"'{host}' is not a valid host name") from None


def _port(option: str, raw: str, text: str | None, default: int) -> int:
    if text in (None, ""):
        return default
    assert text is not None
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) < 65536:
        raise _bad(option, raw, f"port must be a number from 1 to 65535, not '{text}'")
    return int(text)


def _split_host_port(option: str, raw: str, netloc: str, default_port: int) -> tuple[str, int]:
    """host:port, [v6]:port, or host alone."""
    if netloc.startswith("["):
        host, _, rest = netloc[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else (rest or None)
        if rest and not rest.startswith(":"):
            raise _bad(option, raw, "expected [ipv6]:port")
    elif netloc.count(":") == 1:
        host, port_text = netloc.split(":")
    else:
        host, port_text = netloc, None
    if not host:
        raise _bad(option, raw, "no host given")
    if not netloc.startswith("["):
        _check_host_name(option, raw, host)
    return host, _port(option, raw, port_text, default_port)


def _split_url(option: str, raw: str, text: str) -> SplitResult:
    try:
        parts = urlsplit(text)
    except ValueError as exc:
        raise _bad(option, raw, str(exc)) from None
    return parts


def _check_query(option: str, raw: str, query: str, known: tuple[str, ...], hint: str) -> None:
    """Every query parameter is one cachediag reads, or a usage error naming it.

    A parameter another client reads (`?socket_timeout=5`, redis-py's) silently dropped
    would leave the user believing it applied.
    """
    for name in parse_qs(query, keep_blank_values=True):
        if name not in known:
            raise _bad(option, raw, f"unknown query parameter '{name}' ({hint})")


def parse_redis(
    raw: str,
    source: str,
    tls_options: TLSOptions | None = None,
    *,
    option: str = "--redis URL",
    use_env: bool = True,
) -> Target:
    """`use_env=False`: no password from the environment (the caller applies its own)."""
    text = raw.strip()
    if "://" not in text:
        text = f"redis://{text}"  # host[:port] alone is the common shorthand
    scheme_text, _, remainder = text.partition("://")
    scheme = scheme_text.lower()
    if scheme == "redis+sentinel":  # a primary and replicas through Sentinel (issue 14)
        from cachediag.targets.sentinel import parse_sentinel

        return parse_sentinel(text, source, tls_options)
    userinfo: str | None = None
    if scheme in ("redis", "rediss") and "@" in remainder:
        # The user-info ends at the authority's last @, wherever a / # or ? stands before
        # it (urlsplit would end it at the first of those, and read the host from the
        # password): it is split off here, and urlsplit sees the rest.
        userinfo, _, remainder = remainder.rpartition("@")
    parts = _split_url(option, raw, f"{scheme_text}://{remainder}")
    env_password = environment_password() if use_env else None
    if scheme == "unix":
        if not parts.path:
            raise _bad(option, raw, "a unix socket URL needs a path: unix:///path/redis.sock")
        _check_query(option, raw, parts.query, ("db",), "a unix:// URL takes ?db=N only")
        query = parse_qs(parts.query)
        db = _db(option, raw, query.get("db", ["0"])[0])
        password = unquote(parts.password) if parts.password else env_password
        remember_secret(password)
        name = f"unix://{parts.path}" + (f"?db={db}" if db else "")
        return Target("redis", name, source, unix_path=parts.path, db=db, password=password)
    if scheme not in ("redis", "rediss"):
        raise _bad(
            option,
            raw,
            f"unknown scheme '{scheme}' (use redis://, rediss://, unix:// or redis+sentinel://)",
        )
    _check_query(
        option,
        raw,
        parts.query,
        (),
        "a redis:// URL takes none: the database is its path, redis://host:port/2, "
        "and the timeout is --timeout",
    )
    try:
        host, port = _split_host_port(option, raw, parts.netloc, 6379)
    except ValueError as exc:
        raise _bad(option, raw, str(exc)) from None
    db = _db(option, raw, parts.path.lstrip("/") or "0")
    user_text, colon, password_text = (userinfo or "").partition(":")
    username = unquote(user_text) if user_text else None
    url_password = unquote(password_text) if colon else None
    if url_password is None and username is not None:
        # redis://secret@host is redis-cli's form for a password without a user.
        url_password, username = username, None
    password = url_password if url_password is not None else env_password
    remember_secret(password)
    if username:
        shown_user = f"{username}:***@" if url_password is not None else f"{username}@"
    else:
        shown_user = ":***@" if url_password is not None else ""
    shown_host = f"[{host}]" if ":" in host else host
    name = f"{scheme}://{shown_user}{shown_host}:{port}/{db}"
    return Target(
        "redis",
        name,
        source,
        host=host,
        port=port,
        db=db,
        username=username,
        password=password,
        tls=scheme == "rediss",
        tls_options=tls_options or TLSOptions(),
    )


def environment_password() -> str | None:
    """The password the environment gives Redis targets that name none themselves."""
    return os.environ.get("CACHEDIAG_REDIS_PASSWORD") or os.environ.get("REDISCLI_AUTH")


def _db(option: str, raw: str, text: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise _bad(option, raw, f"database must be a number, not '{text}'")
    return int(text)


def parse_memcached(raw: str, source: str, tls_options: TLSOptions | None = None) -> Target:
    """host:port, memcached://host:port, memcacheds://host:port (TLS) or unix:///path."""
    option = "--memcached address"
    text = raw.strip()
    tls = False
    if text.startswith("unix://"):
        path = text[len("unix://") :]
        if not path:
            raise _bad(option, raw, "a unix socket URL needs a path: unix:///path/memcached.sock")
        return Target("memcached", f"unix://{path}", source, unix_path=path)
    if "://" in text:
        parts = _split_url(option, raw, text)
        scheme = parts.scheme.lower()
        if scheme not in ("memcached", "memcacheds"):
            raise _bad(
                option,
                raw,
                f"unknown scheme '{parts.scheme}' (use memcached://, memcacheds:// or unix://)",
            )
        if parts.path not in ("", "/"):
            raise _bad(option, raw, "memcached has no databases; drop the path")
        _check_query(option, raw, parts.query, (), "a memcached:// URL takes none")
        tls = scheme == "memcacheds"
        text = parts.netloc
    if "@" in text:
        raise _bad(
            option, raw, "Memcached's text protocol has no user or password; drop the user@ part"
        )
    host, port = _split_host_port(option, raw, text, 11211)
    shown_host = f"[{host}]" if ":" in host else host
    scheme = "memcacheds" if tls else "memcached"
    return Target(
        "memcached",
        f"{scheme}://{shown_host}:{port}",
        source,
        host=host,
        port=port,
        tls=tls,
        tls_options=tls_options or TLSOptions(),
    )


@dataclass(frozen=True)
class TargetRequest:
    """What the user asked for, from every source; `resolve_targets` picks the winner."""

    redis_flags: tuple[str, ...] = ()
    memcached_flags: tuple[str, ...] = ()
    config_redis: tuple[str, ...] = ()
    config_memcached: tuple[str, ...] = ()
    tls_options: TLSOptions = field(default_factory=TLSOptions)
    # redis-cli's flags: what they add to targets given without a scheme (see redis_cli)
    details: Details = field(default_factory=Details)
    # targets already built from the command line: redis-cli's flags, positional ones
    named: tuple[Target, ...] = ()


def _env_list(name: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in os.environ.get(name, "").split(",") if item.strip())


def resolve_targets(request: TargetRequest) -> list[Target]:
    """Flags win over env, env over cachediag.toml, and with none of them the local defaults.

    The first source that names any target is used whole, so `--redis X` alone checks
    just X rather than X plus a default Memcached the user never mentioned.
    """
    from cachediag.targets.redis_cli import refine_bare

    details = request.details
    redis_flags = tuple(refine_bare(url, "redis", details) for url in request.redis_flags)
    memcached_flags = tuple(
        refine_bare(addr, "memcached", details) for addr in request.memcached_flags
    )
    if request.named or redis_flags or memcached_flags:
        _check_details_used(request, redis_flags, memcached_flags)
    layers = [
        ("flag", redis_flags, memcached_flags),
        ("env", _env_list("CACHEDIAG_REDIS"), _env_list("CACHEDIAG_MEMCACHED")),
        ("config", request.config_redis, request.config_memcached),
        ("default", (DEFAULT_REDIS,), (DEFAULT_MEMCACHED,)),
    ]
    for source, redis_urls, memcached_urls in layers:
        if redis_urls or memcached_urls or (source == "flag" and request.named):
            targets = list(request.named) if source == "flag" else []
            targets += [parse_redis(url, source, request.tls_options) for url in redis_urls]
            targets += [
                parse_memcached(addr, source, request.tls_options) for addr in memcached_urls
            ]
            return _dedupe(targets)
    return []  # pragma: no cover - the default layer always names targets


def _check_details_used(
    request: TargetRequest, redis_flags: tuple[str, ...], memcached_flags: tuple[str, ...]
) -> None:
    """-a, --user, -n or --tls given where no target takes them is an error, not a no-op."""
    from cachediag.targets.redis_cli import is_bare

    details = request.details
    if not details.given or request.named:
        return
    bare = [t for t in (*request.redis_flags, *request.memcached_flags) if is_bare(t)]
    takes_tls = bool(bare)
    takes_redis = any(is_bare(t) for t in request.redis_flags)
    redis_only = details.password is not None or details.user is not None or details.db is not None
    if (redis_only and not takes_redis) or (details.tls and not takes_tls):
        raise UsageError(
            f"{details.flag_names()} apply to the Redis of -h/-p/-u/-s and to targets given "
            "without a scheme (HOST:PORT); the targets here are URLs, which carry their own: "
            "redis://user:password@host:port/db, rediss://, memcacheds://"
        )


def _dedupe(targets: list[Target]) -> list[Target]:
    seen: set[tuple[str, str]] = set()
    unique = []
    for target in targets:
        key = (target.kind, target.name)
        if key not in seen:
            seen.add(key)
            unique.append(target)
    return unique
