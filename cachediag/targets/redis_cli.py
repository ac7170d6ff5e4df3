"""redis-cli's connection flags, turned into targets the way redis-cli turns them into one.

`-h HOST -p PORT -a PASSWORD --user U -n DB -u URL -s SOCKET --tls` are read as
redis-cli's parseOptions reads them (redis/redis src/redis-cli.c): in command-line
order, a later flag overriding what an earlier one set (`-u redis://a:6380 -h b` is b
on 6380; `-h b -u redis://a` is a), a `-u` URL setting only the parts it holds (no
port in it: the port stays), `-s` winning over host and port whatever the order,
`rediss://` or `--tls` for TLS, and `REDISCLI_AUTH` only when no password was typed.

The same flags refine the targets given without a scheme (a bare `HOST:PORT`, as a
positional argument, `--redis` or `--memcached`): `cachediag ping 10.0.0.5:6380 -a
secret` is redis-cli's `-h 10.0.0.5 -p 6380 -a secret`. A URL with a scheme carries
its own password, database and TLS, and is left as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from cachediag.errors import UsageError
from cachediag.safety.secrets import remember_secret
from cachediag.targets.parse import environment_password, parse_redis
from cachediag.targets.target import Details, Target, TLSOptions

# redis-cli's own warning, word for word, so that what a script greps for still matches.
PASSWORD_WARNING = (
    "Warning: Using a password with '-a' or '-u' option on the command line interface "
    "may not be safe."
)

# The flags that name an address: with one of them the flags build a target of their own.
ADDRESS_FLAGS = ("host", "port", "socket", "url")


@dataclass(frozen=True)
class RedisCliFlags:
    host: str | None = None
    port: int | None = None
    socket: str | None = None
    url: str | None = None
    password: str | None = None  # -a / --pass
    user: str | None = None
    db: int | None = None
    tls: bool = False
    no_auth_warning: bool = False
    order: tuple[str, ...] = ()  # the names above, in the order they were typed

    @property
    def names_address(self) -> bool:
        return any(getattr(self, name) is not None for name in ADDRESS_FLAGS)

    @property
    def given(self) -> bool:
        return self.names_address or self.details.given

    @property
    def details(self) -> Details:
        return Details(self.password, self.user, self.db, self.tls)


@dataclass(frozen=True)
class CliTarget:
    target: Target
    password_on_command_line: bool  # redis-cli warns then (unless --no-auth-warning)


def _userinfo(user: str | None, password: str | None) -> str:
    if password is None:
        return ""  # redis-cli sends no AUTH without a password, --user or not
    shown_user = quote(user, safe="") if user else ""
    return f"{shown_user}:{quote(password, safe='')}@"


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def redis_url(
    host: str, port: int, details: Details, *, tls: bool = False, db: int | None = None
) -> str:
    """The URL of a Redis at host:port with `details` (TLS, credentials, database) in it."""
    scheme = "rediss" if tls or details.tls else "redis"
    database = db if db is not None else details.db or 0
    return (
        f"{scheme}://{_userinfo(details.user, details.password)}{_host_port(host, port)}/{database}"
    )


def memcached_url(host: str, port: int, *, tls: bool) -> str:
    return f"{'memcacheds' if tls else 'memcached'}://{_host_port(host, port)}"


def is_bare(text: str) -> bool:
    """Given without a scheme: `host:port`, `[v6]:port` or `host`."""
    return "://" not in text


def _url_parts(raw: str) -> tuple[bool, bool, bool]:
    """Which parts a -u URL holds: (user-info, port, database); redis-cli sets only those."""
    rest = raw.strip().partition("://")[2]
    authority, slash, path = rest.partition("/")
    has_userinfo = "@" in authority
    host_port = authority.rpartition("@")[2]
    has_port = ":" in (host_port.rpartition("]")[2] if host_port.startswith("[") else host_port)
    return has_userinfo, has_port, bool(slash and path.split("?")[0])


def build_cli_target(
    flags: RedisCliFlags, tls_options: TLSOptions, *, others_named: bool
) -> CliTarget | None:
    """The one Redis target redis-cli would connect to with these flags, or None.

    With no address flag (-h, -p, -s, -u) the flags build one only when nothing else
    names a target (`cachediag ping -a secret` is `redis-cli -a secret`: 127.0.0.1:6379);
    otherwise they refine the targets given without a scheme.
    """
    if not flags.given or (not flags.names_address and others_named):
        return None
    if flags.host is not None and not flags.host.strip():
        raise UsageError("-h needs a host name or address")
    host, port, db = "127.0.0.1", 6379, 0
    user, password, tls = None, None, flags.tls
    for name in flags.order:
        if name == "host" and flags.host is not None:
            host = flags.host
        elif name == "port" and flags.port is not None:
            port = flags.port
        elif name == "db" and flags.db is not None:
            db = flags.db
        elif name == "user" and flags.user is not None:
            user = flags.user
        elif name == "password" and flags.password is not None:
            password = flags.password
        elif name == "url" and flags.url is not None:
            parsed = _parse_u(flags.url, tls_options)
            has_userinfo, has_port, has_db = _url_parts(flags.url)
            host = parsed.host or host
            port = parsed.port if has_port and parsed.port else port
            db = parsed.db if has_db else db
            if has_userinfo:
                user, password = parsed.username, parsed.password
            tls = tls or parsed.tls
    on_command_line = password is not None
    if password is None:
        password = environment_password()
    if flags.socket is not None:  # redis-cli: "-s <socket> (overrides hostname and port)"
        return CliTarget(_socket_target(flags.socket, db, user, password), on_command_line)
    details = Details(password, user, db, tls)
    url = redis_url(host, port, details, db=db)
    return CliTarget(
        parse_redis(url, "flag", tls_options, option="-h/-p", use_env=False), on_command_line
    )


def _parse_u(raw: str, tls_options: TLSOptions) -> Target:
    scheme = raw.strip().partition("://")[0].lower()
    if scheme not in ("redis", "rediss"):
        raise UsageError(
            "-u takes a redis:// or rediss:// URL, as redis-cli's does (a socket is -s PATH)"
        )
    return parse_redis(raw, "flag", tls_options, option="-u URL", use_env=False)


def _socket_target(path: str, db: int, user: str | None, password: str | None) -> Target:
    if not path:
        raise UsageError("-s needs the path of a unix socket")
    remember_secret(password)
    name = f"unix://{path}" + (f"?db={db}" if db else "")
    return Target("redis", name, "flag", unix_path=path, db=db, username=user, password=password)


def refine_bare(text: str, kind: str, details: Details) -> str:
    """A `--redis`/`--memcached` value given without a scheme, with the flags' details."""
    if not is_bare(text) or not details.given:
        return text
    if kind == "memcached":
        return f"memcacheds://{text.strip()}" if details.tls else text
    userinfo = _userinfo(details.user, details.password)
    text = text.strip()
    # host:port/2 names its database itself; -n fills it in only where it does not.
    database = f"/{details.db}" if details.db is not None and "/" not in text else ""
    return f"{'rediss' if details.tls else 'redis'}://{userinfo}{text}{database}"
