"""How large a reply may be: a bound that fits what was asked, checked from its header.

A server under diagnosis may be broken or hostile, and what it claims costs memory: a
bulk length of 10^13 answering PING, a 50-million-element array answering SCAN, an `mg`
value of 10^11 bytes. Every read therefore carries a bound made from the request (PING:
a word; GETRANGE 0 63: 64 bytes; SCAN COUNT n: about n keys; INFO: a few MB), and a
reply past it is a ProtocolViolation naming the bound. The header's claim is checked
before the body is read (clients/resp.py peeks at a reply that starts a read, the
Memcached client reads the size from the VALUE / VA line), and the bytes a read takes
in all are counted against the same bound, so a claim hidden deeper in a pipeline is
cut off after at most the bound (plus one socket read) too.
"""

from __future__ import annotations

from typing import NamedTuple

from cachediag.errors import ProtocolViolation

KiB = 1024
MiB = 1024 * KiB

# A one-word or one-number reply (PONG, OK, an integer, a type name), or the error a
# server answers instead: Redis' longest quote the command's arguments, each cut at
# 128 characters, so they stay well under this.
SMALL_REPLY_BYTES = 1 * KiB
# INFO, even with every section, a thousand commandstats lines and 16 databases, is tens
# of KB; a server that answers more is not describing itself.
INFO_BYTES = 8 * MiB
# SCAN: the cursor and about COUNT key names. Redis returns whole hash buckets, so a
# call may return a few times COUNT; key names are short, but a few may be long (a
# 1 MiB key name is legal): the bytes bound is generous, the count bound is not.
SCAN_BYTES = 8 * MiB
SCAN_ELEMENTS_PER_COUNT = 16
SCAN_ELEMENTS_SLACK = 64
# Anything else cachediag sends (CONFIG GET, SLOWLOG GET 32, LATENCY LATEST, MEMORY
# STATS, COMMAND INFO): structured replies of at most some thousands of elements.
DEFAULT_BYTES = 4 * MiB
DEFAULT_ELEMENTS = 100_000
# Memcached: a `stats` group is a few hundred lines (stats slabs: about 20 per class, up
# to 64 classes; the line bound ends a flood of short lines long before 4 MiB); an item
# value is at most item_size_max, 1 MiB unless memcached -I raised it; one metadump line
# describes one item (its key at most 250 bytes, escaped).
STATS_BYTES = 4 * MiB
STATS_LINES = 20_000
MEMCACHED_VALUE_BYTES = 1 * MiB
METADUMP_LINE_BYTES = 64 * KiB

# Replies of one word or number (or an error in their place).
_SMALL = frozenset(
    b"PING ECHO TYPE TTL PTTL EXISTS DBSIZE STRLEN LLEN SCARD ZCARD HLEN XLEN SELECT AUTH "
    b"TIME".split()
)
_SMALL_SUBCOMMANDS = frozenset(
    [(b"MEMORY", b"USAGE"), (b"OBJECT", b"ENCODING"), (b"SLOWLOG", b"LEN")]
)


class ReplyBound(NamedTuple):
    """The most a read may take: `bytes` in all (all the replies of the read, framing and
    error replies included), `bulk` in any one bulk string and `elements` in any one array."""

    bytes: int
    bulk: int
    elements: int
    what: str  # what was asked, for the message: "PING", "SCAN COUNT 1000", "3,000 replies"


def size_text(size: int) -> str:
    """1048576 -> '1 MiB', 64 -> '64 bytes': a bound as people read it."""
    for unit, name in ((MiB, "MiB"), (KiB, "KiB")):
        if size >= unit and size % unit == 0:
            return f"{size // unit:,} {name}"
    return f"{size:,} bytes"


def _word(arg: object) -> bytes:
    if isinstance(arg, bytes):
        return arg.upper()
    return str(arg).encode("utf-8", "surrogateescape").upper()


def _int(arg: object) -> int | None:
    try:
        return int(arg)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None


def small(what: str, replies: int = 1) -> ReplyBound:
    """`replies` replies of one word or number each (the scan engine's per-key commands)."""
    return ReplyBound(SMALL_REPLY_BYTES * max(replies, 1), SMALL_REPLY_BYTES, 16, what)


def getrange(start: int, end: int, replies: int = 1) -> ReplyBound:
    """GETRANGE key start end: at most end - start + 1 bytes, each, plus its framing."""
    size = max(end - start + 1, 0)
    what = f"GETRANGE {start} {end}"
    return ReplyBound((size + SMALL_REPLY_BYTES) * max(replies, 1), size, 16, what)


def scan(count: int) -> ReplyBound:
    """SCAN ... COUNT n: a cursor and about n keys."""
    return ReplyBound(
        SCAN_BYTES,
        SCAN_BYTES,
        max(count, 1) * SCAN_ELEMENTS_PER_COUNT + SCAN_ELEMENTS_SLACK,
        f"SCAN COUNT {count:,}",
    )


def for_command(args: tuple[object, ...] | list[object]) -> ReplyBound:
    """The bound of one Redis command's reply, from the command itself."""
    if not args:
        return ReplyBound(DEFAULT_BYTES, DEFAULT_BYTES, DEFAULT_ELEMENTS, "an empty command")
    name = _word(args[0])
    what = name.decode("ascii", "replace")
    if name in _SMALL:
        return small(what)
    if len(args) > 1 and (name, _word(args[1])) in _SMALL_SUBCOMMANDS:
        return small(f"{what} {_word(args[1]).decode('ascii', 'replace')}")
    if name == b"GETRANGE" and len(args) == 4:
        start, end = _int(args[2]), _int(args[3])
        if start is not None and end is not None and 0 <= start <= end:
            return getrange(start, end)
    if name == b"INFO":
        return ReplyBound(INFO_BYTES, INFO_BYTES, 16, what)
    if name == b"SCAN":
        words = [_word(arg) for arg in args]
        count = _int(words[words.index(b"COUNT") + 1]) if b"COUNT" in words[:-1] else None
        return scan(count if count is not None else 10)
    return ReplyBound(DEFAULT_BYTES, DEFAULT_BYTES, DEFAULT_ELEMENTS, what)


def for_pipeline(commands: list[tuple[object, ...]]) -> tuple[ReplyBound, list[ReplyBound]]:
    """The bound of a pipeline's replies (the sum of their bytes, the largest bulk and
    array), and each reply's own."""
    each = [for_command(command) for command in commands]
    if len(each) == 1:
        return each[0], each
    names = list(dict.fromkeys(bound.what for bound in each))
    what = ", ".join(names[:6]) + (", …" if len(names) > 6 else "")
    return (
        ReplyBound(
            sum(bound.bytes for bound in each),
            max(bound.bulk for bound in each),
            max(bound.elements for bound in each),
            f"{len(each):,} pipelined commands ({what})",
        ),
        each,
    )


def too_large(what: str, claimed: int, limit: int, unit: str = "bytes") -> ProtocolViolation:
    """The error of a reply past its bound, naming both."""
    if unit == "bytes":
        return ProtocolViolation(
            f"the reply to {what} claims {claimed:,} bytes, past its bound of {size_text(limit)}"
        )
    return ProtocolViolation(
        f"the reply to {what} claims {claimed:,} {unit}, past its bound of {limit:,}"
    )


def overran(what: str, limit: int, replies: int = 1) -> ProtocolViolation:
    """The error of replies that kept coming past their bound (no single header said so)."""
    if replies == 1:
        return ProtocolViolation(f"the reply to {what} ran past its bound of {size_text(limit)}")
    return ProtocolViolation(
        f"the replies to {what} ran past their bound of {size_text(limit)} in all"
    )


def peek(data: bytes, bound: ReplyBound, most: int = 6) -> None:
    """Check the first headers of RESP `data` (the start of a reply) against `bound`.

    Walks at most `most` headers into the first reply (aggregates into their first
    element, bulk strings skipped by their length): enough for PING's or INFO's bulk,
    SCAN's cursor and key array, and its first keys. Stops quietly where `data` ends;
    a malformed header is hiredis' to name.
    """
    pos = 0
    size = len(data)
    for _ in range(most):
        if pos >= size:
            return
        kind = data[pos : pos + 1]
        end = data.find(b"\r\n", pos, pos + 24)
        if end < 0:
            return
        if kind not in b"$*%~>=":
            return  # a simple string, an integer or an error: no length to trust
        try:
            claimed = int(data[pos + 1 : end])
        except ValueError:
            return
        if kind in b"$=":
            if claimed > bound.bulk:
                raise too_large(bound.what, claimed, bound.bulk)
            pos = end + 2 + max(claimed, 0) + 2
        else:
            if claimed > bound.elements:
                raise too_large(bound.what, claimed, bound.elements, "elements")
            pos = end + 2
