"""The guide's issues as a cache holds them: keys, values, TTLs and the lookups that made them.

One Redis and one Memcached, as a cache-kit application with the guide's bugs leaves
them (the Issue and Step numbers are the guide's):

- Issue 1, low hit rate from non-deterministic keys: `cart:<id>:<unix time>` keys (the
  guide's `format!("{}:{}", self.id, SystemTime::now().timestamp())`), so every read
  asks for a key nobody wrote: most lookups miss;
- Issue 1 Step 3 / Issue 3, entries without TTL: the `user:*` and `product:*` entries
  are cached forever;
- Issue 3, `noeviction` near its limit: maxmemory 4 MiB with policy noeviction, filled
  to about 90% with product entries: the next writes fail with OOM;
- Issue 4, serialization: `user:*` entries of schema versions 1 and 2 (a deploy changed
  the struct) and three corrupt ones (JSON where an envelope belongs, a bare magic, bytes
  of nothing);
- a Memcached that evicts: `-m 4` and 6 MB of items, then reads of the first ones (gone)
  and of the last ones;
- Issue 4 Step 1, the application's log: the errors cache-kit logs reading those entries
  (invalid magic, version mismatch) and the misses with their database fallback, in the
  library's own words (guide/cache-kit-facts.md), for `check --log -`.

Everything here is data; `seed.py` writes it. The tests seed their own servers with the
same functions (tests/servers.py), so the demo shows what the suite asserts.
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass

MAGIC = b"CKIT"


def varint(value: int) -> bytes:
    """postcard's unsigned LEB128."""
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def postcard_str(text: str) -> bytes:
    data = text.encode()
    return varint(len(data)) + data


def user_entry(user_id: int, version: int) -> bytes:
    """A cache-kit `User {id: u64, name, email}` envelope, as the library writes it."""
    name = f"User {user_id}"
    return (
        MAGIC
        + varint(version)
        + varint(user_id)
        + postcard_str(name)
        + postcard_str(f"user{user_id}@example.com")
    )


def product_entry(product_id: int, name_bytes: int = 40) -> bytes:
    """A cache-kit `Product {id: String, name, price: f64, in_stock: bool}` envelope, v1."""
    name = f"Widget {product_id} " + "x" * max(0, name_bytes - 12)
    return (
        MAGIC
        + varint(1)
        + postcard_str(f"prod_{product_id}")
        + postcard_str(name)
        + struct.pack("<d", 9.99 + product_id)  # postcard's f64: 8 bytes little-endian
        + b"\x01"
    )


# The corrupt ones of Issue 4: what `redis.serialization` and `inspect` must find.
CORRUPT: dict[str, bytes] = {
    "user:97": b'{"id": 97, "name": "User 97"}',  # JSON where an envelope belongs: bad magic
    "user:98": MAGIC,  # the magic and nothing after it: a truncated write
    "user:99": b"\x00\x01\x02garbage",  # bytes of nothing
}


@dataclass(frozen=True)
class Entry:
    key: str
    value: bytes
    ttl: int | None  # seconds; None: cached forever


@dataclass(frozen=True)
class RedisScenario:
    """What the demo's (and the tests') Redis holds and was asked."""

    maxmemory: int = 4 * 1024 * 1024
    policy: str = "noeviction"
    fill_to: float = 0.9  # of maxmemory, with product entries (no TTL)
    users_v1: int = 40
    users_v2: int = 20
    carts: int = 30
    cart_ttl: int = 600
    hits: int = 30  # GETs of user entries that are there
    misses: int = 170  # GETs of cart keys made with a new timestamp: never there
    product_bytes: int = 2000

    def server_args(self) -> tuple[str, ...]:
        return ("--maxmemory", str(self.maxmemory), "--maxmemory-policy", self.policy)

    def entries(self, now: float | None = None) -> list[Entry]:
        """The entries, written before the lookups and the fill."""
        stamp = int(time.time() if now is None else now)
        out = [Entry(f"user:{i}", user_entry(i, 1), None) for i in range(1, self.users_v1 + 1)]
        first_v2 = self.users_v1 + 1
        out += [
            Entry(f"user:{i}", user_entry(i, 2), None)
            for i in range(first_v2, first_v2 + self.users_v2)
        ]
        out += [Entry(key, value, None) for key, value in CORRUPT.items()]
        # One key per write, named with the write's time (seconds apart, as requests are).
        out += [
            Entry(f"cart:{i}:{stamp - i * 7}", user_entry(i, 1), self.cart_ttl)
            for i in range(1, self.carts + 1)
        ]
        return out

    def lookups(self, now: float | None = None) -> list[str]:
        """The keys the application reads, in order: hits and misses interleaved."""
        stamp = int(time.time() if now is None else now)
        hits = [f"user:{1 + i % self.users_v1}" for i in range(self.hits)]
        # The reader builds the key again with its own clock: a key nobody wrote.
        misses = [f"cart:{1 + i % self.carts}:{stamp + 1 + i}" for i in range(self.misses)]
        out: list[str] = []
        ratio = len(misses) / max(1, len(hits))
        for index, key in enumerate(hits):
            out.append(key)
            out += misses[int(index * ratio) : int((index + 1) * ratio)]
        return out + misses[int(len(hits) * ratio) :]

    def filler(self, index: int) -> Entry:
        return Entry(f"product:{index}", product_entry(index, self.product_bytes), None)


@dataclass(frozen=True)
class MemcachedScenario:
    """What the demo's (and the tests') Memcached holds and was asked: more than fits."""

    megabytes: int = 4
    items: int = 6000
    value_bytes: int = 1000
    ttl: int = 3600
    hits: int = 35  # gets of the last items written: still there
    misses: int = 165  # gets of the first items: evicted

    def server_args(self) -> tuple[str, ...]:
        return ("-m", str(self.megabytes))

    def entries(self) -> list[Entry]:
        return [
            Entry(f"product:{i}", product_entry(i, self.value_bytes), self.ttl)
            for i in range(self.items)
        ]

    def lookups(self) -> list[str]:
        first = [f"product:{i}" for i in range(self.misses)]
        last = [f"product:{self.items - 1 - i}" for i in range(self.hits)]
        return [key for pair in zip(first, last, strict=False) for key in pair] + first[len(last) :]


def app_log(redis: RedisScenario, now: float | None = None, minutes: int = 5) -> str:
    """The application's log over the last `minutes`, oldest first, as cache-kit logs it."""
    stamp = int(time.time() if now is None else now)
    start = stamp - minutes * 60
    events: list[str] = []
    for i in range(1, 11):
        events.append(f"DEBUG cache_kit: Cache MISS: cart:{i}:{start + i} took 412µs")
        events.append("DEBUG cache_kit: Cache miss, falling back to database")
    events += [f"DEBUG cache_kit: Cache HIT: user:{i} took 95µs" for i in range(1, 4)]
    # The deploy that wrote v2 entries reads the v1 ones left behind, and falls back.
    for i in range(1, min(6, redis.users_v1 + 1)):
        events.append(
            f"WARN cache_kit: Cache ERROR for user:{i}: Cache version mismatch: expected 2, found 1"
        )
        events.append("DEBUG cache_kit: Cache miss, falling back to database")
    # The corrupt entries fail their requests: no fallback after them.
    for key, value in CORRUPT.items():
        if value.startswith(MAGIC):  # the truncated one: its header reads, its payload ends
            error = "Deserialization error: Hit the end of buffer, expected more data"
        else:
            got = ", ".join(str(b) for b in value[:4])
            error = f"Invalid cache entry: expected magic [67, 75, 73, 84], got [{got}]"
        events.append(f"ERROR cache_kit: Cache ERROR for {key}: {error}")
    step = max(1, (stamp - start) // len(events))
    lines = []
    for index, event in enumerate(events):
        at = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(start + index * step))
        lines.append(f"{at} {event}")
    return "\n".join(lines) + "\n"


REDIS = RedisScenario()
MEMCACHED = MemcachedScenario()
