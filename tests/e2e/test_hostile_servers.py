"""Servers that misbehave: echo secrets, answer with the wrong types, stop half-way."""

from __future__ import annotations

import socket
import threading

import pytest
from servers import LoopbackServer


class FakeRedis(LoopbackServer):
    """A loopback server answering PING with PONG and everything else with `other`."""

    def __init__(self, other: bytes | None) -> None:
        self.other = other
        super().__init__()

    def handle(self, conn: socket.socket) -> None:
        threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        import hiredis

        reader = hiredis.Reader()
        while True:
            try:
                data = conn.recv(65536)
            except OSError:
                return
            if not data:
                return
            reader.feed(data)
            while (command := reader.gets()) is not False:
                if command[0].upper() == b"PING":
                    conn.sendall(b"+PONG\r\n")
                elif self.other is not None:
                    conn.sendall(self.other)
                # other is None: never answer anything but PING (a server that hangs)


@pytest.fixture
def fake_redis():
    servers: list[FakeRedis] = []

    def start(other: bytes | None) -> FakeRedis:
        servers.append(FakeRedis(other))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def test_password_echoed_by_the_server_is_masked(cachediag, redis_factory) -> None:
    server = redis_factory("--rename-command", "AUTH", '""')
    for fmt in ("table", "json", "markdown", "junit", "nagios", "prometheus"):
        run = cachediag(
            "check",
            "-f",
            fmt,
            "--redis",
            f"127.0.0.1:{server.port}",
            env={"REDISCLI_AUTH": "PWLEAK123"},
        )
        assert "PWLEAK123" not in run.out + run.err, fmt
    run = cachediag(
        "check",
        "--json",
        "--redis",
        f"redis://:PWLEAK123@127.0.0.1:{server.port}",
        "--only",
        "redis.running",
    )
    running = run.json()["results"][0]
    assert running["status"] == "fail" and "***" in running["summary"]
    assert "PWLEAK123" not in run.out
    for command in ("ping", "memory", "ttl", "eviction-policy"):
        other = cachediag(command, "--redis", f"redis://:PWLEAK123@127.0.0.1:{server.port}")
        assert "PWLEAK123" not in other.out + other.err, command


@pytest.mark.parametrize("reply", [b":1\r\n", b"+OK\r\n", b"*-1\r\n", b"*2\r\n:1\r\n:2\r\n"])
def test_unexpected_reply_types_never_abort_the_run(cachediag, fake_redis, reply: bytes) -> None:
    server = fake_redis(reply)
    run = cachediag(
        "check",
        "--json",
        "--redis",
        f"127.0.0.1:{server.port}",
        "--only",
        "redis.*",
        "--timeout",
        "1",
    )
    assert "Traceback" not in run.err and "internal error" not in run.err
    document = run.json()
    assert document["summary"]["exit_code"] in (1, 3)
    assert run.code == document["summary"]["exit_code"]
    commands = [["ping"], ["memory"], ["ttl"], ["eviction-policy"], ["bigkeys"], ["inspect"]]
    commands += [["watch", "--count", "1", "--interval", "0.2"], ["latency", "--samples", "5"]]
    for command, *args in commands:
        other = cachediag(command, *args, "--redis", f"127.0.0.1:{server.port}", "--timeout", "1")
        assert "Traceback" not in other.err and "internal error" not in other.err, (
            command,
            other.err,
        )
        # ping and latency only send PING, which this server answers: a fair reading.
        assert other.code != 0 or command in ("ping", "latency"), command


def test_server_that_answers_ping_then_hangs_is_an_error_not_a_pass(cachediag, fake_redis) -> None:
    server = fake_redis(None)
    run = cachediag(
        "check",
        "--json",
        "--redis",
        f"127.0.0.1:{server.port}",
        "--only",
        "Cache Issues",
        "--timeout",
        "1",
    )
    results = {r["id"]: r for r in run.json()["results"]}
    assert results["redis.running"]["status"] == "pass"
    for check_id in ("redis.ttl", "redis.hit_rate", "redis.memory", "redis.eviction_policy"):
        assert results[check_id]["status"] == "error", results[check_id]
        assert "timed out" in results[check_id]["summary"]
    assert run.code == 3
    memory = cachediag("memory", "--redis", f"127.0.0.1:{server.port}", "--timeout", "1")
    assert memory.code != 0


def test_each_sample_discloses_its_own_lookups(cachediag, redis_server) -> None:
    client = redis_server.client()
    for i in range(200):
        client.set(f"user:{i}", "v", ex=100)
    client.config_resetstat()
    cachediag("check", "--json", "--redis", redis_server.url, "--only", "redis.hit_rate")
    run = cachediag("check", "--json", "--redis", redis_server.url, "--only", "redis.hit_rate")
    result = run.json()["results"][0]
    assert result["observed"]["sample_lookups_per_run"] >= 200
    assert "the key sample then added" in result["summary"]
    # The first run's sample was the only traffic: its lookups are left out, not judged.
    assert result["status"] == "skip" and "left out" in result["summary"]
    assert sum(result["observed"]["inspection_lookups_excluded"].values()) >= 200
    quiet = cachediag(
        "check",
        "--json",
        "--redis",
        redis_server.url,
        "--only",
        "redis.hit_rate",
        "--sample-keys",
        "0",
    )
    assert "sample_lookups_per_run" not in quiet.json()["results"][0]["observed"]


def test_wrong_auth_is_not_a_network_failure(cachediag, redis_factory) -> None:
    server = redis_factory(password="right-pw")
    run = cachediag(
        "check",
        "--json",
        "--redis",
        f"redis://:wrong-pw@127.0.0.1:{server.port}",
        "--only",
        "redis.running,redis.connectivity,redis.firewall",
    )
    results = {r["id"]: r for r in run.json()["results"]}
    assert results["redis.running"]["status"] == "fail"
    assert results["redis.connectivity"]["status"] == "pass"
    assert results["redis.firewall"]["status"] == "pass"


def test_tls_and_plain_mixups_are_named(cachediag, redis_factory) -> None:
    tls = redis_factory(tls=True)
    plain_to_tls = cachediag(
        "check",
        "--json",
        "--redis",
        f"redis://127.0.0.1:{tls.port}",
        "--only",
        "redis.running",
        "--timeout",
        "1",
    )
    assert "rediss://" in plain_to_tls.json()["results"][0]["summary"]
    plain = redis_factory()
    tls_to_plain = cachediag(
        "check",
        "--json",
        "--redis",
        f"rediss://127.0.0.1:{plain.port}",
        "--only",
        "redis.running",
        "--timeout",
        "1",
    )
    assert "TLS" in tls_to_plain.json()["results"][0]["summary"]


def test_server_version_escapes_are_not_printed_raw(cachediag, fake_redis) -> None:
    info = b"# Server\r\nredis_version:\x1b]0;owned\x07 7.0\r\n"
    server = fake_redis(b"$%d\r\n%s\r\n" % (len(info), info))
    run = cachediag(
        "check", "--redis", f"127.0.0.1:{server.port}", "--only", "redis.running", "--timeout", "1"
    )
    assert "\x1b" not in run.out and "\x07" not in run.out


@pytest.mark.parametrize("fmt", ["json", "table", "markdown", "junit"])
def test_password_echoed_in_the_version_is_masked_in_output_files(
    cachediag, fake_redis, tmp_path, fmt: str
) -> None:
    """-o FILE goes through the same masking pass as stdout: a server that puts the
    password in its version string (no real Redis can be made to) leaks it nowhere."""
    info = b"# Server\r\nredis_version:7.0.15-PWLEAK123\r\nrole:master\r\n"
    server = fake_redis(b"$%d\r\n%s\r\n" % (len(info), info))
    out = tmp_path / f"report.{fmt}"
    url = f"redis://:PWLEAK123@127.0.0.1:{server.port}"
    args = ("--redis", url, "--only", "redis.running", "--timeout", "1", "--format", fmt)
    run = cachediag("check", *args, "-o", str(out))
    written = out.read_text(encoding="utf-8")
    assert "7.0.15-***" in written  # the version did reach the file, masked
    assert "PWLEAK123" not in written + run.out + run.err
    shown = cachediag("check", *args)
    assert "7.0.15-***" in shown.out and "PWLEAK123" not in shown.out + shown.err
