"""The client hashings `ring` reproduces, held to the clients' own code where we have it."""

from __future__ import annotations

from pymemcache.client.murmur3 import murmur3_32 as pymemcache_murmur
from pymemcache.client.rendezvous import RendezvousHash

from cachediag.keyspace.hashing import ketama, modulo, murmur3_32, rendezvous

SERVERS = ["10.0.0.1:11211", "10.0.0.2:11211", "10.0.0.3:11211"]
KEYS = [f"user:{i}" for i in range(500)] + ["", "a", "ab", "abc", "é:☃", "x" * 250]


def test_murmur3_is_pymemcaches() -> None:
    for text in KEYS:
        assert murmur3_32([ord(c) for c in text]) == pymemcache_murmur(text), text


def test_rendezvous_is_pymemcaches_hash_client() -> None:
    reference = RendezvousHash(list(SERVERS))
    for key in KEYS:
        assert SERVERS[rendezvous(SERVERS, key.encode())] == reference.get_node(key), key


def test_ketama_spreads_and_moves_only_a_dead_servers_keys() -> None:
    owners = [ketama(SERVERS, key.encode()) for key in KEYS[:500]]
    counts = [owners.count(i) for i in range(3)]
    assert all(100 < count < 250 for count in counts), counts
    two = SERVERS[:2]
    for key, was in zip(KEYS[:500], owners, strict=True):
        if was < 2:  # a key of a surviving server stays where it was
            assert ketama(two, key.encode()) == was


def test_modulo_is_python_memcacheds() -> None:
    import zlib

    for key in KEYS:
        value = ((zlib.crc32(key.encode()) & 0xFFFFFFFF) >> 16) & 0x7FFF
        assert modulo(SERVERS, key.encode()) == value % 3
    # Modulo hashing moves most keys when a server goes: the reason to prefer ketama.
    moved = sum(modulo(SERVERS, k.encode()) != modulo(SERVERS[:2], k.encode()) for k in KEYS[:500])
    assert moved > 200
