"""redis-cli's connection flags build the target redis-cli would connect to."""

from __future__ import annotations

import pytest

from cachediag.errors import UsageError
from cachediag.targets.parse import TargetRequest, parse_memcached, parse_redis, resolve_targets
from cachediag.targets.redis_cli import RedisCliFlags, build_cli_target, refine_bare
from cachediag.targets.target import Details, TLSOptions


def build(**flags: object) -> object:
    order = tuple(flags.pop("order", ()) or [k for k in flags if k != "no_auth_warning"])  # type: ignore[arg-type]
    built = build_cli_target(
        RedisCliFlags(**flags, order=order),  # type: ignore[arg-type]
        TLSOptions(),
        others_named=False,
    )
    assert built is not None
    return built


@pytest.fixture(autouse=True)
def no_env_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDISCLI_AUTH", raising=False)
    monkeypatch.delenv("CACHEDIAG_REDIS_PASSWORD", raising=False)


def test_host_port_password_db_and_user() -> None:
    built = build(host="10.0.0.5", port=6380, password="s3cret", user="app", db=2)
    target = built.target  # type: ignore[attr-defined]
    assert (target.host, target.port, target.db) == ("10.0.0.5", 6380, 2)
    assert (target.username, target.password) == ("app", "s3cret")
    assert target.name == "redis://app:***@10.0.0.5:6380/2"
    assert built.password_on_command_line  # type: ignore[attr-defined]


def test_defaults_are_redis_cli_s() -> None:
    target = build(port=6390).target  # type: ignore[attr-defined]
    assert (target.host, target.port, target.db, target.tls) == ("127.0.0.1", 6390, 0, False)
    assert build(host="cache").target.port == 6379  # type: ignore[attr-defined]


def test_a_later_flag_overrides_an_earlier_one_as_in_redis_cli() -> None:
    url = "redis://u:pw@a.example:6380/3"
    after = build(url=url, host="b.example", order=("url", "host")).target  # type: ignore[attr-defined]
    assert (after.host, after.port, after.db, after.password) == ("b.example", 6380, 3, "pw")
    before = build(url=url, host="b.example", order=("host", "url")).target  # type: ignore[attr-defined]
    assert before.host == "a.example"
    pw = build(url=url, password="typed", order=("url", "password")).target  # type: ignore[attr-defined]
    assert pw.password == "typed" and pw.username == "u"


def test_a_url_sets_only_the_parts_it_holds() -> None:
    # redis-cli's parseRedisUri leaves the port alone when the URL has none.
    target = build(port=6390, url="redis://h", order=("port", "url")).target  # type: ignore[attr-defined]
    assert (target.host, target.port, target.db) == ("h", 6390, 0)
    keeps_db = build(db=4, url="redis://h:1/", order=("db", "url")).target  # type: ignore[attr-defined]
    assert keeps_db.db == 4


def test_rediss_url_or_tls_flag_means_tls() -> None:
    assert build(url="rediss://h:6380").target.tls  # type: ignore[attr-defined]
    tls = build(host="h", tls=True).target  # type: ignore[attr-defined]
    assert tls.tls and tls.name == "rediss://h:6379/0"


def test_socket_overrides_host_and_port_whatever_the_order() -> None:
    target = build(socket="/run/redis.sock", host="h", db=1, order=("socket", "host", "db")).target  # type: ignore[attr-defined]
    assert target.unix_path == "/run/redis.sock" and target.host is None and target.db == 1
    assert target.name == "unix:///run/redis.sock?db=1"


def test_rediscli_auth_only_when_no_password_was_typed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDISCLI_AUTH", "from-env")
    env = build(host="h")
    assert env.target.password == "from-env"  # type: ignore[attr-defined]
    assert not env.password_on_command_line  # type: ignore[attr-defined]
    assert build(host="h", password="typed").target.password == "typed"  # type: ignore[attr-defined]


def test_u_takes_redis_urls_only() -> None:
    with pytest.raises(UsageError, match="-u takes a redis:// or rediss://"):
        build(url="unix:///run/redis.sock")
    with pytest.raises(UsageError, match="port must be a number"):
        build(url="redis://h:99999")
    with pytest.raises(UsageError, match="-h needs a host"):
        build(host=" ")


def test_details_alone_build_a_target_only_when_nothing_else_is_named() -> None:
    flags = RedisCliFlags(password="pw", order=("password",))
    alone = build_cli_target(flags, TLSOptions(), others_named=False)
    assert alone is not None and alone.target.address == "127.0.0.1:6379"
    assert build_cli_target(flags, TLSOptions(), others_named=True) is None
    assert build_cli_target(RedisCliFlags(), TLSOptions(), others_named=False) is None


def test_bare_targets_take_the_details() -> None:
    details = Details(password="p@ss/word", user="app", db=3, tls=True)
    url = refine_bare("10.0.0.5:6380", "redis", details)
    target = parse_redis(url, "flag")
    assert (target.password, target.username, target.db, target.tls) == (
        "p@ss/word",
        "app",
        3,
        True,
    )
    assert refine_bare("redis://h", "redis", details) == "redis://h"  # a URL carries its own
    assert refine_bare("h:1/5", "redis", Details(db=3)) == "redis://h:1/5"
    assert refine_bare("mc:11211", "memcached", details) == "memcacheds://mc:11211"
    assert refine_bare("mc:11211", "memcached", Details(password="x")) == "mc:11211"


def test_details_no_target_takes_are_an_error() -> None:
    request = TargetRequest(redis_flags=("redis://h",), details=Details(password="pw"))
    with pytest.raises(UsageError, match="-a apply to the Redis of -h/-p/-u/-s"):
        resolve_targets(request)
    tls_only_urls = TargetRequest(memcached_flags=("memcached://h:1",), details=Details(tls=True))
    with pytest.raises(UsageError, match="--tls apply"):
        resolve_targets(tls_only_urls)
    mixed = TargetRequest(
        redis_flags=("redis://h",), memcached_flags=("m:1",), details=Details(tls=True)
    )
    assert [t.name for t in resolve_targets(mixed)] == ["redis://h:6379/0", "memcacheds://m:1"]


def test_memcacheds_scheme_is_tls() -> None:
    target = parse_memcached("memcacheds://mc.internal:11212", "flag", TLSOptions(ca="ca.pem"))
    assert target.tls and target.tls_options.ca == "ca.pem"
    assert target.name == "memcacheds://mc.internal:11212"
    assert not parse_memcached("memcached://mc:1", "flag").tls


@pytest.mark.parametrize(
    ("parse", "url", "name"),
    [
        (parse_redis, "redis://h:6379/0?socket_timeout=5", "socket_timeout"),
        (parse_redis, "rediss://h?db=2", "db"),
        (parse_redis, "unix:///run/r.sock?db=1&timeout=3", "timeout"),
        (parse_memcached, "memcached://h:11211?noreply=1", "noreply"),
    ],
)
def test_unknown_query_parameters_are_named(parse: object, url: str, name: str) -> None:
    with pytest.raises(UsageError, match=f"unknown query parameter '{name}'"):
        parse(url, "flag")  # type: ignore[operator]
    assert parse_redis("unix:///run/r.sock?db=1", "flag").db == 1
