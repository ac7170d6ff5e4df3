"""`cachediag purge` against real Redis servers: what it deletes, and everything it must not."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import cachediag_binary
from servers import RedisServer, start_stalling_redis
from test_schemas import assert_valid

NEIGHBOURS = [b"users:1", b"user", b"session:user:1", b"xuser:1"]


@pytest.fixture
def debug_redis(tmp_path: Path) -> Any:
    """A Redis whose DEBUG command works (DEBUG DIGEST, DEBUG SLEEP)."""
    server = start_stalling_redis(tmp_path / "redis")
    yield server
    server.stop()


def seed(server: RedisServer, count: int, prefix: str = "user:", value: bytes = b"v") -> None:
    client = server.client()
    pipe = client.pipeline(transaction=False)
    for i in range(count):
        pipe.set(f"{prefix}{i}", value)
        if i % 5000 == 4999:
            pipe.execute()
    pipe.execute()


def keys(server: RedisServer) -> set[bytes]:
    return set(server.client().scan_iter(count=1000))


def digest(server: RedisServer) -> bytes:
    return server.client().execute_command("DEBUG", "DIGEST")


def commandstats(server: RedisServer) -> dict[str, int]:
    info = server.client().info("commandstats")
    return {name.removeprefix("cmdstat_"): v["calls"] for name, v in info.items()}


def test_a_pattern_leaves_its_neighbours(redis_server: RedisServer, cachediag: Any) -> None:
    seed(redis_server, 500)
    client = redis_server.client()
    for key in NEIGHBOURS:
        client.set(key, b"keep")
    run = cachediag("purge", "--redis", redis_server.url, "--pattern", "user:*", "--yes")
    assert run.code == 0, run.err
    assert keys(redis_server) == set(NEIGHBOURS)
    assert "deleted 500 of 500 matched" in run.out
    sent = commandstats(redis_server)
    assert sent.get("unlink", 0) >= 1 and "keys" not in sent and "flushdb" not in sent


def test_glob_characters_in_names_are_deleted_by_name_only(
    redis_server: RedisServer, cachediag: Any
) -> None:
    client = redis_server.client()
    for key in (b"user:[1]", b"user:*", b"user:1", b"user:?"):
        client.set(key, b"x")
    run = cachediag("purge", "--redis", redis_server.url, "user:[1]", "--yes")
    assert run.code == 0, run.err
    assert keys(redis_server) == {b"user:*", b"user:1", b"user:?"}
    run = cachediag("purge", "--redis", redis_server.url, "user:*", "--yes")
    assert run.code == 0
    assert keys(redis_server) == {b"user:1", b"user:?"}
    assert "taken as a key name, not a pattern" in run.err


def test_the_dry_run_changes_nothing(debug_redis: RedisServer, cachediag: Any) -> None:
    seed(debug_redis, 2000)
    seed(debug_redis, 100, prefix="session:")
    before, stats = digest(debug_redis), commandstats(debug_redis)
    run = cachediag("purge", "--redis", debug_redis.url, "--pattern", "user:*", "--dry-run")
    assert run.code == 0, run.err
    assert digest(debug_redis) == before
    sent = set(commandstats(debug_redis)) - set(stats)
    assert not sent & {"unlink", "del", "evalsha", "eval", "restore"}, sent
    assert "dry run: 2,000 keys match" in run.out
    assert "estimated: MEMORY USAGE of 1,000 sampled keys" in run.out
    assert "user:*" in run.out and "--yes" in run.out
    # Without --yes and off a terminal: the dry run, then a refusal (exit 2).
    run = cachediag("purge", "--redis", debug_redis.url, "--pattern", "user:*")
    assert run.code == 2
    assert "not on a terminal" in run.err and "dry run: 2,000 keys match" in run.out
    assert digest(debug_redis) == before


@pytest.mark.parametrize("pattern", ["*", "", "**"])
def test_a_pattern_of_everything_is_refused(
    redis_server: RedisServer, cachediag: Any, pattern: str
) -> None:
    seed(redis_server, 10)
    run = cachediag("purge", "--redis", redis_server.url, "--pattern", pattern, "--yes")
    assert run.code == 2 and "--all-keys" in run.err and "Traceback" not in run.err
    assert len(keys(redis_server)) == 10
    allowed = cachediag(
        "purge", "--redis", redis_server.url, "--pattern", pattern or "*", "--all-keys", "--dry-run"
    )
    assert allowed.code == 0 and "10 keys match" in allowed.out


def test_nothing_named_is_a_usage_error(redis_server: RedisServer, cachediag: Any) -> None:
    run = cachediag("purge", "--redis", redis_server.url)
    assert run.code == 2 and "nothing to purge" in run.err


def test_json_report_and_progress(redis_server: RedisServer, cachediag: Any) -> None:
    seed(redis_server, 3000)
    seed(redis_server, 50, prefix="user:profile:")
    run = cachediag(
        "purge",
        "--redis",
        redis_server.url,
        "--pattern",
        "user:*",
        "--yes",
        "--json",
        "--progress",
    )
    assert run.code == 0, run.err
    document = run.json()
    assert_valid("purge", document)
    row = document["targets"][0]["purge"]
    assert (row["matched"], row["deleted"], row["already_gone"], row["changed"]) == (
        3050,
        3050,
        0,
        0,
    )
    assert {n["namespace"]: n["keys"] for n in row["namespaces"]} == {
        "user:*": 3000,
        "user:profile:*": 50,
    }
    assert row["bytes"]["method"] == "sampled" and row["bytes"]["estimated"] > 0
    assert row["complete"] and row["read_back"]["still_present"] == 0
    assert "matched" in run.err and "deleted" in run.err and "paused" in run.err
    assert keys(redis_server) == set()
    # The dry run's document validates too.
    seed(redis_server, 5)
    dry = cachediag(
        "purge", "--redis", redis_server.url, "--pattern", "user:*", "--json", "--dry-run"
    )
    assert_valid("purge", dry.json())
    assert dry.json()["targets"][0]["purge"]["matched"] == 5


def test_named_keys_twice_are_deleted_and_counted_once(
    redis_server: RedisServer, cachediag: Any
) -> None:
    client = redis_server.client()
    client.set("a", 1)
    client.set("b", 1)
    run = cachediag(
        "purge", "--redis", redis_server.url, "a", "a", "b", "missing", "--yes", "--json"
    )
    row = run.json()["targets"][0]["purge"]
    assert (row["matched"], row["deleted"], row["duplicates"], row["not_found"]) == (2, 2, 1, 1)
    assert keys(redis_server) == set()


def test_sync_deletes_with_del(redis_server: RedisServer, cachediag: Any) -> None:
    seed(redis_server, 100)
    run = cachediag("purge", "--redis", redis_server.url, "--pattern", "user:*", "--yes", "--sync")
    assert run.code == 0
    sent = commandstats(redis_server)
    assert sent.get("del", 0) >= 1 and "unlink" not in sent
    assert keys(redis_server) == set()


def test_a_target_that_is_down(cachediag: Any, closed_port: int) -> None:
    run = cachediag(
        "purge", "--redis", f"127.0.0.1:{closed_port}", "--pattern", "a:*", "--yes", "--json"
    )
    assert run.code == 1
    assert_valid("purge", run.json())
    assert run.json()["targets"][0]["status"] == "down"


def test_confirmation_on_a_terminal_shows_the_count(redis_server: RedisServer, tmp_path) -> None:
    seed(redis_server, 42)
    main, secondary = pty.openpty()
    proc = subprocess.Popen(
        [cachediag_binary(), "purge", "--redis", redis_server.url, "--pattern", "user:*"],
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
    assert b"UNLINK 42 keys matching 'user:*'" in seen
    os.write(main, b"y\n")
    assert proc.wait(20) == 0
    os.close(main)
    assert keys(redis_server) == set()


def test_backup_file_is_private_and_names_the_masked_target(
    redis_factory: Any, cachediag: Any, tmp_path: Path
) -> None:
    server = redis_factory(password="s3cret-pw")
    seed(server, 300)
    backup = tmp_path / "users.bak"
    run = cachediag(
        "purge",
        "--redis",
        server.url,
        "--pattern",
        "user:*",
        "--yes",
        "--backup",
        str(backup),
        "--json",
    )
    assert run.code == 0, run.err
    assert run.json()["targets"][0]["purge"]["backup"] == {"file": str(backup), "records": 300}
    assert backup.stat().st_mode & 0o777 == 0o600
    data = backup.read_bytes()
    assert b"s3cret-pw" not in data and b"***" in data.split(b"\n")[1]
    assert keys(server) == set()
    again = cachediag(
        "purge", "--redis", server.url, "--pattern", "user:*", "--yes", "--backup", str(backup)
    )
    assert again.code == 2 and "never overwritten" in again.err
    dry = cachediag("purge", "--redis", server.url, "--restore", str(backup), "--dry-run")
    assert dry.code == 0 and "would restore 300 of 300 keys" in dry.out
    assert keys(server) == set()
    done = cachediag("purge", "--redis", server.url, "--restore", str(backup), "--yes", "--json")
    assert done.code == 0, done.err
    assert_valid("purge", done.json())
    assert done.json()["targets"][0]["restore"]["restored"] == 300
    assert len(keys(server)) == 300
    twice = cachediag("purge", "--redis", server.url, "--restore", str(backup), "--yes")
    assert "already present 300" in twice.out


def slow_purge(server: RedisServer, tmp_path: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            cachediag_binary(),
            "purge",
            "--redis",
            server.url,
            "--pattern",
            "user:*",
            "--yes",
            "--rate",
            "5000",
            "--count",
            "100",
            "--checkpoint",
            str(tmp_path / "cp.json"),
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )


def test_ctrl_c_stops_after_the_batch_and_resume_finishes(
    redis_server: RedisServer, tmp_path: Path, cachediag: Any
) -> None:
    import signal

    seed(redis_server, 20_000)
    redis_server.client().set("keep", 1)
    proc = slow_purge(redis_server, tmp_path)
    time.sleep(1.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "stopped (interrupted) at cursor" in out and "--resume" in out
    left = len(keys(redis_server))
    assert 1 < left < 20_001
    deleted = int(out.split("deleted ")[1].split(" ")[0].replace(",", ""))
    assert deleted == 20_001 - left  # what it says it deleted is what is gone
    checkpoint = tmp_path / "cp.json"
    assert checkpoint.stat().st_mode & 0o777 == 0o600
    run = cachediag(
        "purge",
        "--redis",
        redis_server.url,
        "--pattern",
        "user:*",
        "--yes",
        "--resume",
        "--checkpoint",
        str(checkpoint),
    )
    assert run.code == 0, run.err
    assert keys(redis_server) == {b"keep"}
    assert not checkpoint.exists()
    missing = cachediag(
        "purge",
        "--redis",
        redis_server.url,
        "--pattern",
        "user:*",
        "--yes",
        "--resume",
        "--checkpoint",
        str(checkpoint),
    )
    assert missing.code == 2 and "no checkpoint" in missing.err


def test_a_server_killed_mid_purge(redis_server: RedisServer, tmp_path: Path) -> None:
    seed(redis_server, 20_000)
    proc = slow_purge(redis_server, tmp_path, "--json")
    time.sleep(1.5)
    redis_server.process.kill()
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 3, err
    document = json.loads(out)
    assert_valid("purge", document)
    row = document["targets"][0]
    assert row["error"]["kind"] in ("closed", "refused", "unreachable")
    report = row["purge"]
    assert report["stop_reason"] == "server-error" and 0 < report["deleted"] < 20_000
    assert report["checkpoint"] == str(tmp_path / "cp.json")
    saved = json.loads((tmp_path / "cp.json").read_text())
    assert saved["cursor"] == report["cursor"] and saved["patterns"] == ["user:*"]
    assert "Traceback" not in err


def test_memcached_pattern_purge_end_to_end(memcached_server: Any, cachediag: Any) -> None:
    from pymemcache.client.base import Client

    app = Client(("127.0.0.1", memcached_server.port), default_noreply=False)
    for i in range(200):
        app.set(f"user:{i}", b"x")
    for key in ("users:1", "user", "session:user:1"):
        app.set(key, b"keep")
    dry = cachediag(
        "purge",
        "--memcached",
        memcached_server.address,
        "--pattern",
        "user:*",
        "--json",
        "--dry-run",
    )
    assert_valid("purge", dry.json())
    assert dry.json()["targets"][0]["purge"]["matched"] == 200 and app.get("user:1") == b"x"
    run = cachediag(
        "purge", "--memcached", memcached_server.address, "--pattern", "user:*", "--yes"
    )
    assert run.code == 0, run.err
    assert "deleted 200 of 200 matched" in run.out
    assert app.get("user:1") is None and app.get("users:1") == b"keep"
    assert app.get("user") == b"keep" and app.get("session:user:1") == b"keep"
    refused = cachediag(
        "purge",
        "--memcached",
        memcached_server.address,
        "--pattern",
        "user:*",
        "--invalid",
        "--yes",
    )
    assert refused.code == 2 and "metadata only" in refused.err
    backup = cachediag(
        "purge",
        "--memcached",
        memcached_server.address,
        "--pattern",
        "user:*",
        "--yes",
        "--backup",
        "x.bak",
    )
    assert backup.code == 2 and "Memcached has no DUMP" in backup.err


def test_hostile_key_names_are_escaped_and_deleted_exactly(
    redis_server: RedisServer, cachediag: Any
) -> None:
    client = redis_server.client()
    hostile = b"user:\x1b[31mred\x07\n[bold]x[/]"
    client.set(hostile, b"x")
    client.set(b"user:\xff\xfe", b"x")
    run = cachediag("purge", "--redis", redis_server.url, "--pattern", "user:*", "--dry-run")
    assert run.code == 0
    assert "\x1b" not in run.out and "\x07" not in run.out and "2 keys match" in run.out
    run = cachediag("purge", "--redis", redis_server.url, "--pattern", "user:*", "--yes", "--json")
    assert run.json()["targets"][0]["purge"]["deleted"] == 2 and keys(redis_server) == set()


def test_ctrl_c_with_backup_then_resume_keeps_every_key_in_a_backup(
    redis_server: RedisServer, tmp_path: Path, cachediag: Any
) -> None:
    import signal

    seed(redis_server, 20_000)
    proc = slow_purge(redis_server, tmp_path, "--backup", str(tmp_path / "b1.bak"))
    time.sleep(1.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "backup: " in out
    assert 0 < len(keys(redis_server)) < 20_000
    run = cachediag(
        "purge",
        "--redis",
        redis_server.url,
        "--pattern",
        "user:*",
        "--yes",
        "--resume",
        "--checkpoint",
        str(tmp_path / "cp.json"),
        "--backup",
        str(tmp_path / "b2.bak"),
    )
    assert run.code == 0, run.err
    assert keys(redis_server) == set()
    for backup in ("b1.bak", "b2.bak"):
        done = cachediag(
            "purge", "--redis", redis_server.url, "--restore", str(tmp_path / backup), "--yes"
        )
        assert done.code == 0, done.err
    assert keys(redis_server) == {f"user:{i}".encode() for i in range(20_000)}
