"""The Memcached purge core against a real memcached: the crawler lists, `md KEY C<cas>` deletes."""

from __future__ import annotations

from typing import Any

from servers import MemcachedServer

from cachediag.clients.memcache_text import MemcachedClient
from cachediag.purge.memcached import MemcachedPurge, purge_memcached
from cachediag.purge.redis import Sinks
from cachediag.purge.request import Filters, PurgeRequest, validate
from cachediag.scan.memcached import CrawlOptions, ItemBlock, crawl
from cachediag.targets.parse import parse_memcached


def client(server: MemcachedServer) -> Any:
    from pymemcache.client.base import Client

    return Client(("127.0.0.1", server.port), default_noreply=False)


def run(server: MemcachedServer, sinks: Sinks | None = None, **fields: Any) -> dict[str, Any]:
    request = validate(PurgeRequest(**{"apply": True, **fields}))
    row = purge_memcached(parse_memcached(server.address, "flag"), 5, request, sinks or Sinks())
    return {**row, "purge": row["purge"].to_dict()}


def test_pattern_purge_leaves_neighbours(memcached_server: MemcachedServer) -> None:
    app = client(memcached_server)
    for i in range(300):
        app.set(f"user:{i}", b"x")
    for key in ("users:1", "user", "session:user:1"):
        app.set(key, b"keep")
    dry = run(memcached_server, patterns=("user:*",), apply=False)
    assert (dry["purge"]["matched"], dry["purge"]["deleted"]) == (300, 0)
    assert dry["purge"]["bytes"]["method"] == "crawler"
    row = run(memcached_server, patterns=("user:*",))
    assert (row["purge"]["matched"], row["purge"]["deleted"]) == (300, 300)
    assert app.get("user:1") is None and app.get("users:1") == b"keep"
    assert app.get("user") == b"keep" and app.get("session:user:1") == b"keep"
    assert row["purge"]["read_back"] == {"checked": 300, "still_present": 0}


def test_an_item_rewritten_after_the_dump_survives(memcached_server: MemcachedServer) -> None:
    app = client(memcached_server)
    for i in range(50):
        app.set(f"user:{i}", b"old")

    def rewrite(keys: list[bytes]) -> None:
        assert b"user:7" in keys
        app.set("user:7", b"new", noreply=False)  # a new CAS: md C<old cas> answers EX

    row = run(memcached_server, Sinks(before_delete=rewrite), patterns=("user:*",))
    assert (row["purge"]["deleted"], row["purge"]["changed"]) == (49, 1)
    assert app.get("user:7") == b"new"


def test_crawler_duplicates_are_deleted_once(memcached_server: MemcachedServer) -> None:
    app = client(memcached_server)
    for i in range(20):
        app.set(f"d:{i}", b"x")
    target = parse_memcached(memcached_server.address, "flag")
    blocks: list[ItemBlock] = []
    with MemcachedClient(target, 5).connect() as reader:
        crawl(reader, CrawlOptions(match="d:*"), blocks.append)
    request = validate(PurgeRequest(patterns=("d:*",), apply=True))
    with MemcachedClient(target, 5).connect() as writer:
        purge = MemcachedPurge(writer, request, Sinks(), 5)
        for block in blocks + blocks:  # the crawler handing every item twice
            purge.on_block(block)
        purge.delete_pending()
    report = purge.report
    assert (report.matched, report.deleted, report.duplicates, report.already_gone) == (
        20,
        20,
        20,
        0,
    )


def test_a_dump_bigger_than_the_socket_buffers(memcached_server: MemcachedServer) -> None:
    """Deleting while the crawler waits for its output to be read stalls both (it holds
    its locks): the deletes wait for the end of the dump."""
    import socket

    sock = socket.create_connection(("127.0.0.1", memcached_server.port))
    sock.sendall(
        b"".join(b"ms big:%d 20 q\r\n%s\r\n" % (i, b"v" * 20) for i in range(150_000)) + b"mn\r\n"
    )
    reply = b""
    while not reply.endswith(b"MN\r\n"):
        reply += sock.recv(65536)
    sock.close()
    row = run(memcached_server, patterns=("big:1*",))
    assert row["error"] is None, row["error"]
    matched = row["purge"]["matched"]
    assert matched > 50_000 and row["purge"]["deleted"] == matched


def test_named_keys_and_metadata_filters(memcached_server: MemcachedServer) -> None:
    app = client(memcached_server)
    app.set("a", b"x")
    app.set("t:forever", b"x")
    app.set("t:expiring", b"x", expire=3600)
    row = run(memcached_server, keys=(b"a", b"missing"))
    assert (row["purge"]["deleted"], row["purge"]["not_found"]) == (1, 1)
    assert app.get("a") is None
    run(memcached_server, patterns=("t:*",), filters=Filters(no_ttl=True))
    assert app.get("t:forever") is None and app.get("t:expiring") == b"x"
