"""Write a scenario into a loopback server started for it: the demo's, or a test's fixture.

The one module besides writes.py that builds write commands (tests/unit/test_layering.py
names it): writes.py plans, confirms and reads back writes to the user's servers; this
one fills throwaway servers nobody else uses, and refuses any target that is not on
this machine's loopback. It plays the application, so it sends what one would: SET (with
EX), GET, and Memcached `set` / `get`, pipelined.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from cachediag.clients.memcache_text import MemcachedClient
from cachediag.clients.net import Deadline
from cachediag.clients.resp import RedisClient, ReplyError
from cachediag.demo.scenarios import Entry, MemcachedScenario, RedisScenario
from cachediag.errors import UsageError
from cachediag.targets.target import Target

BATCH = 200
TIMEOUT_S = 10.0
MOST_FILLERS = 100_000  # bounds the fill loop: a server that never fills is not one we know


@dataclass
class Seeded:
    entries: int = 0
    hits: int = 0
    misses: int = 0
    fillers: int = 0
    used_fraction: float | None = None  # Redis: used_memory / maxmemory after the fill


def _loopback_only(target: Target) -> None:
    try:
        loopback = target.unix_path is None and ipaddress.ip_address(target.host or "").is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise UsageError(f"the demo seeds only loopback servers it started, not {target.name}")


def _set(entry: Entry) -> tuple[str | bytes | int, ...]:
    if entry.ttl is None:
        return ("SET", entry.key, entry.value)
    return ("SET", entry.key, entry.value, "EX", entry.ttl)


def _used_fraction(client: RedisClient) -> float:
    info = client.call("INFO", "memory")
    fields = dict(line.split(":", 1) for line in info.decode().splitlines() if ":" in line)
    return int(fields["used_memory"]) / int(fields["maxmemory"])


def seed_redis(
    target: Target, scenario: RedisScenario, now: float | None = None, fill: bool = True
) -> Seeded:
    """The scenario's entries, then its lookups, then (`fill`) product entries up to
    `fill_to` of maxmemory; the server must have been started with its server_args()."""
    _loopback_only(target)
    seeded = Seeded()
    with RedisClient(target, TIMEOUT_S).connect() as client:
        entries = scenario.entries(now)
        for start in range(0, len(entries), BATCH):
            _expect_ok(client.pipeline([_set(e) for e in entries[start : start + BATCH]]))
        seeded.entries = len(entries)
        lookups = scenario.lookups(now)
        for start in range(0, len(lookups), BATCH):
            replies = client.pipeline([("GET", key) for key in lookups[start : start + BATCH]])
            seeded.hits += sum(reply is not None for reply in replies)
            seeded.misses += sum(reply is None for reply in replies)
        if fill:
            seeded.used_fraction = _used_fraction(client)
            while seeded.used_fraction < scenario.fill_to and seeded.fillers < MOST_FILLERS:
                # Small steps near the limit: noeviction refuses a write past it.
                batch = [scenario.filler(seeded.fillers + i) for i in range(20)]
                _expect_ok(client.pipeline([_set(e) for e in batch]))
                seeded.fillers += len(batch)
                seeded.used_fraction = _used_fraction(client)
    return seeded


def _expect_ok(replies: list[object]) -> None:
    for reply in replies:
        if isinstance(reply, ReplyError):
            raise UsageError(f"seeding the demo's Redis failed: {reply.text}")


def seed_memcached(target: Target, scenario: MemcachedScenario) -> Seeded:
    """The scenario's items (more than fit: the server evicts), then its gets."""
    _loopback_only(target)
    seeded = Seeded()
    with MemcachedClient(target, TIMEOUT_S).connect() as client:
        entries = scenario.entries()
        for start in range(0, len(entries), BATCH):
            batch = entries[start : start + BATCH]
            client.send(
                b"".join(
                    b"set %s 0 %d %d\r\n%s\r\n"
                    % (e.key.encode(), e.ttl or 0, len(e.value), e.value)
                    for e in batch
                )
            )
            deadline = Deadline(TIMEOUT_S)
            for _ in batch:
                line = client.read_line(deadline)
                if line != b"STORED":
                    raise UsageError(f"seeding the demo's Memcached failed: {line[:80]!r}")
        seeded.entries = len(entries)
        lookups = scenario.lookups()
        for start in range(0, len(lookups), BATCH):
            keys = [key.encode() for key in lookups[start : start + BATCH]]
            found = client.get_many(keys)
            seeded.hits += len(found)
            seeded.misses += len(keys) - len(found)
    return seeded
