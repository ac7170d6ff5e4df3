"""The Memcached side of the scanning engine: `lru_crawler metadump`, streamed and parsed in bulk.

The crawler walks the items inside the server and streams one line per item; we
never fetch values to list keys (memcached-tool's `dump` does a get per key). The
hash walk sees each item once; servers without it get the LRU walk (`all`).
"""

from __future__ import annotations

import fnmatch
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_to_bytes

from cachediag.clients.memcache_text import MemcachedClient
from cachediag.errors import ProbeError
from cachediag.scan import Namespacer, Progress

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


def _fields(line: bytes) -> dict[bytes, bytes]:
    return dict(field.partition(b"=")[::2] for field in line.split(b" ") if b"=" in field)


def parse_line(line: bytes, namespace: Callable[[bytes], str]) -> Item | None:
    """A metadump line as an Item; lines of another shape are read by field name."""
    parts = line.split(b" ")
    try:
        if len(parts) == 7 and parts[0][:4] == b"key=" and parts[6][:5] == b"size=":
            key = parts[0][4:]
            exp, la, fetch, cls, size = (
                parts[1][4:],
                parts[2][3:],
                parts[4],
                parts[5][4:],
                parts[6][5:],
            )
            fetched = fetch == b"fetch=yes"
        else:
            fields = _fields(line.rstrip(b"\r"))
            key = fields[b"key"]
            exp, la, cls, size = fields[b"exp"], fields[b"la"], fields[b"cls"], fields[b"size"]
            fetched = fields.get(b"fetch") == b"yes"
        if b"%" in key:
            key = unquote_to_bytes(key)
        return Item(
            key, int(exp), int(la), fetched, int(cls), int(size.rstrip(b"\r")), namespace(key)
        )
    except (KeyError, ValueError):
        return None


def crawl(
    client: MemcachedClient,
    options: CrawlOptions,
    on_batch: Callable[[list[Item]], None],
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
            batches = client.metadump_batches(spec)
            first = next(batches, [])
        except ProbeError as error:
            if "disabled" in error.message:
                raise ProbeError("crawler", CRAWLER_DISABLED) from None
            if "BUSY" in error.message:
                raise ProbeError(
                    "crawler", "the LRU crawler is busy with another request: try again shortly"
                ) from None
            if index + 1 < len(specs):
                continue
            raise ProbeError(
                "crawler", f"lru_crawler metadump {spec} failed: {error.message}"
            ) from None
        result.spec = spec
        break
    assert batches is not None
    chunk = first
    try:
        while chunk:
            items = []
            for line in chunk:
                item = parse_line(line, namespace)
                if item is None:
                    continue
                if matcher and not matcher(item.key.decode("utf-8", "surrogateescape")):
                    continue
                items.append(item)
            result.scanned += len(chunk)
            if options.max_keys and result.matched + len(items) >= options.max_keys:
                items = items[: options.max_keys - result.matched]
                result.stop_reason = "max-keys"
            result.matched += len(items)
            if items:
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
            chunk = next(batches, [])
    except KeyboardInterrupt:
        result.stop_reason = "interrupted"
        client.close()
    result.complete = result.stop_reason is None
    result.elapsed_s = time.monotonic() - started
    if progress:
        progress.finish()
    return result
