"""Where the common Memcached clients put a key in a pool of servers. Pure.

- ketama: libmemcached's consistent hashing (and spymemcached's, pylibmc's with
  ketama behaviour): 160 points per server on a ring, each four of them the bytes of
  MD5("host:port-i"); a key's MD5 (its first four bytes, little-endian) goes to the first
  point at or after it, wrapping around.
- rendezvous: highest random weight, as pymemcache's HashClient does it by default:
  MurmurHash3 (32-bit, seed 0) of "host:port-key", highest score wins.
- modulo: python-memcached's: ((CRC32(key) >> 16) & 0x7fff) modulo the number of servers.
"""

from __future__ import annotations

import bisect
import hashlib
import zlib
from collections.abc import Sequence

HASHINGS = ("ketama", "rendezvous", "modulo")
KETAMA_POINTS_PER_SERVER = 160


def _ketama_ring(servers: Sequence[str]) -> tuple[list[int], list[int]]:
    points: list[tuple[int, int]] = []
    for index, server in enumerate(servers):
        for i in range(KETAMA_POINTS_PER_SERVER // 4):
            digest = hashlib.md5(f"{server}-{i}".encode()).digest()
            for part in range(4):
                value = int.from_bytes(digest[part * 4 : part * 4 + 4], "little")
                points.append((value, index))
    points.sort()
    return [p for p, _ in points], [i for _, i in points]


def ketama(servers: Sequence[str], key: bytes) -> int:
    """The index of the server owning `key` in a ketama ring of `servers`."""
    hashes, owners = _ketama_ring(servers)
    value = int.from_bytes(hashlib.md5(key).digest()[:4], "little")
    at = bisect.bisect_left(hashes, value)
    return owners[at % len(owners)]


def murmur3_32(codes: Sequence[int], seed: int = 0) -> int:
    """MurmurHash3 x86 32-bit over a sequence of character codes, as pymemcache computes
    it over a str (each character's code taken as one byte, masked like pymemcache's)."""
    c1, c2 = 0xCC9E2D51, 0x1B873593
    length = len(codes)
    h1 = seed
    rounded = length & 0xFFFFFFFC
    for i in range(0, rounded, 4):
        k1 = (
            (codes[i] & 0xFF)
            | ((codes[i + 1] & 0xFF) << 8)
            | ((codes[i + 2] & 0xFF) << 16)
            | (codes[i + 3] << 24)
        )
        k1 = (k1 * c1) & 0xFFFFFFFF
        k1 = ((k1 << 15) | (k1 >> 17)) & 0xFFFFFFFF
        k1 = (k1 * c2) & 0xFFFFFFFF
        h1 ^= k1
        h1 = ((h1 << 13) | ((h1 & 0xFFFFFFFF) >> 19)) & 0xFFFFFFFF
        h1 = (h1 * 5 + 0xE6546B64) & 0xFFFFFFFF
    k1 = 0
    tail = length & 0x03
    if tail == 3:
        k1 = (codes[rounded + 2] & 0xFF) << 16
    if tail in (2, 3):
        k1 |= (codes[rounded + 1] & 0xFF) << 8
    if tail:
        k1 |= codes[rounded] & 0xFF
        k1 = (k1 * c1) & 0xFFFFFFFF
        k1 = ((k1 << 15) | (k1 >> 17)) & 0xFFFFFFFF
        k1 = (k1 * c2) & 0xFFFFFFFF
        h1 ^= k1
    h1 ^= length
    h1 ^= (h1 & 0xFFFFFFFF) >> 16
    h1 = (h1 * 0x85EBCA6B) & 0xFFFFFFFF
    h1 ^= h1 >> 13
    h1 = (h1 * 0xC2B2AE35) & 0xFFFFFFFF
    h1 ^= h1 >> 16
    return h1 & 0xFFFFFFFF


def rendezvous(servers: Sequence[str], key: bytes) -> int:
    text = key.decode("utf-8", "surrogateescape")
    best, winner = -1, 0
    for index, server in enumerate(servers):
        score = murmur3_32([ord(c) for c in f"{server}-{text}"])
        if score > best or (score == best and server > servers[winner]):
            best, winner = score, index
    return winner


def modulo(servers: Sequence[str], key: bytes) -> int:
    return (((zlib.crc32(key) & 0xFFFFFFFF) >> 16) & 0x7FFF) % len(servers)


OWNERS = {"ketama": ketama, "rendezvous": rendezvous, "modulo": modulo}


def owner(hashing: str, servers: Sequence[str], key: bytes) -> int:
    return OWNERS[hashing](servers, key)
