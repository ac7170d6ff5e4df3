"""Positional targets: a bare HOST:PORT is asked what it speaks; a URL's scheme decides."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from servers import LoopbackServer, MemcachedServer, start_memcached_tls


class Recorder(LoopbackServer):
    """Records the bytes it receives and answers `reply` to the first of them."""

    def __init__(self, reply: bytes) -> None:
        self.reply = reply
        self.received = b""
        super().__init__()

    def handle(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        try:
            self.received += conn.recv(1024)
            conn.sendall(self.reply)
        except OSError:
            pass


@pytest.fixture
def tls_memcached(tmp_path: Path) -> Iterator[tuple[MemcachedServer, str]]:
    server = start_memcached_tls(tmp_path / "mc-tls")
    yield server, str(tmp_path / "mc-tls" / "ca.crt")
    server.stop()


def targets(run) -> list[dict]:  # type: ignore[no-untyped-def]
    assert run.code in (0, 1), run.err
    return run.json()["targets"]  # type: ignore[no-any-return]


def test_redis_and_memcached_are_told_apart(cachediag, redis_server, memcached_server) -> None:
    run = cachediag("ping", redis_server.address, memcached_server.address, "--json")
    rows = targets(run)
    assert [(r["kind"], r["status"]) for r in rows] == [
        ("redis", "healthy"),
        ("memcached", "healthy"),
    ]
    assert rows[0]["target"] == f"redis://{redis_server.address}/0"
    assert rows[1]["target"] == f"memcached://{memcached_server.address}"
    assert run.code == 0


def test_a_password_protected_redis_is_still_heard_as_redis(cachediag, redis_factory) -> None:
    server = redis_factory(password="pw-123")
    run = cachediag("ping", server.address, "--json")
    (row,) = targets(run)
    assert row["kind"] == "redis" and row["status"] == "unhealthy"  # NOAUTH: Redis, locked
    (ok,) = targets(cachediag("ping", server.address, "-a", "pw-123", "--json"))
    assert ok["status"] == "healthy"


def test_memory_of_a_positional_memcached(cachediag, memcached_server) -> None:
    run = cachediag("memory", memcached_server.address, "--json")
    assert run.code == 0, run.err
    assert run.json()["targets"][0]["target"] == f"memcached://{memcached_server.address}"


def test_check_takes_several(cachediag, redis_server, memcached_server) -> None:
    run = cachediag(
        "check", redis_server.address, memcached_server.address, "--only", "*.running", "-f", "json"
    )
    assert run.code == 0, run.err
    kinds = {t["name"]: t["kind"] for t in run.json()["targets"]}
    assert kinds == {
        f"redis://{redis_server.address}/0": "redis",
        f"memcached://{memcached_server.address}": "memcached",
    }


def test_the_probe_is_one_ping_line() -> None:
    server = Recorder(b"+PONG\r\n")
    try:
        from cachediag.targets.autodetect import detect
        from cachediag.targets.target import Details, TLSOptions

        found = detect(f"127.0.0.1:{server.port}", Details(), TLSOptions(), 2)
        assert found.target.kind == "redis"
        assert server.received == b"PING\r\n"  # the documented bytes, and nothing else
    finally:
        server.close()


def test_neither_protocol_is_a_usage_error(cachediag) -> None:
    server = Recorder(b"HTTP/1.1 400 Bad Request\r\n\r\n")
    try:
        run = cachediag("ping", f"127.0.0.1:{server.port}")
    finally:
        server.close()
    assert run.code == 2
    assert "neither Redis nor Memcached" in run.err and "HTTP server" in run.err


def test_silence_or_nothing_listening_on_an_unknown_port(
    cachediag, silent_server, closed_port
) -> None:
    silent = cachediag("ping", f"127.0.0.1:{silent_server.port}", "--timeout", "0.5")
    assert silent.code == 2 and "cannot tell what it is" in silent.err and "timed out" in silent.err
    refused = cachediag("ping", f"127.0.0.1:{closed_port}")
    assert refused.code == 2 and "refused" in refused.err and "redis://" in refused.err


def test_a_well_known_port_with_nothing_listening_is_taken_by_its_port(
    monkeypatch, closed_port
) -> None:
    from cachediag.targets import autodetect
    from cachediag.targets.target import Details, TLSOptions

    monkeypatch.setitem(autodetect.WELL_KNOWN_PORTS, closed_port, "memcached")
    found = autodetect.detect(f"127.0.0.1:{closed_port}", Details(), TLSOptions(), 1)
    assert found.target.kind == "memcached"
    assert found.note and "taken as Memcached from its port" in found.note


def test_a_url_decides_without_a_probe(cachediag, closed_port) -> None:
    run = cachediag("ping", f"memcached://127.0.0.1:{closed_port}", "--json")
    (row,) = targets(run)
    assert row["kind"] == "memcached" and row["status"] == "unhealthy"


def test_a_bare_address_needs_its_port(cachediag) -> None:
    run = cachediag("ping", "cache.internal")
    assert run.code == 2 and "give its port" in run.err


def test_a_tls_redis_port_is_found_to_speak_tls(cachediag, redis_factory) -> None:
    server = redis_factory(tls=True)
    ca = str(server.workdir / "ca.crt")
    (row,) = targets(cachediag("ping", server.address, "--cacert", ca, "--json"))
    assert row["target"] == f"rediss://{server.address}/0" and row["status"] == "healthy"
    unverified = cachediag("ping", server.address)
    assert unverified.code == 2
    assert "TLS-only" in unverified.err and "certificate verify failed" in unverified.err


def test_memcached_over_tls(cachediag, tls_memcached) -> None:
    server, ca = tls_memcached
    url = f"memcacheds://{server.address}"
    (row,) = targets(cachediag("ping", url, "--cacert", ca, "--json"))
    assert (row["target"], row["status"]) == (url, "healthy")
    (flag,) = targets(
        cachediag("ping", "--memcached", server.address, "--tls", "--cacert", ca, "--json")
    )
    assert (flag["target"], flag["status"]) == (url, "healthy")
    (found,) = targets(cachediag("ping", server.address, "--cacert", ca, "--json"))
    assert (found["target"], found["kind"]) == (url, "memcached")
    run = cachediag("memory", url, "--cacert", ca, "--json")
    assert run.code == 0, run.err


def test_plain_text_to_a_tls_only_memcached_says_so(cachediag, tls_memcached) -> None:
    server, _ = tls_memcached
    run = cachediag("ping", "--memcached", server.address, "--json")
    (row,) = targets(run)
    assert row["status"] == "unhealthy"
    assert "TLS-only port? try memcacheds://" in row["error"]["message"]


def test_a_unix_socket_is_asked_too(cachediag, redis_factory) -> None:
    server = redis_factory(unix_socket=True, password="sock-pw-42")
    run = cachediag("ping", f"unix://{server.unix_socket}", "-a", "sock-pw-42", "-n", "1", "--json")
    (row,) = targets(run)
    assert (row["kind"], row["status"]) == ("redis", "healthy")
    assert row["target"] == f"unix://{server.unix_socket}?db=1"
    assert "sock-pw-42" not in run.out + run.err
