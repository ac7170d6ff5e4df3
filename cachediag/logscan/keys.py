"""Cache keys named in error lines (`<prefix>:<id>`, cache-kit's CacheKeyBuilder format).

What the guide does with `grep -o "user:[0-9]*" | sort | uniq -c`, for every prefix at
once. Counting is memory-bounded: past `max_keys` distinct keys the rarest half is
dropped (and the counter says it is truncated), so the top keys stay right for any
realistic skew while a log of millions of distinct ids can't exhaust memory.
"""

from __future__ import annotations

import re

from cachediag.safety.redact import SECRET_NAMES

# A prefix starts with a letter at a word start and is not glued to a path, host or scheme
# (checked in extract_keys: cheaper than a look-behind); the id starts right after the colon
# (so "level: msg" and Rust paths like a::b are not keys). Possessive repeats: no
# backtracking over every word of the line.
KEY_RE = re.compile(
    rb"\b([A-Za-z][\w-]{0,63}+)"  # prefix
    rb":(?!//)([\w@-][\w.@-]{0,199}+(?::[\w@-][\w.@-]{0,199}+)*+)"  # :id, composite ids
)
_GLUED = frozenset(b":/.@$%+-")
# host:port in connection errors ("Connection refused (redis:6379)") is not a cache key.
_HOSTS = frozenset(
    b"localhost redis memcached memcache valkey keydb dragonfly cache db database postgres mysql"
    b" host".split()
)
_SECRET_PREFIX = re.compile(rb"(?i)" + SECRET_NAMES.encode())


_secret_prefixes: dict[bytes, bool] = {}


def _is_secret_prefix(prefix: bytes) -> bool:
    """Whether a key prefix names a credential; remembered, as prefixes are few and every
    error line names keys."""
    known = _secret_prefixes.get(prefix)
    if known is None:
        if len(_secret_prefixes) >= 4096:
            _secret_prefixes.clear()
        known = _secret_prefixes[prefix] = _SECRET_PREFIX.search(prefix) is not None
    return known


def extract_keys(line: bytes) -> list[bytes]:
    """Distinct keys named in one (original-case) log line, in order."""
    out: list[bytes] = []
    for m in KEY_RE.finditer(line):
        start = m.start()
        if start and line[start - 1] in _GLUED:
            continue
        prefix, ident = m.group(1), m.group(2).rstrip(b".-:")
        if not ident:
            continue
        if ident.isdigit() and prefix.lower() in _HOSTS:
            continue
        if _is_secret_prefix(prefix):
            ident = b"***"  # a token or password id is a credential: count it, don't show it
        key = prefix + b":" + ident
        if key not in out:
            out.append(key)
    return out


class KeyCounter:
    """Counts per key and per namespace (the prefix), bounded in memory."""

    __slots__ = ("keys", "max_keys", "mentions", "namespaces", "truncated")

    def __init__(self, max_keys: int = 50_000) -> None:
        self.keys: dict[bytes, int] = {}
        self.namespaces: dict[bytes, list[int]] = {}  # ns -> [mentions, distinct keys seen]
        self.mentions = 0
        self.truncated = False
        self.max_keys = max_keys

    def add(self, key: bytes, count: int = 1) -> None:
        self.mentions += count
        keys = self.keys
        ns = key[: key.find(b":")]
        seen = keys.get(key)
        if seen is not None:
            keys[key] = seen + count
            self.namespaces[ns][0] += count
            return
        entry = self.namespaces.get(ns)
        if entry is None:
            if len(self.namespaces) >= self.max_keys:
                self.truncated = True
                return
            entry = self.namespaces[ns] = [0, 0]
        entry[0] += count
        keys[key] = count
        entry[1] += 1
        if len(keys) > self.max_keys:
            self._prune()

    def _prune(self) -> None:
        keep = sorted(self.keys.items(), key=lambda kv: kv[1], reverse=True)[: self.max_keys // 2]
        self.keys = dict(keep)
        self.truncated = True

    def merge(self, other: KeyCounter) -> None:
        self.mentions += other.mentions
        self.truncated = self.truncated or other.truncated
        for ns, (mentions, distinct) in other.namespaces.items():
            entry = self.namespaces.get(ns)
            if entry is None:
                self.namespaces[ns] = [mentions, distinct]
            else:
                entry[0] += mentions
                entry[1] += distinct
        for key, count in other.keys.items():
            if key in self.keys:
                self.keys[key] += count
                self.namespaces[key.split(b":", 1)[0]][1] -= 1  # counted by both parts
            else:
                self.keys[key] = count
        if len(self.keys) > self.max_keys:
            self._prune()

    def top(self, n: int) -> list[tuple[bytes, int]]:
        return sorted(self.keys.items(), key=lambda kv: (-kv[1], kv[0]))[:n]


class TopCounter:
    """Counts per key only (a category's keys), bounded like KeyCounter; cheaper to feed."""

    __slots__ = ("counts", "max_keys", "truncated")

    def __init__(self, max_keys: int = 20_000) -> None:
        self.counts: dict[bytes, int] = {}
        self.max_keys = max_keys
        self.truncated = False

    def add(self, key: bytes, count: int = 1) -> None:
        counts = self.counts
        counts[key] = counts.get(key, 0) + count
        if len(counts) > self.max_keys:
            self._prune()

    def _prune(self) -> None:
        keep = sorted(self.counts.items(), key=lambda kv: kv[1], reverse=True)
        self.counts = dict(keep[: self.max_keys // 2])
        self.truncated = True

    def merge(self, other: TopCounter) -> None:
        self.truncated = self.truncated or other.truncated
        counts = self.counts
        for key, n in other.counts.items():
            counts[key] = counts.get(key, 0) + n
        if len(counts) > self.max_keys:
            self._prune()

    def top(self, n: int) -> list[tuple[bytes, int]]:
        return sorted(self.counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
