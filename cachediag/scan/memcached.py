"""The Memcached side of the scanning engine: `lru_crawler metadump`, streamed and parsed in bulk.

The crawler walks the items inside the server and streams one line per item; we
never fetch values to list keys (memcached-tool's `dump` does a get per key). The
hash walk sees each item once; servers without it get the LRU walk (`all`).
"""

from __future__ import annotations

import fnmatch
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_to_bytes

from cachediag.clients.memcache_text import MemcachedClient
from cachediag.errors import CrawlerUnavailable, ProbeError
from cachediag.scan.redis import Namespacer, Progress

CRAWLER_DISABLED = (
    "the LRU crawler is disabled on this server (memcached -o no_lru_crawler): its keys "
    "cannot be listed. Restart it without that option (or run `lru_crawler enable`) to scan"
)


class Item:
    """One line of metadump: a key and its metadata (exp and la are the server's unix times)."""

    __slots__ = ("cls", "exp", "fetch", "key", "la", "namespace", "size")

    def __init__(
        self, key: bytes, exp: int, la: int, fetch: bool, cls: int, size: int, namespace: str
    ) -> None:
        self.key = key
        self.exp = exp  # -1: never expires
        self.la = la
        self.fetch = fetch  # read at least once since it was stored
        self.cls = cls
        self.size = size
        self.namespace = namespace


@dataclass
class CrawlOptions:
    max_keys: int = 0  # 0: every item
    max_seconds: float | None = None
    match: str | None = None  # a glob on the key
    spec: str = "auto"  # auto (hash, else all), hash, all
    delimiter: str = ":"


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
        )
    except (KeyError, ValueError):
        return None


class ItemBlock:
    """The items of one metadump block, column by column.

    A whole-cache scan sees hundreds of thousands of items; building an object per
    item would cost more than parsing them. Consumers that want objects iterate.
    """

    __slots__ = ("classes", "exps", "fetches", "keys", "las", "namespaces", "sizes")

    def __init__(
        self,
        keys: list[bytes],
        namespaces: list[str],
        sizes: list[int],
        exps: list[int],
        classes: list[int],
        las: list[bytes],
        fetches: list[bytes],
    ) -> None:
        self.keys = keys
        self.namespaces = namespaces
        self.sizes = sizes
        self.exps = exps  # -1: never expires
        self.classes = classes
        self.las = las  # raw "la=N" fields, read only for the items reported one by one
        self.fetches = fetches  # raw "fetch=yes|no"

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
        )


_COLUMNS = ("keys", "namespaces", "sizes", "exps", "classes", "las", "fetches")
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
    result.server_time = int(stats.get("time", time.time()))
    result.curr_items = int(stats["curr_items"]) if "curr_items" in stats else None
    started = time.monotonic()
    namespace = Namespacer(options.delimiter)
    matcher = re.compile(fnmatch.translate(options.match)).match if options.match else None
    specs = ["hash", "all"] if options.spec == "auto" else [options.spec]
    batches = None
    for index, spec in enumerate(specs):
        try:
            batches = client.metadump_chunks(spec)
            first = next(batches, b"")
        except ProbeError as error:
            if "disabled" in error.message:
                raise CrawlerUnavailable(CRAWLER_DISABLED) from None
            if "BUSY" in error.message:
                raise CrawlerUnavailable(
                    "the LRU crawler is busy with another request: try again shortly"
                ) from None
            if index + 1 < len(specs):
                continue
            raise CrawlerUnavailable(
                f"lru_crawler metadump {spec} failed: {error.message}"
            ) from None
        result.spec = spec
        break
    assert batches is not None
    block = first
    try:
        while block:
            items = parse_block(block, namespace)
            result.scanned += len(items)
            if matcher:
                decoded = (key.decode("utf-8", "surrogateescape") for key in items.keys)
                items = items.select([i for i, key in enumerate(decoded) if matcher(key)])
            if options.max_keys and result.matched + len(items) >= options.max_keys:
                items = items.select(list(range(options.max_keys - result.matched)))
                result.stop_reason = "max-keys"
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
    result.complete = result.stop_reason is None
    result.elapsed_s = time.monotonic() - started
    if progress:
        progress.finish()
    return result
