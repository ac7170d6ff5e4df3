"""A pool of three real memcached servers, written by pymemcache's HashClient with one
server skewed: checked each and as a pool; one server down; `ring` placing keys."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
from servers import fill_pool_skewed

import cachediag

SCHEMAS = Path(cachediag.__file__).parent / "schemas"


def _results(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["id"], r["target"]): r for r in document["results"]}


def _check(cachediag: Any, pool: Any, *extra: str) -> dict[str, Any]:
    run = cachediag(
        "check", "--json", *pool.flags(), "--only", "memcached.*", "--sample-keys", "50", *extra
    )
    assert run.code in (0, 1), run.err
    document: dict[str, Any] = run.json()
    jsonschema.validate(document, json.loads((SCHEMAS / "check-v1.json").read_text()))
    return document


def _pool_name(pool: Any) -> str:
    return "memcached-pool://" + ",".join(server.address for server in pool.servers)


def test_a_skewed_pool_is_named_and_each_server_checked(
    cachediag: Any, memcached_pool: Any
) -> None:
    fill_pool_skewed(memcached_pool, heavy=1)
    document = _check(cachediag, memcached_pool)
    results = _results(document)
    heavy = memcached_pool.servers[1].address
    balance = results[("memcached.pool_balance", _pool_name(memcached_pool))]
    assert balance["status"] == "warn", balance
    assert heavy in balance["summary"] and "x the mean" in balance["summary"]
    for server in memcached_pool.servers:
        assert results[("memcached.running", f"memcached://{server.address}")]["status"] == "pass"


def test_an_even_pool_passes(cachediag: Any, memcached_pool: Any) -> None:
    app = memcached_pool.client()
    app.set_many({f"item:{i}": b"v" * 100 for i in range(3000)})
    app.close()
    document = _check(cachediag, memcached_pool)
    balance = _results(document)[("memcached.pool_balance", _pool_name(memcached_pool))]
    assert balance["status"] == "pass", balance


def test_one_server_down_fails_only_its_checks(cachediag: Any, memcached_pool: Any) -> None:
    fill_pool_skewed(memcached_pool)
    dead = memcached_pool.servers[2]
    dead.stop()
    document = _check(cachediag, memcached_pool)
    results = _results(document)
    assert results[("memcached.running", f"memcached://{dead.address}")]["status"] == "fail"
    for server in memcached_pool.servers[:2]:
        assert results[("memcached.running", f"memcached://{server.address}")]["status"] == "pass"
    balance = results[("memcached.pool_balance", _pool_name(memcached_pool))]
    assert balance["status"] == "warn"
    assert "33%" in balance["summary"] and dead.address in balance["summary"]
    assert balance["observed"]["share_of_keys_lost"] == 0.333


def test_ring_places_keys_as_the_hash_client_did(cachediag: Any, memcached_pool: Any) -> None:
    app = memcached_pool.client()
    keys = [f"user:{i}" for i in range(20)]
    app.set_many({key: b"x" for key in keys})
    expected = {key: app.hasher.get_node(key) for key in keys}
    app.close()
    run = cachediag("ring", *keys, "nosuch", *memcached_pool.flags(), "--json")
    assert run.code == 0, run.err
    document = run.json()
    jsonschema.validate(document, json.loads((SCHEMAS / "ring-v1.json").read_text()))
    rows = {row["key"]: row for row in document["keys"]}
    for key, node in expected.items():
        assert rows[key]["owners"]["rendezvous"] == node
        assert rows[key]["present_on"] == [node]
    assert rows["nosuch"]["present_on"] == []
    assert document["fits"]["rendezvous"] == 20
    assert any("rendezvous" in finding for finding in document["findings"])
    table = cachediag("ring", "user:1", *memcached_pool.flags(), "--hash", "ketama")
    assert table.code == 0 and "ketama" in table.out and "rendezvous" not in table.out


def test_ring_needs_a_pool(cachediag: Any, memcached_pool: Any) -> None:
    run = cachediag("ring", "user:1", "--memcached", memcached_pool.servers[0].address)
    assert run.code == 2 and "ring needs a pool" in run.err


def test_memcached_pool_in_the_config(cachediag: Any, memcached_pool: Any, tmp_path: Path) -> None:
    fill_pool_skewed(memcached_pool, heavy=0)
    config = tmp_path / "cachediag.toml"
    addresses = ", ".join(f'"{s.address}"' for s in memcached_pool.servers)
    config.write_text(f"memcached_pool = [{addresses}]\n")
    run = cachediag("check", "--json", "--config", str(config), "--only", "memcached.pool_balance")
    assert run.code in (0, 1), run.err
    (balance,) = [r for r in run.json()["results"] if r["id"] == "memcached.pool_balance"]
    assert balance["target"] == _pool_name(memcached_pool) and balance["status"] == "warn"
