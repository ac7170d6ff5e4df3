"""Cache keys named in error lines (`<prefix>:<id>`, cache-kit's CacheKeyBuilder format).

What the guide does with `grep -o "user:[0-9]*" | sort | uniq -c`, for every prefix at
once. Counting is memory-bounded: past `max_keys` distinct keys the rarest half is
dropped (and the counter says it is truncated), so the top keys stay right for any
realistic skew while a log of millions of distinct ids can't exhaust memory.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from itertools import compress, filterfalse, islice, repeat
from operator import add, itemgetter, sub

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


def key_spans(line: bytes) -> list[tuple[int, int, int, bool]]:
    """Where `extract_keys` finds keys in `line`: (prefix start, prefix end, id end, whether
    the prefix names a credential) per key, before the per-line dedup.

    The spans depend on the line's shape only: mapping ASCII letters to one case and digits
    to one digit leaves every test here (letter, \\w, the glued characters, isdigit, the
    host and credential names) unchanged, so the scanner computes them once per distinct
    shape of line and slices each line's keys out by these offsets.
    """
    out: list[tuple[int, int, int, bool]] = []
    for m in KEY_RE.finditer(line):
        start = m.start()
        if start and line[start - 1] in _GLUED:
            continue
        prefix, raw_id = m.group(1), m.group(2)
        ident = raw_id.rstrip(b".-:")
        if not ident:
            continue
        if ident.isdigit() and prefix.lower() in _HOSTS:
            continue
        out.append((start, m.end(1), m.start(2) + len(ident), _is_secret_prefix(prefix)))
    return out


def key_at(line: bytes, offset: int, span: tuple[int, int, int, bool]) -> bytes:
    """The key a span (`key_spans`) names in the line starting at `offset` of `line`."""
    start, prefix_end, end, secret = span
    if secret:  # a token or password id is a credential: count it, don't show it
        return line[offset + start : offset + prefix_end] + b":***"
    return line[offset + start : offset + end]


def extract_keys(line: bytes) -> list[bytes]:
    """Distinct keys named in one (original-case) log line, in order."""
    out: list[bytes] = []
    for span in key_spans(line):
        key = key_at(line, 0, span)
        if key not in out:
            out.append(key)
    return out


class KeyCounter:
    """Counts per key and per namespace (the prefix), bounded in memory.

    A namespace's mentions are those of its keys still counted plus those of its keys
    pruned away (`_retired`), so that counting a batch of mentions is one C-level
    `Counter.update`; `namespaces` puts them together when asked.
    """

    __slots__ = ("_distinct", "_retired", "keys", "max_keys", "mentions", "truncated")

    def __init__(self, max_keys: int = 50_000) -> None:
        self.keys: Counter[bytes] = Counter()
        self._distinct: dict[bytes, int] = {}  # ns -> distinct keys seen (re-counted after a prune)
        self._retired: dict[bytes, int] = {}  # ns -> mentions of its keys pruned away
        self.mentions = 0
        self.truncated = False
        self.max_keys = max_keys

    @property
    def namespaces(self) -> dict[bytes, list[int]]:
        """ns -> [mentions, distinct keys seen]."""
        mentions = dict.fromkeys(self._distinct, 0)
        for ns, n in self._retired.items():
            mentions[ns] += n
        _sum_by_namespace(mentions, self.keys)
        return {ns: [mentions[ns], d] for ns, d in self._distinct.items()}

    def add(self, key: bytes, count: int = 1) -> None:
        self.mentions += count
        keys = self.keys
        seen = keys.get(key)
        if seen is not None:
            keys[key] = seen + count
            return
        ns = key[: key.find(b":")]
        distinct = self._distinct.get(ns)
        if distinct is None:
            if len(self._distinct) >= self.max_keys:
                self.truncated = True
                return
            distinct = 0
        self._distinct[ns] = distinct + 1
        keys[key] = count
        if len(keys) > self.max_keys:
            self._prune()

    def add_many(self, keys: list[bytes]) -> None:
        """`add` each key in turn (one per mention, in file order), in C-level passes.

        The result is the same as adding them one by one, insertion order included (it
        breaks ties when the counter is pruned). The batch is counted in one pass; if that
        took the counter past a cap, it is taken back and added in bulk up to the first
        mention of the key that reaches the cap, which `add` then adds, pruning where it
        would have pruned.
        """
        while keys:
            known = self.keys
            before = len(known)
            known.update(keys)  # C-level; new keys in first-occurrence order, as `add` does
            new = _last(known, len(known) - before)
            names = Counter(map(_first, map(bytes.split, new, repeat(b":"), repeat(1))))
            distinct = self._distinct
            if (
                len(known) <= self.max_keys
                and len(distinct) + sum(map(_absent(distinct), names)) <= self.max_keys
            ):
                self.mentions += len(keys)
                for ns, n in names.items():
                    distinct[ns] = distinct.get(ns, 0) + n
                return
            _take_back(known, keys, new)
            room = self.max_keys - max(len(known), len(distinct))
            first = list(islice(dict.fromkeys(filterfalse(known.__contains__, keys)), room + 1))
            cut = keys.index(first[room])
            if cut:
                self.add_many(keys[:cut])  # reaches no cap
            self.add(keys[cut])
            keys = keys[cut + 1 :]

    def _prune(self) -> None:
        keep = sorted(self.keys.items(), key=_COUNT, reverse=True)
        cut = self.max_keys // 2
        _sum_by_namespace(self._retired, dict(keep[cut:]))
        self.keys = Counter(dict(keep[:cut]))
        self.truncated = True

    def merge(self, other: KeyCounter) -> None:
        self.mentions += other.mentions
        self.truncated = self.truncated or other.truncated
        for ns, n in other._distinct.items():
            self._distinct[ns] = self._distinct.get(ns, 0) + n
        for ns, n in other._retired.items():
            self._retired[ns] = self._retired.get(ns, 0) + n
        both = _add_counts(self.keys, other.keys)
        for ns, n in Counter(map(_namespace, both)).items():
            self._distinct[ns] -= n  # a key both counted was one distinct key
        if len(self.keys) > self.max_keys:
            self._prune()

    def top(self, n: int) -> list[tuple[bytes, int]]:
        return _top(self.keys, n)


class TopCounter:
    """Counts per key only (a category's keys), bounded like KeyCounter; cheaper to feed."""

    __slots__ = ("counts", "max_keys", "truncated")

    def __init__(self, max_keys: int = 20_000) -> None:
        self.counts: Counter[bytes] = Counter()
        self.max_keys = max_keys
        self.truncated = False

    def add(self, key: bytes, count: int = 1) -> None:
        counts = self.counts
        counts[key] = counts.get(key, 0) + count
        if len(counts) > self.max_keys:
            self._prune()

    def add_many(self, keys: list[bytes]) -> None:
        """`add` each key in turn, in C-level passes (a batch that took the counter past
        its cap is taken back and added up to the key that reaches it, which `add` adds,
        pruning where it would have pruned)."""
        while keys:
            counts = self.counts
            before = len(counts)
            counts.update(keys)
            if len(counts) <= self.max_keys:
                return
            _take_back(counts, keys, _last(counts, len(counts) - before))
            room = self.max_keys - len(counts)
            first = list(islice(dict.fromkeys(filterfalse(counts.__contains__, keys)), room + 1))
            cut = keys.index(first[room])
            counts.update(keys[:cut])
            self.add(keys[cut])
            keys = keys[cut + 1 :]

    def _prune(self) -> None:
        keep = sorted(self.counts.items(), key=_COUNT, reverse=True)
        self.counts = Counter(dict(keep[: self.max_keys // 2]))
        self.truncated = True

    def merge(self, other: TopCounter) -> None:
        self.truncated = self.truncated or other.truncated
        counts = self.counts
        _add_counts(counts, other.counts)
        if len(counts) > self.max_keys:
            self._prune()

    def top(self, n: int) -> list[tuple[bytes, int]]:
        return _top(self.counts, n)


def _last(counts: Counter[bytes], n: int) -> list[bytes]:
    """The n keys inserted last."""
    return list(islice(reversed(counts), n)) if n else []


def _absent(mapping: dict[bytes, int]) -> Callable[[bytes], bool]:
    return lambda key: key not in mapping


def _take_back(counts: Counter[bytes], keys: list[bytes], new: list[bytes]) -> None:
    """Undo counts.update(keys), `new` being the keys it inserted: the counter is as it
    was, insertion order included."""
    for key in new:
        del counts[key]
    batch = Counter(keys)
    old = list(filter(counts.__contains__, batch))
    taken = map(sub, map(counts.__getitem__, old), map(batch.__getitem__, old))
    dict.update(counts, zip(old, taken, strict=True))


def _namespace(key: bytes) -> bytes:
    return key[: key.find(b":")]


def _sum_by_namespace(into: dict[bytes, int], counts: Mapping[bytes, int]) -> None:
    """into[ns] += the counts of the keys of each namespace."""
    names = list(map(_first, map(bytes.split, counts, repeat(b":"), repeat(1))))
    values = list(counts.values())
    for ns in set(names):
        into[ns] = into.get(ns, 0) + sum(compress(values, map(ns.__eq__, names)))


def _add_counts(target: Counter[bytes], batch: Mapping[bytes, int]) -> list[bytes]:
    """target[key] += n for each (key, n) of batch, new keys appended in batch's order (as
    adding them one by one would); the keys that were there already."""
    old = list(filter(target.__contains__, batch))
    new = list(filterfalse(target.__contains__, batch))
    # dict.update: the values given replace the old ones (Counter.update would count pairs)
    if old:
        summed = map(add, map(target.__getitem__, old), map(batch.__getitem__, old))
        dict.update(target, zip(old, summed, strict=True))
    if new:
        dict.update(target, zip(new, map(batch.__getitem__, new), strict=True))
    return old


def _top(counts: dict[bytes, int], n: int) -> list[tuple[bytes, int]]:
    """The n most counted (ties by key), sorting only the keys that can be among them."""
    items: Iterable[tuple[bytes, int]] = counts.items()
    if len(counts) > 8 * n > 0:
        threshold = sorted(counts.values(), reverse=True)[n - 1]
        items = compress(counts.items(), map(threshold.__le__, counts.values()))
    return sorted(items, key=_rank)[:n]


def _rank(kv: tuple[bytes, int]) -> tuple[int, bytes]:
    return -kv[1], kv[0]


_COUNT = itemgetter(1)
_first = itemgetter(0)
