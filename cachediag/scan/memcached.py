"""The Memcached side of the scanning engine: `lru_crawler metadump`, streamed and parsed in bulk.

The crawler walks the items inside the server and streams one line per item; we
never fetch values to list keys (memcached-tool's `dump` does a get per key). The
hash walk sees each item once; servers without it get the LRU walk (`all`).

This is the one reader of metadump (`crawl`) and its one line parser (`parse_block`,
`parse_line`): bigkeys, inspect, ttl and the check's sample all read items here.

A sample (`sample_items`) must stand for the keyspace, and the LRU walk's first lines
do not: it takes the classes in turn, an item from each, so a class of 400 big items
is read as fast as one of 5,000 small ones (a first thousand lines averaged 4.9 KB an
item where the truth was 1.2 KB), and within a class it goes oldest first. The sample
takes from each slab class its share of `stats items`: over the hash walk, whose order
is the keys' hashes (random to everything a key means), the first items of each class;
over the LRU walk, items spread evenly along each class, which reads the whole dump
within the time budget.
"""

from __future__ import annotations

import fnmatch
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_to_bytes

from cachediag.clients.memcache_text import MemcachedClient, stat_int
from cachediag.errors import CrawlerUnavailable, ProbeError, ServerRefused
from cachediag.scan.redis import Namespacer, Progress

# How long a dump waits for a crawler busy with another request, and how often it asks.
BUSY_WAIT_S = 2.0
BUSY_RETRY_S = 0.05

CRAWLER_DISABLED = (
    "the LRU crawler is disabled on this server (memcached -o no_lru_crawler): its keys "
    "cannot be listed. Restart it without that option (or run `lru_crawler enable`) to scan"
)


class Item:
    """One line of metadump: a key and its metadata (exp and la are the server's unix times)."""

    __slots__ = ("cas", "cls", "exp", "fetch", "key", "la", "namespace", "size")

    def __init__(
        self,
        key: bytes,
        exp: int,
        la: int,
        fetch: bool,
        cls: int,
        size: int,
        namespace: str,
        cas: int | None = None,
    ) -> None:
        self.key = key
        self.exp = exp  # -1: never expires
        self.la = la
        self.fetch = fetch  # read at least once since it was stored
        self.cls = cls
        self.size = size
        self.namespace = namespace
        self.cas = cas  # None: the server's lines carry none


@dataclass
class CrawlOptions:
    max_keys: int = 0  # 0: every item
    max_seconds: float | None = None
    match: str | None = None  # a glob on the key
    spec: str = "auto"  # auto (hash, else all), hash, all
    delimiter: str = ":"
    # A sample: each slab class's share (see sample_items). None: every item, up to max_keys.
    shares: Shares | None = None


@dataclass(frozen=True)
class Shares:
    """A sample's share of each slab class: `quotas[c]` of the `counts[c]` items of class c."""

    counts: dict[int, int]
    quotas: dict[int, int]


@dataclass
class CrawlResult:
    complete: bool = False
    stop_reason: str | None = None
    scanned: int = 0  # lines read
    matched: int = 0  # items kept (the pattern's)
    elapsed_s: float = 0.0
    spec: str = ""
    server_time: int = 0
    curr_items: int | None = None
    dropped: int = 0  # items read but left out of a sample (their class had its share)

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": f"lru_crawler metadump {self.spec}",
            "complete": self.complete,
            "stop_reason": self.stop_reason,
            "scanned": self.scanned,
            "matched": self.matched,
            "elapsed_s": round(self.elapsed_s, 3),
            "server_time": self.server_time,
            "curr_items": self.curr_items,
        }


def unquote_key(raw: bytes) -> bytes:
    """metadump URL-encodes keys; ':' (%3A) is by far the most common escape."""
    if b"%" not in raw:
        return raw
    key = raw.replace(b"%3A", b":")
    return unquote_to_bytes(key) if b"%" in key else key


def _fields(line: bytes) -> dict[bytes, bytes]:
    return dict(field.partition(b"=")[::2] for field in line.split(b" ") if b"=" in field)


def _number(raw: bytes | None) -> int | None:
    return int(raw) if raw is not None and raw.lstrip(b"-").isdigit() else None


def parse_line(line: bytes, namespace: Callable[[bytes], str]) -> Item | None:
    """One metadump line as an Item, fields read by name (any order); None if it is not one."""
    try:
        fields = _fields(line.rstrip(b"\r"))
        key = unquote_key(fields[b"key"])
        return Item(
            key,
            int(fields[b"exp"]),
            int(fields[b"la"]),
            fields.get(b"fetch") == b"yes",
            int(fields[b"cls"]),
            int(fields[b"size"]),
            namespace(key),
            _number(fields.get(b"cas")),
        )
    except (KeyError, ValueError):
        return None


class ItemBlock:
    """The items of one metadump block, column by column.

    A whole-cache scan sees hundreds of thousands of items; building an object per
    item would cost more than parsing them. Consumers that want objects iterate.
    """

    __slots__ = ("cases", "classes", "exps", "fetches", "keys", "las", "namespaces", "sizes")

    def __init__(
        self,
        keys: list[bytes],
        namespaces: list[str],
        sizes: list[int],
        exps: list[int],
        classes: list[int],
        las: list[bytes],
        fetches: list[bytes],
        cases: list[bytes],
    ) -> None:
        self.keys = keys
        self.namespaces = namespaces
        self.sizes = sizes
        self.exps = exps  # -1: never expires
        self.classes = classes
        self.las = las  # raw "la=N" fields, read only for the items reported one by one
        self.fetches = fetches  # raw "fetch=yes|no"
        self.cases = cases  # raw "cas=N" ("cas=" where a line had none)

    def __len__(self) -> int:
        return len(self.keys)

    def item(self, index: int) -> Item:
        return Item(
            self.keys[index],
            self.exps[index],
            int(self.las[index].partition(b"=")[2]),
            self.fetches[index].endswith(b"yes"),
            self.classes[index],
            self.sizes[index],
            self.namespaces[index],
            _number(self.cases[index][4:]),
        )

    def __iter__(self) -> Iterator[Item]:
        return (self.item(index) for index in range(len(self.keys)))

    def select(self, indices: list[int]) -> ItemBlock:
        def pick(values: list[Any]) -> list[Any]:
            return [values[i] for i in indices]

        return ItemBlock(*(pick(getattr(self, name)) for name in _COLUMNS))

    @classmethod
    def of(cls, items: list[Item]) -> ItemBlock:
        return cls(
            [i.key for i in items],
            [i.namespace for i in items],
            [i.size for i in items],
            [i.exp for i in items],
            [i.cls for i in items],
            [b"la=%d" % i.la for i in items],
            [b"fetch=yes" if i.fetch else b"fetch=no" for i in items],
            [b"cas=%d" % i.cas if i.cas is not None else b"cas=" for i in items],
        )


_COLUMNS = ("keys", "namespaces", "sizes", "exps", "classes", "las", "fetches", "cases")
# The field order of memcached 1.5/1.6 metadump lines.
_FIELDS = (b"key=", b"exp=", b"la=", b"cas=", b"fetch=", b"cls=", b"size=")


def parse_block(block: bytes, namespacer: Namespacer) -> ItemBlock:
    """Every item line of a metadump block.

    Keys hold no spaces, so the block splits into 7 tokens a line, sliced column-wise
    in C. A block of another shape (an older server's fields) is read line by line.
    """
    # ':' (%3A) is the escape nearly every key carries: undone for the whole block at
    # once ('%' itself is %25, so "%3A" can only be an escaped ':').
    tokens = block.replace(b"%3A", b":").split()
    lines = block.count(b"\n")
    width = len(_FIELDS)
    if len(tokens) != width * lines or not all(
        tokens[i].startswith(name) and tokens[-width + i].startswith(name)
        for i, name in enumerate(_FIELDS)
    ):
        parsed = (parse_line(line, namespacer) for line in block.split(b"\n") if line.strip())
        return ItemBlock.of([item for item in parsed if item is not None])
    keys = [t[4:] for t in tokens[0::width]]
    if any(b"%" in key for key in keys):
        keys = [unquote_to_bytes(key) if b"%" in key else key for key in keys]
    return ItemBlock(
        keys,
        namespacer.many(keys),
        [int(t[5:]) for t in tokens[6::width]],
        [int(t[4:]) for t in tokens[1::width]],
        [int(t[4:]) for t in tokens[5::width]],
        tokens[2::width],
        tokens[4::width],
        tokens[3::width],
    )


def crawl(
    client: MemcachedClient,
    options: CrawlOptions,
    on_batch: Callable[[ItemBlock], None],
    progress: Progress | None = None,
) -> CrawlResult:
    """Stream every item's metadata to `on_batch`, within the budget.

    Raises ProbeError(kind 'crawler') with a clear sentence when the crawler is
    disabled. A budget stop closes the connection (the dump cannot be cut short otherwise).
    """
    result = CrawlResult()
    stats = client.stats()
    result.server_time = stat_int(stats, "time", int(time.time())) or 0
    result.curr_items = stat_int(stats, "curr_items", None)
    started = time.monotonic()
    namespace = Namespacer(options.delimiter)
    matcher = re.compile(fnmatch.translate(options.match)).match if options.match else None
    specs = ["hash", "all"] if options.spec == "auto" else [options.spec]
    batches = None
    busy_until = time.monotonic() + BUSY_WAIT_S
    index = 0
    while index < len(specs):
        spec = specs[index]
        try:
            batches = client.metadump_chunks(spec)
            first = next(batches, b"")
        except ProbeError as error:
            if not isinstance(error, ServerRefused):
                # Timed out, cut off or malformed: the connection is gone, and another
                # spec would only fail with "not connected". Say what happened.
                raise
            if "disabled" in error.message:
                raise CrawlerUnavailable(CRAWLER_DISABLED) from None
            if "BUSY" in error.message:
                # One dump at a time: a dump just cut short (ours, closed at a budget) or the
                # background crawl holds the crawler for a moment. Wait a little, then say so.
                if time.monotonic() < busy_until:
                    time.sleep(BUSY_RETRY_S)
                    continue
                raise CrawlerUnavailable(
                    "the LRU crawler is busy with another request: try again shortly"
                ) from None
            index += 1
            if index < len(specs):
                continue
            raise CrawlerUnavailable(
                f"lru_crawler metadump {spec} failed: {error.message}"
            ) from None
        result.spec = spec
        break
    assert batches is not None
    # The hash walk's order is random to slab classes and namespaces: its first items are a
    # sample. The LRU walk's is not: there the sample is spread along each class.
    picker = _Picker(options.shares, spread=spec != "hash") if options.shares else None
    block = first
    try:
        while block:
            items = parse_block(block, namespace)
            result.scanned += len(items)
            if picker is not None:
                items = picker.take(items, result)
                if picker.full:
                    result.stop_reason = "max-keys"  # every class has its share
            if picker is not None and picker.line_limit and result.scanned >= picker.line_limit:
                result.stop_reason = result.stop_reason or "max-lines"
            if matcher:
                decoded = (key.decode("utf-8", "surrogateescape") for key in items.keys)
                items = items.select([i for i, key in enumerate(decoded) if matcher(key)])
            if options.max_keys and result.matched + len(items) >= options.max_keys:
                items = items.select(list(range(options.max_keys - result.matched)))
                result.stop_reason = result.stop_reason or "max-keys"
            result.matched += len(items)
            if len(items):
                on_batch(items)
            elapsed = time.monotonic() - started
            if progress:
                progress.update(result.scanned, result.curr_items, elapsed)
            if (
                result.stop_reason is None
                and options.max_seconds is not None
                and elapsed >= options.max_seconds
            ):
                result.stop_reason = "max-seconds"
            if result.stop_reason:
                client.close()
                break
            block = next(batches, b"")
    except KeyboardInterrupt:
        result.stop_reason = "interrupted"
        client.close()
    result.complete = result.stop_reason is None and not result.dropped
    result.elapsed_s = time.monotonic() - started
    if progress:
        progress.finish()
    return result


class _Picker:
    """Takes each class's share of the items a walk streams: the first ones, or (`spread`)
    quotas[c] of the counts[c] items of class c, evenly spaced along the class."""

    def __init__(self, shares: Shares, spread: bool) -> None:
        self.shares = shares
        self.left = dict(shares.quotas)
        self.seen: dict[int, int] = {}
        self.spread = spread
        self.wanted = sum(self.left.values())
        # First-come shares fill within about `wanted` lines per class that has one (any
        # walk order: the LRU walk reads the classes in turn); a spread reads every line.
        classes = sum(1 for quota in self.left.values() if quota > 0)
        self.line_limit = 0 if spread else self.wanted * max(classes, 2)

    @property
    def full(self) -> bool:
        return self.wanted <= 0

    def take(self, items: ItemBlock, result: CrawlResult) -> ItemBlock:
        keep = []
        left, seen = self.left, self.seen
        counts, quotas = self.shares.counts, self.shares.quotas
        for index, cls in enumerate(items.classes):
            room = left.get(cls, 0)
            if room <= 0:
                continue
            if self.spread:
                # Item j of the class is taken when floor(j * quota / count) steps up: exactly
                # `quota` items of `count`, one every count/quota.
                j = seen.get(cls, 0)
                seen[cls] = j + 1
                quota, count = quotas[cls], counts[cls]
                if (j + 1) * quota // count == j * quota // count:
                    continue
            left[cls] = room - 1
            keep.append(index)
        self.wanted -= len(keep)
        result.dropped += len(items) - len(keep)
        return items if len(keep) == len(items) else items.select(keep)


# -- a sample that stands for the keyspace ---------------------------------------------------


def class_counts(stats_items: Mapping[str, Any]) -> dict[int, int]:
    """Items per slab class, from `stats items` (`items:<class>:number`), raw or typed."""
    counts = {}
    for name, value in stats_items.items():
        parts = name.split(":")
        if len(parts) == 3 and parts[0] == "items" and parts[2] == "number" and parts[1].isdigit():
            number = int(value) if str(value).isdigit() else 0
            if number > 0:
                counts[int(parts[1])] = number
    return counts


def class_quotas(counts: Mapping[int, int], size: int) -> dict[int, int] | None:
    """Each class's share of a `size`-item sample, in proportion to its items; the shares add
    up to `size` (largest remainders). None when the sample can hold every item."""
    total = sum(counts.values())
    if total <= size:
        return None
    exact = {cls: size * number / total for cls, number in counts.items()}
    quotas = {cls: int(share) for cls, share in exact.items()}
    short = size - sum(quotas.values())
    by_remainder = sorted(exact, key=lambda cls: (quotas[cls] - exact[cls], cls))
    for cls in by_remainder[:short]:
        quotas[cls] += 1
    return quotas


def sample_items(
    client: MemcachedClient,
    size: int,
    *,
    counts: Mapping[int, int] | None = None,
    max_seconds: float | None = None,
    spec: str = "auto",
    delimiter: str = ":",
    progress: Progress | None = None,
) -> tuple[list[Item], CrawlResult]:
    """About `size` items that stand for the keyspace: each slab class's share, per its items.

    `counts` are the items per class (`stats items`, read here when not given). The walk
    stops once every share is full, at `max_seconds`, or (the hash walk) after `size` lines
    per class with a share. Without counts (`stats items` refused), the walk's first `size`
    items.
    """
    if counts is None:
        try:
            counts = class_counts(client.stats("items"))
        except ServerRefused:
            counts = {}
    quotas = class_quotas(counts, size) if counts else None
    options = CrawlOptions(
        max_keys=size,
        max_seconds=max_seconds,
        spec=spec,
        delimiter=delimiter,
        shares=Shares(dict(counts), quotas) if quotas else None,
    )
    items: list[Item] = []
    result = crawl(client, options, items.extend, progress)
    return items, result
