"""Inventories: the named, tagged targets of cachediag.toml's [[targets]] tables.

    [[targets]]
    name = "sessions-eu"
    url = "redis://10.0.0.5:6379/0"
    tags = ["eu", "sessions"]
    password_env = "SESSIONS_EU_PASSWORD"     # or password_file = "/run/secrets/sessions"

Secrets are given by reference, never inline: a password inside `url` is refused when the
file is world-readable (anyone on the machine could read it). `--target NAME` and
`--tag TAG` pick entries; with neither, and no --redis/--memcached, every entry is read.
Each entry becomes one target named by its `name`, which every output shows.
"""

from __future__ import annotations

import dataclasses
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cachediag.errors import UsageError
from cachediag.safety.secrets import remember_secret
from cachediag.targets.target import Target

ENTRY_KEYS = {"name", "url", "tags", "password_env", "password_file", "kind"}
KINDS = ("redis", "memcached")


@dataclass(frozen=True)
class Entry:
    name: str
    url: str
    kind: str
    tags: tuple[str, ...] = ()
    password_env: str | None = None
    password_file: str | None = None


def _kind_of(url: str) -> str:
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    return "memcached" if scheme == "memcached" else "redis"


def _has_inline_password(url: str) -> bool:
    if "://" not in url:
        return False
    authority = url.split("://", 1)[1]
    userinfo = authority.rpartition("@")[0] if "@" in authority else ""
    return bool(userinfo)  # redis://:pw@, redis://user:pw@ and redis://pw@ all carry one


def world_readable(path: Path) -> bool:
    try:
        return bool(path.stat().st_mode & stat.S_IROTH)
    except OSError:
        return False


def parse_entries(path: Path, raw: Any) -> tuple[Entry, ...]:
    """The [[targets]] tables, validated; one sentence naming the entry for each mistake."""
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(item, dict) for item in raw):
        raise UsageError(f"config {path}: 'targets' must be [[targets]] tables")
    entries: list[Entry] = []
    names: set[str] = set()
    readable = world_readable(path)
    for number, item in enumerate(raw, 1):
        where = f"config {path}: [[targets]] #{number}"
        unknown = sorted(set(item) - ENTRY_KEYS)
        if "password" in unknown:
            raise UsageError(
                f'{where}: no inline password; use password_env = "NAME" or password_file = "PATH"'
            )
        if unknown:
            raise UsageError(f"{where}: unknown key '{unknown[0]}' (known: {sorted(ENTRY_KEYS)})")
        name, url = item.get("name"), item.get("url")
        if not isinstance(name, str) or not name.strip():
            raise UsageError(f"{where}: 'name' must be a non-empty string")
        where = f"config {path}: target '{name}'"
        if name in names:
            raise UsageError(f"{where}: the name is used twice")
        names.add(name)
        if not isinstance(url, str) or not url.strip():
            raise UsageError(f"{where}: 'url' must be a non-empty string")
        if _has_inline_password(url) and readable:
            raise UsageError(
                f"{where}: the url holds a password and {path} is world-readable: "
                "use password_env or password_file (or chmod o-r the file)"
            )
        tags = item.get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise UsageError(f"{where}: 'tags' must be a list of strings")
        kind = item.get("kind", _kind_of(url))
        if kind not in KINDS:
            raise UsageError(f"{where}: 'kind' must be redis or memcached")
        refs = {key: item.get(key) for key in ("password_env", "password_file")}
        for key, value in refs.items():
            if value is not None and (not isinstance(value, str) or not value):
                raise UsageError(f"{where}: '{key}' must be a non-empty string")
        if refs["password_env"] and refs["password_file"]:
            raise UsageError(f"{where}: give password_env or password_file, not both")
        entries.append(
            Entry(name, url.strip(), kind, tuple(tags), refs["password_env"], refs["password_file"])
        )
    return tuple(entries)


def _password(entry: Entry, config_dir: Path) -> str | None:
    if entry.password_env:
        value = os.environ.get(entry.password_env)
        if value is None:
            raise UsageError(
                f"target '{entry.name}': environment variable {entry.password_env} is not set"
            )
        return value
    if entry.password_file:
        path = Path(entry.password_file).expanduser()
        if not path.is_absolute():
            path = config_dir / path
        try:
            return path.read_text(encoding="utf-8").rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise UsageError(
                f"target '{entry.name}': cannot read password_file {path}: {why}"
            ) from None
    return None


def select(entries: tuple[Entry, ...], names: list[str], tags: list[str]) -> list[Entry]:
    """The entries named or tagged (either); all of them when neither is given."""
    if not names and not tags:
        return list(entries)
    known = {entry.name for entry in entries}
    missing = [name for name in names if name not in known]
    if missing:
        shown = ", ".join(sorted(known)) or "none: the config has no [[targets]]"
        raise UsageError(f"--target {missing[0]}: no such target (known: {shown})")
    chosen = [e for e in entries if e.name in names or set(tags) & set(e.tags)]
    if not chosen:
        raise UsageError(f"--tag {', '.join(tags)}: no target has that tag")
    return chosen


def to_targets(entries: list[Entry], config_path: str | None, tls_options: Any) -> list[Target]:
    """Each entry as a target named by its name, its password resolved from its reference."""
    from cachediag.targets.parse import parse_memcached, parse_redis

    config_dir = Path(config_path).parent if config_path else Path.cwd()
    targets = []
    for entry in entries:
        try:
            if entry.kind == "memcached":
                parsed = parse_memcached(entry.url, "config")
            else:
                parsed = parse_redis(entry.url, "config", tls_options)
        except UsageError as exc:
            raise UsageError(f"target '{entry.name}': {exc}") from None
        password = _password(entry, config_dir)
        if password is not None:
            if entry.kind == "memcached":
                raise UsageError(f"target '{entry.name}': Memcached has no password")
            remember_secret(password)
            parsed = dataclasses.replace(parsed, password=password)
        targets.append(dataclasses.replace(parsed, name=entry.name))
    return targets
