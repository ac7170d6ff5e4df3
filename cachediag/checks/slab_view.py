"""Memcached's slab allocator as the facts record it: `stats slabs` + `stats items`, per class.

`stats` `bytes` counts the bytes of the items stored; memory is given out in 1 MiB
pages, each page to one slab class for good, cut into chunks of the class's size. So
a cache is full when the allocator (`total_malloced`) has reached `limit_maxbytes`
and a class has no free chunk left: its next write evicts (or, with -M, fails), even
when `bytes` still reads 75% of the limit. Pure readers, shared by the rules and by
`memory --memcached`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cachediag.checks.base import Facts
from cachediag.checks.facts_view import number, stats


def _count(mapping: dict[str, Any], name: str) -> int:
    value = number(mapping, name)
    return int(value) if value is not None else 0


@dataclass(frozen=True)
class SlabClass:
    """One slab class: its pages and chunks (`stats slabs`), its items (`stats items`)."""

    id: int
    chunk_size: int
    pages: int
    free_chunks: int
    items: int
    evicted: int
    evicted_unfetched: int
    outofmemory: int
    # Seconds since the oldest item of the class was last touched: how long the LRU
    # keeps an item before it is evicted, once the class is full.
    age: int
    # Seconds between the last access of the most recently evicted item and now.
    evicted_time: int

    @property
    def full(self) -> bool:
        """No free chunk left (the `Full?` column of memcached-tool display)."""
        return self.pages > 0 and self.free_chunks == 0

    @property
    def free_bytes(self) -> int:
        return self.free_chunks * self.chunk_size


@dataclass(frozen=True)
class SlabMemory:
    """The allocator of one Memcached: what `memcached.memory` judges."""

    limit: int
    malloced: int
    item_bytes: int | None
    classes: tuple[SlabClass, ...] = field(default_factory=tuple)
    evictions: int = 0
    evicted_unfetched: int = 0
    expired_unfetched: int = 0
    uptime: int = 0
    evictions_on: bool = True
    automove: str | None = None

    @property
    def used_percent(self) -> float:
        return 100.0 * self.malloced / self.limit if self.limit else 0.0

    @property
    def outofmemory(self) -> int:
        """Writes refused with SERVER_ERROR out of memory (summed over the classes)."""
        return sum(slab.outofmemory for slab in self.classes)

    @property
    def evicting(self) -> list[SlabClass]:
        """Full classes that have evicted: their next write pushes an item out."""
        return [slab for slab in self.classes if slab.full and slab.evicted > 0]

    @property
    def idle_bytes(self) -> int:
        """Free chunks held by classes that are not evicting: memory the full ones cannot use."""
        return sum(slab.free_bytes for slab in self.classes if not slab.full)


def slab_classes(slabs: dict[str, Any], items: dict[str, Any]) -> list[SlabClass]:
    """Classes that hold pages, from `stats slabs` ('12:free_chunks') and `stats items`."""
    per_slab: dict[int, dict[str, Any]] = {}
    for name, value in slabs.items():
        head, _, field_name = name.partition(":")
        if head.isdigit() and field_name:
            per_slab.setdefault(int(head), {})[field_name] = value
    per_item: dict[int, dict[str, Any]] = {}
    for name, value in items.items():
        parts = name.split(":")
        if len(parts) == 3 and parts[0] == "items" and parts[1].isdigit():
            per_item.setdefault(int(parts[1]), {})[parts[2]] = value
    out = []
    for class_id, slab in sorted(per_slab.items()):
        if not _count(slab, "total_pages"):
            continue
        item = per_item.get(class_id, {})
        out.append(
            SlabClass(
                id=class_id,
                chunk_size=_count(slab, "chunk_size"),
                pages=_count(slab, "total_pages"),
                free_chunks=_count(slab, "free_chunks"),
                items=_count(item, "number"),
                evicted=_count(item, "evicted"),
                evicted_unfetched=_count(item, "evicted_unfetched"),
                outofmemory=_count(item, "outofmemory"),
                age=_count(item, "age"),
                evicted_time=_count(item, "evicted_time"),
            )
        )
    return out


def slab_memory(facts: Facts) -> SlabMemory | None:
    """The allocator's state, or None when `stats slabs` did not report `total_malloced`."""
    slabs = stats(facts, "slabs")
    st = stats(facts)
    malloced, limit = number(slabs, "total_malloced"), number(st, "limit_maxbytes")
    if malloced is None or not limit:
        return None
    settings = stats(facts, "settings")
    automove = settings.get("slab_automove")
    item_bytes = number(st, "bytes")
    return SlabMemory(
        limit=int(limit),
        malloced=int(malloced),
        item_bytes=int(item_bytes) if item_bytes is not None else None,
        classes=tuple(slab_classes(slabs, stats(facts, "items"))),
        evictions=_count(st, "evictions"),
        evicted_unfetched=_count(st, "evicted_unfetched"),
        expired_unfetched=_count(st, "expired_unfetched"),
        uptime=_count(st, "uptime"),
        evictions_on=str(settings.get("evictions", "on")).lower() != "off",
        automove=None if automove is None else str(automove),
    )


def refused_writes(facts: Facts) -> int | None:
    """Writes refused for want of memory (`outofmemory` of every class); None if not reported."""
    items = stats(facts, "items")
    counts = [
        value
        for name, value in items.items()
        if name.startswith("items:") and name.endswith(":outofmemory")
    ]
    if not counts:
        return None
    return sum(int(v) for v in counts if isinstance(v, (int, float)) and not isinstance(v, bool))
