"""Memcached's own causes on real memcached processes: items written and never read,
slab calcification, connection yields, items refused for their size."""

from __future__ import annotations

import socket
from typing import Any

from diagnose_helpers import assert_first, live, symptom_of


def _raw(port: int, command: bytes, until: bytes = b"END\r\n") -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(command)
        data = b""
        while not data.endswith(until):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        return data


def test_items_evicted_unread(memcached_factory: Any) -> None:
    # Product pages pre-rendered into an 8 MB cache and never asked for: evicted unread.
    server = memcached_factory("-m", "8")
    client = server.client()
    client.set_many({f"page:{i}": b"p" * 1024 for i in range(20_000)}, expire=3600)
    result = symptom_of(live(memcached=(server.address,)), "low-hit-rate")
    assert_first(result, "unread-items")
    assert "evicted_unfetched" in result.causes[0].evidence_for[0].text
    verdicts = {c.id: c.verdict for c in result.causes}
    assert verdicts["low-hit-rate.cold-cache"] == "ruled out"  # it evicts: it has filled


def test_slab_calcification(memcached_factory: Any) -> None:
    # A few 400-byte items take one page of their class; 60-byte items take the rest of
    # the memory, then are deleted (a namespace dropped): their class holds free chunks
    # it keeps (no automove), while the 400-byte items evict in their one page.
    server = memcached_factory("-m", "8", "-o", "slab_automove=0")
    client = server.client()
    client.set_many({f"big:{i}": b"B" * 400 for i in range(5)}, expire=3600)
    for start in range(0, 80_000, 5000):
        client.set_many({f"small:{i}": b"s" * 60 for i in range(start, start + 5000)})
    for start in range(0, 80_000, 5000):
        client.delete_many([f"small:{i}" for i in range(start, start + 5000)])
    client.set_many({f"big:{i}": b"B" * 400 for i in range(5, 6000)}, expire=3600)
    result = symptom_of(live(memcached=(server.address,)), "memory")
    assert_first(result, "slab-calcification")
    assert "evicting while other classes hold" in result.causes[0].evidence_for[0].text


def test_connection_yields(memcached_factory: Any) -> None:
    # -R 2: a worker serves two requests of a connection per turn; a client sending 500
    # gets at once makes it yield, and every other client waits behind those turns.
    server = memcached_factory("-R", "2")
    server.client().set("k", b"v")
    _raw(server.port, b"get k\r\n" * 500 + b"mn\r\n", until=b"MN\r\n")
    result = symptom_of(live(memcached=(server.address,)), "timeouts")
    assert_first(result, "server-stalls")
    assert "conn_yields" in result.causes[0].evidence_for[0].text


def test_items_refused_for_their_size(memcached_factory: Any) -> None:
    server = memcached_factory("-I", "1m")
    client = server.client()
    client.set_many({f"user:{i}": b"u" * 100 for i in range(50)}, expire=3600)
    reply = _raw(
        server.port, b"set report:1 0 3600 2000000\r\n" + b"r" * 2_000_000 + b"\r\n", b"\r\n"
    )
    assert reply.startswith(b"SERVER_ERROR")
    result = symptom_of(live(memcached=(server.address,)), "memory")
    assert_first(result, "entries-too-large")
    assert "store_too_large" in result.causes[0].evidence_for[0].text
