"""`cachediag eviction-policy`: verdict and fix; --set validated, confirmed, applied, verified."""

from __future__ import annotations

import os
import pty
import select
import shlex
import subprocess
import time
from pathlib import Path

import pytest
from conftest import cachediag_binary
from servers import free_port, require

from cachediag.errors import UsageError
from cachediag.server.eviction import (
    parse_size,
    plan,
    redis_fix,
    suggested_maxmemory,
    validate_policy,
)
from cachediag.targets.target import Target, TLSOptions


def config_get(server, name: str) -> str:  # type: ignore[no-untyped-def]
    return server.cli("CONFIG", "GET", name).split("\n")[1]


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("2gb", 2 * 1024**3),
        ("512mb", 512 * 1024**2),
        ("100000000", 100_000_000),
        ("1g", 10**9),
        ("64KB", 65536),
        ("0", 0),
    ],
)
def test_sizes_use_redis_units(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "2 tb", "-1", "1.5gb", "lots"])
def test_bad_sizes_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError, match="invalid --maxmemory"):
        parse_size(text)


def test_policy_validation_lists_the_valid_ones() -> None:
    assert validate_policy("AllKeys-LRU") == "allkeys-lru"
    with pytest.raises(UsageError, match="noeviction, allkeys-lru") as error:
        validate_policy("no-eviction")
    assert "Redis spells it noeviction" in str(error.value)


def test_plan_changes_only_what_differs() -> None:
    row = {"maxmemory_policy": "noeviction", "maxmemory": 0}
    assert [c["parameter"] for c in plan(row, "allkeys-lru", 1024)] == [
        "maxmemory-policy",
        "maxmemory",
    ]
    assert plan({"maxmemory_policy": "allkeys-lru", "maxmemory": 1024}, "allkeys-lru", 1024) == []
    assert suggested_maxmemory(100) == "2gb" and suggested_maxmemory(4 * 1024**3) == "6gb"


def test_show_noeviction_with_fix_commands(cachediag, redis_factory) -> None:
    server = redis_factory()
    run = cachediag("eviction-policy", "--redis", server.url, "--json")
    assert run.code == 1
    doc = run.json()
    assert doc["schema"] == "cachediag.eviction-policy/v1"
    (row,) = doc["targets"]
    assert row["maxmemory"] == 0 and row["maxmemory_policy"] == "noeviction"
    verdicts = {v["check"]: v for v in row["verdicts"]}
    assert verdicts["redis.eviction_policy"]["status"] == "fail"
    assert verdicts["redis.memory"]["status"] == "warn"
    cli = f"redis-cli -h 127.0.0.1 -p {server.port}"
    assert f"{cli} CONFIG SET maxmemory-policy allkeys-lru" in row["fix"]
    assert f"{cli} CONFIG SET maxmemory 2gb" in row["fix"]
    assert any(
        c.startswith("cachediag eviction-policy") and "--set allkeys-lru" in c for c in row["fix"]
    )


def test_show_good_policy_passes_without_fix(cachediag, redis_server) -> None:
    run = cachediag("eviction-policy", "--redis", redis_server.url)
    assert run.code == 0
    assert "allkeys-lru" in run.out and "to fix" not in run.out


def test_set_applied_and_verified(cachediag, redis_factory) -> None:
    server = redis_factory()
    run = cachediag(
        "eviction-policy",
        "--redis",
        server.url,
        "--set",
        "allkeys-lru",
        "--maxmemory",
        "128mb",
        "--yes",
        "--json",
    )
    assert run.code == 0, run.err
    assert "maxmemory-policy noeviction → allkeys-lru" in run.err  # the plan, beside the JSON
    (row,) = run.json()["targets"]
    assert row["outcome"]["verified"] is True and row["outcome"]["error"] is None
    assert {c["parameter"]: c["read_back"] for c in row["outcome"]["changes"]} == {
        "maxmemory-policy": "allkeys-lru",
        "maxmemory": str(128 * 1024**2),
    }
    assert row["maxmemory_policy"] == "allkeys-lru"  # the settings are shown as they are now
    assert config_get(server, "maxmemory-policy") == "allkeys-lru"
    assert config_get(server, "maxmemory") == str(128 * 1024**2)


def test_refused_without_confirmation_when_not_a_terminal(cachediag, redis_factory) -> None:
    server = redis_factory()
    run = cachediag("eviction-policy", "--redis", server.url, "--set", "allkeys-lru", input="y\n")
    assert run.code == 2
    assert "refusing" in run.err and "--yes" in run.err and "Traceback" not in run.err
    assert config_get(server, "maxmemory-policy") == "noeviction"


def test_invalid_policy_rejected_before_anything_is_written(cachediag, redis_factory) -> None:
    server = redis_factory()
    run = cachediag("eviction-policy", "--redis", server.url, "--set", "lru-all", "--yes")
    assert run.code == 2
    assert "invalid eviction policy 'lru-all'" in run.err and "volatile-ttl" in run.err
    assert config_get(server, "maxmemory-policy") == "noeviction"
    bad_size = cachediag(
        "eviction-policy",
        "--redis",
        server.url,
        "--set",
        "allkeys-lru",
        "--maxmemory",
        "2tb",
        "--yes",
    )
    assert bad_size.code == 2 and "invalid --maxmemory" in bad_size.err
    assert config_get(server, "maxmemory-policy") == "noeviction"
    alone = cachediag("eviction-policy", "--redis", server.url, "--maxmemory", "1gb")
    assert alone.code == 2 and "--set" in alone.err


def test_confirmation_on_a_terminal(redis_factory, tmp_path) -> None:
    server = redis_factory()
    main, secondary = pty.openpty()
    proc = subprocess.Popen(
        [cachediag_binary(), "eviction-policy", "--redis", server.url, "--set", "allkeys-lfu"],
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        cwd=tmp_path,
    )
    os.close(secondary)
    seen = b""
    deadline = time.monotonic() + 20
    while b"Apply these changes?" not in seen and time.monotonic() < deadline:
        if select.select([main], [], [], 0.2)[0]:
            seen += os.read(main, 65536)
    assert b"noeviction \xe2\x86\x92 allkeys-lfu" in seen
    os.write(main, b"y\n")
    assert proc.wait(20) == 0
    os.close(main)
    assert config_get(server, "maxmemory-policy") == "allkeys-lfu"


def test_rewrite_persists_to_the_config_file(cachediag, tmp_path: Path) -> None:
    port = free_port()
    conf = tmp_path / "redis.conf"
    conf.write_text(f'port {port}\nbind 127.0.0.1\nsave ""\nappendonly no\ndir {tmp_path}\n')
    proc = subprocess.Popen(
        [require("redis-server"), str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 10
        while (
            subprocess.run(
                ["redis-cli", "-p", str(port), "PING"], capture_output=True
            ).stdout.strip()
            != b"PONG"
        ):
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)
        run = cachediag(
            "eviction-policy",
            "--redis",
            f"redis://127.0.0.1:{port}",
            "--set",
            "allkeys-lru",
            "--maxmemory",
            "1gb",
            "--rewrite",
            "--yes",
        )
        assert run.code == 0, run.err
        assert "persisted with CONFIG REWRITE" in run.out
        text = conf.read_text()
        assert "maxmemory-policy allkeys-lru" in text and "maxmemory 1gb" in text
    finally:
        proc.terminate()
        proc.wait(5)


def test_rewrite_without_a_config_file_is_reported(cachediag, redis_factory) -> None:
    server = redis_factory()
    run = cachediag(
        "eviction-policy", "--redis", server.url, "--set", "allkeys-lru", "--rewrite", "--yes"
    )
    assert run.code == 1
    assert "CONFIG REWRITE failed" in run.out and "will not survive a restart" in run.out
    assert config_get(server, "maxmemory-policy") == "allkeys-lru"  # the live change stands


def test_config_denied_user_cannot_set(cachediag, redis_factory) -> None:
    server = redis_factory()
    server.cli("ACL", "SETUSER", "viewer", "on", ">pw", "~*", "+@all", "-config")
    run = cachediag(
        "eviction-policy",
        "--redis",
        f"redis://viewer:pw@127.0.0.1:{server.port}/0",
        "--set",
        "allkeys-lru",
        "--yes",
        "--json",
    )
    assert run.code == 1
    (row,) = run.json()["targets"]
    assert row["maxmemory_policy"] == "noeviction"  # still read, from INFO
    assert "CONFIG is unavailable" in row["outcome"]["error"]
    assert config_get(server, "maxmemory-policy") == "noeviction"


def test_memcached_shows_restart_flags(cachediag, memcached_factory) -> None:
    server = memcached_factory("-m", "32", "-M")
    run = cachediag("eviction-policy", "--memcached", server.address, "--json")
    assert run.code == 1
    (row,) = run.json()["targets"]
    assert row["evictions"] == "off" and row["limit_maxbytes"] == 32 * 1024**2
    assert row["restart_flags"]["text"] == "-m 32 -M"
    assert {v["check"]: v["status"] for v in row["verdicts"]}["memcached.eviction_policy"] == "fail"
    assert any("without -M" in fix and "memcached -m 32" in fix for fix in row["fix"])

    refused = cachediag(
        "eviction-policy", "--memcached", server.address, "--set", "allkeys-lru", "--yes"
    )
    assert refused.code == 2 and "at runtime" in refused.err and "-M" in refused.err


def test_fix_commands_paste_as_is_with_tls_files_and_odd_names() -> None:
    """What eviction-policy prints to fix a target is pasted into a shell at 3 a.m.: every
    word quoted, the TLS files redis-cli needs to connect at all, the password asked for."""
    target = Target(
        kind="redis",
        name="rediss://o'brien:***@cache.internal:6380/2",
        source="flag",
        host="cache.internal",
        port=6380,
        db=2,
        username="o'brien",
        password="pw; rm -rf /",
        tls=True,
        tls_options=TLSOptions(ca="/etc/ssl/our ca.pem", cert="/etc/ssl/c.pem", key="/k.pem"),
    )
    row = {
        "verdicts": [{"check": "redis.eviction_policy", "status": "fail"}],
        "maxmemory": 0,
        "maxmemory_policy": "noeviction",
        "used_memory": 1000,
    }
    fix = redis_fix(target, row)
    cli = ["redis-cli", "-h", "cache.internal", "-p", "6380", "--tls"]
    cli += ["--cacert", "/etc/ssl/our ca.pem", "--cert", "/etc/ssl/c.pem", "--key", "/k.pem"]
    cli += ["--user", "o'brien", "--askpass"]
    assert [shlex.split(c, comments=True) for c in fix] == [
        [*cli, "CONFIG", "SET", "maxmemory", "2gb"],
        [*cli, "CONFIG", "SET", "maxmemory-policy", "allkeys-lru"],
        [*cli, "CONFIG", "REWRITE"],
        [
            "cachediag",
            "eviction-policy",
            "--redis",
            "rediss://o'brien:***@cache.internal:6380/2",
            "--tls-ca",
            "/etc/ssl/our ca.pem",
            "--tls-cert",
            "/etc/ssl/c.pem",
            "--tls-key",
            "/k.pem",
            "--set",
            "allkeys-lru",
            "--maxmemory",
            "2gb",
            "--rewrite",
        ],
    ]
    assert "pw; rm" not in "\n".join(fix)
    assert fix[-1].endswith("# put the password in place of ***")
