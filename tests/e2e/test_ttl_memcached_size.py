"""`ttl KEY --memcached`: the item's size in its slab, the figure bigkeys shows (issue 10,
case 11), read with `me` (no get), in KiB/MiB."""

from __future__ import annotations

import socket
import threading
from typing import Any

from servers import LoopbackServer
from test_schemas import assert_valid


def test_ttl_shows_the_item_size_bigkeys_shows(cachediag, memcached_server) -> None:
    client = memcached_server.client()
    client.set("user:1", b"x" * 878, expire=600)
    client.set("blob:1", b"z" * 700_000)
    bigkeys = cachediag("bigkeys", "--memcached", memcached_server.address, "--json")
    sizes = {entry["key"]: entry["bytes"] for entry in bigkeys.json()["targets"][0]["top"]}
    hits_before = server_stats_of(memcached_server)["get_hits"]
    run = cachediag("ttl", "user:1", "blob:1", "--memcached", memcached_server.address, "--json")
    assert run.code == 0, run.err
    assert_valid("ttl", run.json())
    user, blob = run.json()["targets"][0]["keys"]
    assert user["memory_bytes"] == sizes["user:1"] > 878 and user["value_bytes"] == 878
    assert blob["memory_bytes"] == sizes["blob:1"] > 700_000 and blob["value_bytes"] == 700_000
    assert user["slab_class"] != blob["slab_class"]
    # `me` reads no value: only the TTL's mg of each key counts as a hit.
    assert server_stats_of(memcached_server)["get_hits"] - hits_before == 2
    text = cachediag("ttl", "user:1", "blob:1", "--memcached", memcached_server.address).out
    assert "item size" in text and "memory" not in text
    assert f"{sizes['blob:1'] / 1024:.1f} KiB, class {blob['slab_class']}" in text


def server_stats_of(server: Any) -> dict[str, Any]:
    client = server.client()
    try:
        return {k.decode(): v for k, v in client.stats().items()}
    finally:
        client.close()


def test_ttl_without_me_says_the_item_size_is_unknown(cachediag) -> None:
    """A server before 1.6 answers `me` with ERROR: the size is unknown, said once."""

    class OldMemcached(LoopbackServer):
        def handle(self, conn: socket.socket) -> None:
            threading.Thread(target=self.serve, args=(conn,), daemon=True).start()

        def serve(self, conn: socket.socket) -> None:
            reader = conn.makefile("rb")
            for raw in reader:
                if raw.startswith(b"version"):
                    conn.sendall(b"VERSION 1.5.6\r\n")
                elif raw.startswith(b"mg "):
                    conn.sendall(b"HD t-1 s5\r\n")
                else:
                    conn.sendall(b"ERROR\r\n")

    fake = OldMemcached()
    try:
        run = cachediag("ttl", "user:1", "--memcached", f"127.0.0.1:{fake.port}", "--json")
    finally:
        fake.close()
    assert run.code == 0, run.err
    assert_valid("ttl", run.json())
    row = run.json()["targets"][0]
    (key,) = row["keys"]
    assert key["memory_bytes"] is None and key["value_bytes"] == 5
    assert row["notes"] == ["item sizes are unavailable (me failed: ERROR)"]
