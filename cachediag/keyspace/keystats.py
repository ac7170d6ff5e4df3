"""What `bigkeys` reports, accumulated key by key in bounded memory.

A scan hands batches of keys here; whatever the keyspace size, what is kept is a
top-N heap, one biggest key per type, a namespace table capped at NAMESPACE_LIMIT
rows (later namespaces fold into one row) and a fixed histogram.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass
from typing import Any

from cachediag.safety.textsafe import key_fields, safe_text
from cachediag.scan.memcached import Item, ItemBlock
from cachediag.scan.redis import ELEMENT_BYTES_ESTIMATE, KeyInfo

NAMESPACE_LIMIT = 10_000
OTHER_NAMESPACES = "(other namespaces)"
# The guide: "If entries are 512+ bytes, consider smaller DTOs" (Solution 3B).
LARGE_AVERAGE_BYTES = 512


@dataclass(frozen=True)
class Entry:
    """One key worth reporting (the top list, a type's biggest)."""

    key: bytes
    type: str
    size: int
    length: int | None
    ttl_s: float | None  # None: no expiry
    namespace: str
    extra: tuple[tuple[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            **key_fields(self.key),
            "type": self.type,
            "bytes": self.size,
            "length": self.length,
            "ttl_s": self.ttl_s,
            "namespace": safe_text(self.namespace),
            **dict(self.extra),
        }


def _on_node(entry: Entry, node: str) -> Entry:
    """The entry, saying which node of a cluster holds it."""
    return Entry(
        entry.key,
        entry.type,
        entry.size,
        entry.length,
        entry.ttl_s,
        entry.namespace,
        (*entry.extra, ("node", node)),
    )


class _Top:
    """The N largest by size: a min-heap whose root is the smallest of the kept ones."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.heap: list[tuple[int, int, Entry]] = []
        self._seq = itertools.count()

    # Picklable (a cluster's nodes are scanned in processes of their own): the counter
    # only orders equal sizes, so a fresh one continues past the highest order kept.
    def __getstate__(self) -> dict[str, Any]:
        return {"size": self.size, "heap": self.heap}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.size = state["size"]
        self.heap = state["heap"]
        self._seq = itertools.count(max((item[1] for item in self.heap), default=-1) + 1)

    @property
    def floor(self) -> int:
        return self.heap[0][0] if len(self.heap) >= self.size else -1

    def push(self, size: int, entry: Entry) -> None:
        if self.size <= 0:
            return
        item = (size, next(self._seq), entry)
        if len(self.heap) < self.size:
            heapq.heappush(self.heap, item)
        else:
            heapq.heappushpop(self.heap, item)

    def ranked(self) -> list[Entry]:
        # SCAN may return a key twice (the table rehashing under it): list it once.
        seen: set[bytes] = set()
        ranked = []
        for _, _, entry in sorted(self.heap, key=lambda i: (-i[0], i[1])):
            if entry.key not in seen:
                seen.add(entry.key)
                ranked.append(entry)
        return ranked


class KeyStats:
    """Totals, top keys, per type, per namespace and a size histogram."""

    def __init__(self, top: int = 20, namespace_limit: int = NAMESPACE_LIMIT) -> None:
        self.top = _Top(top)
        self.namespace_limit = namespace_limit
        self.keys = 0
        self.bytes = 0
        self.with_ttl = 0
        # Bytes of the key names themselves: redis-cli --bigkeys' "Total key length".
        self.key_bytes = 0
        # type -> [keys, bytes, elements, biggest size, its key, biggest length, its key]
        # (keys as KeyInfo or Entry: only two per type are ever held)
        self.types: dict[str, list[Any]] = {}
        # namespace -> [keys, bytes, keys without TTL, biggest size]
        self.namespaces: dict[str, list[int]] = {}
        self.namespaces_folded = 0
        # bucket b holds sizes in [2**(b-1), 2**b): b = size.bit_length()
        self.hist_keys = [0] * 65
        self.hist_bytes = [0] * 65

    # -- input ----------------------------------------------------------------------------
    def add_redis(self, infos: list[KeyInfo]) -> None:
        """The hot path for Redis: a million keys pass here, so it is one flat loop."""
        top = self.top
        floor = top.floor
        types = self.types
        namespaces = self.namespaces
        hist_keys = self.hist_keys
        hist_bytes = self.hist_bytes
        total = 0
        no_ttl = 0
        key_bytes = 0
        for info in infos:
            key_bytes += len(info.key)
            size = info.memory
            length = info.length
            if size is None:
                per_item = 1 if info.type == "string" else ELEMENT_BYTES_ESTIMATE
                size = len(info.key) + (length or 0) * per_item
            total += size
            row = types.get(info.type)
            if row is None:
                row = types[info.type] = [0, 0, 0, -1, None, -1, None]
            row[0] += 1
            row[1] += size
            if length is not None:
                row[2] += length
                if length > row[5]:
                    row[5] = length
                    row[6] = info
            if size > row[3]:
                row[3] = size
                row[4] = info
            ns = namespaces.get(info.namespace)
            if ns is None:
                ns = self._namespace_row(info.namespace)
            ns[0] += 1
            ns[1] += size
            if info.ttl_ms < 0:
                ns[2] += 1
                no_ttl += 1
            if size > ns[3]:
                ns[3] = size
            bucket = size.bit_length()
            hist_keys[bucket] += 1
            hist_bytes[bucket] += size
            if size > floor:
                top.push(size, self._entry(info, size))
                floor = top.floor
        self.keys += len(infos)
        self.bytes += total
        self.with_ttl += len(infos) - no_ttl
        self.key_bytes += key_bytes

    def add_memcached(
        self, block: ItemBlock, server_time: int, classes: dict[int, list[int]]
    ) -> None:
        """The hot path for Memcached: `classes` gathers [items, bytes] per slab class."""
        top = self.top
        floor = top.floor
        row = self.types.get("item")
        if row is None:
            row = self.types["item"] = [0, 0, 0, -1, None, -1, None]
        namespaces = self.namespaces
        hist_keys = self.hist_keys
        hist_bytes = self.hist_bytes
        no_ttl = 0
        columns = zip(block.namespaces, block.sizes, block.exps, block.classes, strict=True)
        for index, (namespace, size, exp, cls) in enumerate(columns):
            ns = namespaces.get(namespace)
            if ns is None:
                ns = self._namespace_row(namespace)
            ns[0] += 1
            ns[1] += size
            if exp < 0:
                ns[2] += 1
                no_ttl += 1
            if size > ns[3]:
                ns[3] = size
            bucket = size.bit_length()
            hist_keys[bucket] += 1
            hist_bytes[bucket] += size
            slab = classes.get(cls)
            if slab is None:
                slab = classes[cls] = [0, 0]
            slab[0] += 1
            slab[1] += size
            if size > row[3]:
                row[3] = size
                row[4] = self._item_entry(block.item(index), server_time)
            if size > floor:
                top.push(size, self._item_entry(block.item(index), server_time))
                floor = top.floor
        total = sum(block.sizes)
        self.key_bytes += sum(map(len, block.keys))
        row[0] += len(block)
        row[1] += total
        self.keys += len(block)
        self.bytes += total
        self.with_ttl += len(block) - no_ttl

    @staticmethod
    def _item_entry(item: Item, server_time: int) -> Entry:
        ttl = None if item.exp < 0 else float(max(item.exp - server_time, 0))
        extra = (
            ("slab_class", item.cls),
            ("idle_s", max(server_time - item.la, 0)),
            ("fetched", item.fetch),
        )
        return Entry(item.key, "item", item.size, None, ttl, item.namespace, extra)

    @staticmethod
    def _entry(info: KeyInfo, size: int) -> Entry:
        ttl = None if info.ttl_ms < 0 else round(info.ttl_ms / 1000, 3)
        return Entry(info.key, info.type, size, info.length, ttl, info.namespace)

    def _namespace_row(self, namespace: str) -> list[int]:
        if len(self.namespaces) < self.namespace_limit:
            row = self.namespaces[namespace] = [0, 0, 0, 0]
            return row
        # Bounded memory: past the limit, new namespaces share one row.
        self.namespaces_folded += 1
        return self.namespaces.setdefault(OTHER_NAMESPACES, [0, 0, 0, 0])

    # -- several nodes as one ---------------------------------------------------------------
    def merge(self, other: KeyStats, node: str) -> None:
        """Add what `other` counted on `node` (a cluster's primary): totals, types,
        namespaces and histogram summed, the top keys re-ranked, each named by its node."""
        self.keys += other.keys
        self.bytes += other.bytes
        self.with_ttl += other.with_ttl
        self.key_bytes += other.key_bytes
        for size, _, entry in other.top.heap:
            if size > self.top.floor:
                self.top.push(size, _on_node(entry, node))
        for kind, row in other.types.items():
            mine = self.types.get(kind)
            if mine is None:
                mine = self.types[kind] = [0, 0, 0, -1, None, -1, None]
            mine[0] += row[0]
            mine[1] += row[1]
            mine[2] += row[2]
            if row[3] > mine[3] and row[4] is not None:
                mine[3], mine[4] = row[3], _on_node(self._as_entry_obj(row[4], row[3]), node)
            if row[5] > mine[5] and row[6] is not None:
                size = self._size_of(row[6])
                mine[5], mine[6] = row[5], _on_node(self._as_entry_obj(row[6], size), node)
        for namespace, (keys, size, no_ttl, biggest) in other.namespaces.items():
            ns = self.namespaces.get(namespace)
            if ns is None:
                ns = self._namespace_row(namespace)
            ns[0] += keys
            ns[1] += size
            ns[2] += no_ttl
            ns[3] = max(ns[3], biggest)
        self.namespaces_folded += other.namespaces_folded
        for bucket in range(len(self.hist_keys)):
            self.hist_keys[bucket] += other.hist_keys[bucket]
            self.hist_bytes[bucket] += other.hist_bytes[bucket]

    def _as_entry_obj(self, item: KeyInfo | Entry, size: int) -> Entry:
        return item if isinstance(item, Entry) else self._entry(item, size)

    # -- output ---------------------------------------------------------------------------
    @property
    def average(self) -> float:
        return self.bytes / self.keys if self.keys else 0.0

    def _as_entry(self, item: KeyInfo | Entry | None, size: int) -> dict[str, Any] | None:
        if item is None:
            return None
        entry = item if isinstance(item, Entry) else self._entry(item, size)
        return entry.to_dict()

    def type_rows(self) -> list[dict[str, Any]]:
        rows = []
        ranked = sorted(self.types.items(), key=lambda item: -item[1][1])
        for kind, (keys, size, elements, big_size, big, _, longest) in ranked:
            long_size = self._size_of(longest) if longest is not None else 0
            rows.append(
                {
                    "type": kind,
                    "keys": keys,
                    "bytes": size,
                    "elements": elements,
                    "share": round(size / self.bytes, 4) if self.bytes else 0.0,
                    "average_bytes": round(size / keys) if keys else 0,
                    "biggest": self._as_entry(big, big_size),
                    "biggest_by_length": self._as_entry(longest, long_size),
                }
            )
        return rows

    @staticmethod
    def _size_of(item: KeyInfo | Entry) -> int:
        return item.size

    def namespace_rows(self, limit: int | None = None) -> list[dict[str, Any]]:
        ranked = sorted(self.namespaces.items(), key=lambda item: (-item[1][1], item[0]))
        rows = []
        for namespace, (keys, size, no_ttl, biggest) in ranked[:limit]:
            rows.append(
                {
                    "namespace": safe_text(namespace),
                    "keys": keys,
                    "bytes": size,
                    "share": round(size / self.bytes, 4) if self.bytes else 0.0,
                    "average_bytes": round(size / keys) if keys else 0,
                    "largest_bytes": biggest,
                    "without_ttl": no_ttl,
                }
            )
        return rows

    def histogram_rows(self) -> list[dict[str, Any]]:
        rows = []
        for bucket, keys in enumerate(self.hist_keys):
            if not keys:
                continue
            low = 0 if bucket == 0 else 1 << (bucket - 1)
            rows.append(
                {
                    "from_bytes": low,
                    "to_bytes": 1 << bucket,
                    "keys": keys,
                    "bytes": self.hist_bytes[bucket],
                }
            )
        return rows

    def findings(self) -> list[dict[str, str]]:
        findings = []
        if self.keys and self.average >= LARGE_AVERAGE_BYTES:
            findings.append(
                {
                    "level": "warn",
                    "text": f"average entry {self.average:.0f} bytes (≥ {LARGE_AVERAGE_BYTES}): "
                    "consider smaller DTOs, caching only the fields that are read",
                    "ref": "Issue 3, Solution 3B",
                }
            )
        for row in self.namespace_rows(limit=20):
            if (
                row["keys"] >= 10
                and row["average_bytes"] >= LARGE_AVERAGE_BYTES
                and self.average < LARGE_AVERAGE_BYTES
            ):
                findings.append(
                    {
                        "level": "info",
                        "text": f"namespace {row['namespace']} averages "
                        f"{row['average_bytes']} bytes per entry: "
                        "a candidate for a smaller DTO",
                        "ref": "Issue 3, Solution 3B",
                    }
                )
        return findings

    def to_dict(self, namespace_limit: int = 50) -> dict[str, Any]:
        return {
            "totals": {
                "keys": self.keys,
                "bytes": self.bytes,
                "average_bytes": round(self.average, 1),
                "with_ttl": self.with_ttl,
                "without_ttl": self.keys - self.with_ttl,
                "key_bytes": self.key_bytes,
                "average_key_bytes": round(self.key_bytes / self.keys, 2) if self.keys else 0.0,
            },
            "top": [entry.to_dict() for entry in self.top.ranked()],
            "types": self.type_rows(),
            "namespaces": self.namespace_rows(limit=namespace_limit),
            "namespaces_total": len(self.namespaces),
            "namespaces_folded": self.namespaces_folded,
            "histogram": self.histogram_rows(),
            "findings": self.findings(),
        }
