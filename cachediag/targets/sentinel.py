"""redis+sentinel://[user:password@]host:26379[,host2:26379]/<master-name>: a primary and
its replicas as Redis Sentinel knows them.

The URL's password is the sentinels' (Sentinel has its own requirepass); the data nodes'
comes from CACHEDIAG_REDIS_PASSWORD or REDISCLI_AUTH, as for any redis:// target. The
target names the set; `backends.expand` asks the sentinels for the nodes.
"""

from __future__ import annotations

import os
from urllib.parse import unquote

from cachediag.errors import UsageError
from cachediag.safety.secrets import remember_secret
from cachediag.targets.target import SentinelSpec, Target, TLSOptions

SCHEME = "redis+sentinel"
DEFAULT_PORT = 26379


def _address(raw: str, part: str) -> tuple[str, int]:
    host, _, port = part.rpartition(":") if part.count(":") == 1 else (part, "", "")
    host = host or part
    if not host or any(c in host for c in "/@?#[] "):
        raise UsageError(f"invalid --redis URL '{raw}': '{part}' is not host[:port]")
    if port and not (port.isdigit() and 0 < int(port) < 65536):
        raise UsageError(f"invalid --redis URL '{raw}': port must be 1 to 65535, not '{port}'")
    return host, int(port) if port else DEFAULT_PORT


def parse_sentinel(raw: str, source: str, tls_options: TLSOptions | None = None) -> Target:
    text = raw.strip()
    remainder = text.split("://", 1)[1]
    userinfo = None
    if "@" in remainder:
        userinfo, _, remainder = remainder.rpartition("@")
    hosts, slash, master = remainder.partition("/")
    shown_raw = f"{SCHEME}://{'***@' if userinfo else ''}{remainder}"
    master = unquote(master.strip("/"))
    if not slash or not master:
        raise UsageError(
            f"invalid --redis URL '{shown_raw}': name the master, "
            "redis+sentinel://host:26379/mymaster"
        )
    addresses = tuple(_address(shown_raw, part) for part in hosts.split(",") if part)
    if not addresses:
        raise UsageError(f"invalid --redis URL '{shown_raw}': no sentinel address given")
    user_text, colon, password_text = (userinfo or "").partition(":")
    username = unquote(user_text) if user_text and colon else None
    password = unquote(password_text) if colon else (unquote(user_text) if user_text else None)
    remember_secret(password)
    data_password = os.environ.get("CACHEDIAG_REDIS_PASSWORD") or os.environ.get("REDISCLI_AUTH")
    remember_secret(data_password)
    shown_user = (f"{username}:***@" if username else ":***@") if password else ""
    listed = ",".join(f"{host}:{port}" for host, port in addresses)
    return Target(
        "redis",
        f"{SCHEME}://{shown_user}{listed}/{master}",
        source,
        host=addresses[0][0],
        port=addresses[0][1],
        password=data_password,
        tls_options=tls_options or TLSOptions(),
        sentinel=SentinelSpec(addresses, master, username, password),
    )
