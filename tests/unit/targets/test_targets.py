"""Target parsing: what users type becomes a Target, and passwords never show."""

from __future__ import annotations

import pytest

from cachediag.errors import UsageError
from cachediag.safety.secrets import mask_secrets
from cachediag.targets.parse import (
    TargetRequest,
    parse_memcached,
    parse_redis,
    resolve_targets,
)


@pytest.mark.parametrize(
    ("url", "name", "host", "port", "db", "user", "password"),
    [
        ("redis://127.0.0.1", "redis://127.0.0.1:6379/0", "127.0.0.1", 6379, 0, None, None),
        ("redis://u:p@h:7000/3", "redis://u:***@h:7000/3", "h", 7000, 3, "u", "p"),
        ("redis://:s3cret@h", "redis://:***@h:6379/0", "h", 6379, 0, None, "s3cret"),
        ("redis://s3cret@h", "redis://:***@h:6379/0", "h", 6379, 0, None, "s3cret"),
        ("localhost:6380", "redis://localhost:6380/0", "localhost", 6380, 0, None, None),
        ("redis://[::1]:7000/1", "redis://[::1]:7000/1", "::1", 7000, 1, None, None),
        ("redis://u:p%40ss@h", "redis://u:***@h:6379/0", "h", 6379, 0, "u", "p@ss"),
    ],
)
def test_redis_urls(url, name, host, port, db, user, password) -> None:
    target = parse_redis(url, "flag")
    assert (target.name, target.host, target.port, target.db) == (name, host, port, db)
    assert (target.username, target.password) == (user, password)
    assert "s3cret" not in repr(target) and "s3cret" not in target.name


def test_rediss_and_unix() -> None:
    assert parse_redis("rediss://h:6380", "flag").tls is True
    sock = parse_redis("unix:///run/redis.sock?db=2", "flag")
    assert (sock.unix_path, sock.db, sock.name, sock.is_local) == (
        "/run/redis.sock",
        2,
        "unix:///run/redis.sock?db=2",
        True,
    )


def test_password_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDISCLI_AUTH", "fromenv")
    target = parse_redis("redis://h", "flag")
    assert target.password == "fromenv"
    assert "fromenv" not in target.name
    monkeypatch.setenv("CACHEDIAG_REDIS_PASSWORD", "ours")
    assert parse_redis("redis://h", "flag").password == "ours"
    assert parse_redis("redis://:url@h", "flag").password == "url"  # the URL wins


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis://h:99999", "port must be a number from 1 to 65535"),
        ("redis://h:abc", "port must be a number"),
        ("http://h", "unknown scheme 'http'"),
        ("redis://h/x", "database must be a number"),
        ("unix://", "needs a path"),
        ("redis://:topsecret@h:0", "port must be"),
    ],
)
def test_bad_redis_urls(url: str, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_redis(url, "flag")
    assert message in str(caught.value)
    assert "topsecret" not in str(caught.value)


@pytest.mark.parametrize(
    ("text", "name", "port"),
    [
        ("h", "memcached://h:11211", 11211),
        ("h:1", "memcached://h:1", 1),
        ("memcached://10.0.0.1:5", "memcached://10.0.0.1:5", 5),
        ("[::1]:11212", "memcached://[::1]:11212", 11212),
    ],
)
def test_memcached_addresses(text: str, name: str, port: int) -> None:
    target = parse_memcached(text, "flag")
    assert (target.name, target.port) == (name, port)


def test_bad_memcached() -> None:
    with pytest.raises(UsageError, match="unknown scheme"):
        parse_memcached("redis://h", "flag")
    with pytest.raises(UsageError, match="port"):
        parse_memcached("h:70000", "flag")


def test_sources_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CACHEDIAG_REDIS", raising=False)
    monkeypatch.delenv("CACHEDIAG_MEMCACHED", raising=False)
    defaults = resolve_targets(TargetRequest())
    assert [(t.kind, t.name, t.source) for t in defaults] == [
        ("redis", "redis://127.0.0.1:6379/0", "default"),
        ("memcached", "memcached://127.0.0.1:11211", "default"),
    ]
    config = resolve_targets(TargetRequest(config_redis=("redis://c:1",)))
    assert [(t.name, t.source) for t in config] == [("redis://c:1/0", "config")]
    monkeypatch.setenv("CACHEDIAG_MEMCACHED", "e1:1, e2:2")
    env = resolve_targets(TargetRequest(config_redis=("redis://c:1",)))
    assert [(t.name, t.source) for t in env] == [
        ("memcached://e1:1", "env"),
        ("memcached://e2:2", "env"),
    ]
    flags = resolve_targets(TargetRequest(redis_flags=("f:1", "f:1")))
    assert [(t.name, t.source) for t in flags] == [("redis://f:1/0", "flag")]


def test_mask_secrets() -> None:
    assert mask_secrets("redis://u:pw@h and rediss://:x@y") == "redis://u:***@h and rediss://:***@y"
