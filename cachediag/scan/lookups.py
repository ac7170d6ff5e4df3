"""How many keyspace lookups a scan added to the server's hit and miss counters.

Reading a key is a lookup to Redis: TYPE, PTTL, TTL, STRLEN, GETRANGE, the other length
commands and OBJECT each add one keyspace hit (or a miss when the key is gone), exactly
as an application's GET does; MEMORY USAGE does not, and neither does a command an ACL
rejects (it never runs). Memcached counts every meta get as a get_hit or a get_miss.
A scan therefore moves the hit rate it is often run to explain: every scanning command
says how much, from the replies it read (no second INFO reading, which would also count
the application's own traffic during the scan).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class Lookups:
    hits: int = 0
    misses: int = 0
    # False when some lookups could not be counted: SCAN ... TYPE looks up every key it
    # visits (a hit each, on Redis 7), and the client never sees the keys it filtered out.
    exact: bool = True

    @property
    def total(self) -> int:
        return self.hits + self.misses

    def add(self, hits: int = 0, misses: int = 0) -> None:
        self.hits += hits
        self.misses += misses

    def to_dict(self) -> dict[str, Any]:
        return {"hits": self.hits, "misses": self.misses, "exact": self.exact}


def describe(lookups: dict[str, Any] | None, kind: str) -> str | None:
    """One sentence for a report: what this run did to the server's hit/miss counters."""
    if not lookups:
        return None
    hits, misses = int(lookups.get("hits") or 0), int(lookups.get("misses") or 0)
    counters = "keyspace_hits/keyspace_misses" if kind == "redis" else "get_hits/get_misses"
    text = (
        f"this run added {hits:,} {'hit' if hits == 1 else 'hits'} and "
        f"{misses:,} {'miss' if misses == 1 else 'misses'} to the server's {counters}"
    )
    if not lookups.get("exact", True):
        text += ", plus one hit per key SCAN TYPE looked at (not countable from here)"
    return text
