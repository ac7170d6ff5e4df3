"""Keys a Memcached server hands back are data: they are never sent where they could be commands."""

from __future__ import annotations

import socket
import struct
import time


def binary_set(port: int, key: bytes, value: bytes) -> None:
    """SET over the binary protocol, which accepts keys with CR LF and spaces."""
    extras = struct.pack(">II", 0, 0)  # flags, exptime
    header = struct.pack(
        ">BBHBBHIIQ",
        0x80,
        0x01,
        len(key),
        len(extras),
        0,
        0,
        len(extras) + len(key) + len(value),
        0,
        0,
    )
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(header + extras + key + value)
        response = sock.recv(24)
    assert response[0] == 0x81 and struct.unpack(">H", response[6:8])[0] == 0, response


def test_a_crafted_key_cannot_flush_the_cache(cachediag, memcached_factory) -> None:
    server = memcached_factory("-B", "auto")
    client = server.client()
    client.set("canary", b"still here")
    binary_set(server.port, b"zz\r\nflush_all\r\nget q", b"CKIT\x01payload")
    time.sleep(1.2)  # the LRU crawler sees fresh items after a moment
    for args in (
        ["inspect", "--max-keys", "0"],
        ["check", "--only", "memcached.*"],
        ["bigkeys"],
        ["ttl"],
    ):
        run = cachediag(*args, "--memcached", server.address)
        assert "Traceback" not in run.err, (args, run.err)
    assert client.get("canary") == b"still here"
    stats = client.stats()
    assert stats[b"cmd_flush"] == 0
