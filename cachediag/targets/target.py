"""A target: one server to diagnose, named safely (its password never in its name or repr)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field


@dataclass(frozen=True)
class TLSOptions:
    ca: str | None = None
    cert: str | None = None
    key: str | None = None
    insecure: bool = False
    sni: str | None = None  # the server name to ask for (--sni), when not the host's


@dataclass(frozen=True)
class Details:
    """What redis-cli's flags (-a, --user, -n, --tls) add to a target given without a scheme."""

    password: str | None = None
    user: str | None = None
    db: int | None = None
    tls: bool = False

    @property
    def given(self) -> bool:
        return self.password is not None or self.user is not None or self.db is not None or self.tls

    def flag_names(self) -> str:
        names = [
            name
            for name, value in (
                ("-a", self.password),
                ("--user", self.user),
                ("-n", self.db),
                ("--tls", self.tls or None),
            )
            if value is not None
        ]
        return "/".join(names)


@dataclass(frozen=True)
class SentinelSpec:
    """redis+sentinel://: the sentinels to ask, the master's name, the sentinels' password
    (the data nodes' is the target's own)."""

    addresses: tuple[tuple[str, int], ...]
    master: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Target:
    kind: str  # "redis" or "memcached"
    name: str  # masked, safe to print
    source: str  # flag, env, config, default
    host: str | None = None
    port: int | None = None
    unix_path: str | None = None
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: bool = False
    tls_options: TLSOptions = field(default_factory=TLSOptions)
    # A node of a system (a Redis Cluster, a Memcached pool, a Sentinel-managed set): the
    # system's name, and the node's part in it ("primary", "replica", "server").
    system: str | None = None
    role: str | None = None
    node_id: str | None = None
    sentinel: SentinelSpec | None = None  # a Sentinel-managed primary, resolved by expand

    @property
    def is_default(self) -> bool:
        return self.source == "default"

    @property
    def address(self) -> str:
        if self.unix_path:
            return self.unix_path
        host = f"[{self.host}]" if self.host and ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def is_local(self) -> bool:
        """True when the server runs on this machine (its files and sysctls are ours to read)."""
        if self.unix_path:
            return True
        host = (self.host or "").lower()
        if host in ("localhost", "ip6-localhost"):
            return True
        try:
            return ipaddress.ip_address(host).is_loopback or host in _local_addresses()
        except ValueError:
            return False


def _local_addresses() -> set[str]:
    try:
        import psutil  # local import: `cachediag --help` must not pay for psutil
    except ImportError:  # pragma: no cover
        return set()
    return {
        addr.address.split("%")[0]
        for addrs in psutil.net_if_addrs().values()
        for addr in addrs
        if addr.address
    }
