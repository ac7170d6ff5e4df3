"""postcard, the serde format cache-kit writes its payloads in: type names and a decoder.

postcard is not self-describing: without the entity's field types a payload is only
bytes. Given them (cachediag.toml's `[entities]`), each field is read exactly as
postcard's deserializer reads it, and the first one that does not decode is named with
its byte offset and why. Decoded values are never kept or shown: an entry's fields are
user data, and what diagnosis needs is where and why the bytes stop making sense.

The wire format (postcard's spec, "The Postcard Wire Format"):
  u8, i8              one byte, as is
  u16..u128, i16..    LEB128 varint, signed ones zigzag'd first; at most ceil(bits / 7)
                      bytes, and the last byte may not carry bits past the type's width
  usize, isize        varint(u64), varint(i64) (the app's 64-bit platform)
  f32, f64            4 / 8 bytes little-endian
  bool                one byte, 0 or 1 (anything else is an error)
  char                varint length (at most 4) + UTF-8
  string, bytes       varint length + the bytes (a string must be UTF-8)
  option<T>           0 (None) or 1 then T
  seq<T>, map<K, V>   varint count + the items (map: key, value, key, value, ...)
  [T; N], (T, U)      the items, no count
  unit                nothing
  enum                a unit-only enum: its varint(u32) discriminant
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

# Varint integer types: (bits, signed).
_VARINTS = {
    "u16": (16, False),
    "u32": (32, False),
    "u64": (64, False),
    "u128": (128, False),
    "i16": (16, True),
    "i32": (32, True),
    "i64": (64, True),
    "i128": (128, True),
    "usize": (64, False),
    "isize": (64, True),
    "enum": (32, False),  # a unit variant is its discriminant alone
}
_FIXED = {"u8": 1, "i8": 1, "f32": 4, "f64": 8, "bool": 1, "unit": 0}
_LENGTH_PREFIXED = ("string", "bytes", "char")
SCALARS = (*_FIXED, *_VARINTS, *_LENGTH_PREFIXED)
GENERICS = {"option": 1, "seq": 1, "map": 2}

# Spellings people paste from their Rust structs, read as postcard's types.
ALIASES = {
    "str": "string",
    "&str": "string",
    "vec": "seq",
    "vecdeque": "seq",
    "hashset": "seq",
    "btreeset": "seq",
    "hashmap": "map",
    "btreemap": "map",
}
# Types that have no postcard form the app can read back: say so instead of "unknown type".
UNREADABLE = {
    "decimal": "rust_decimal::Decimal is written by postcard but cannot be read back "
    "(it asks for deserialize_any): the guide's Issue 4 Step 3; cache i64 cents instead "
    "(Solution 4B), or write 'string' here to check the entries already cached",
}

MAX_DEPTH = 16
MAX_ARRAY = 1 << 20
_TOKEN = re.compile(r"\s*(?:([A-Za-z_&][A-Za-z0-9_:]*)|(\d+)|(\S))")

KNOWN_TYPES = (
    ", ".join(SCALARS) + ", option<T>, seq<T>, map<K, V>, [T; N], (T, U, ...)"
    " (Rust spellings String, Vec, HashMap... too)"
)


class TypeSyntaxError(ValueError):
    """A type name cachediag cannot read; the message is one clause for a usage error."""


@dataclass(frozen=True)
class PType:
    """A postcard type: a scalar name, or option/seq/map/array/tuple over `args`."""

    kind: str
    args: tuple[PType, ...] = ()
    count: int = 0  # [T; N]

    def __str__(self) -> str:
        if self.kind == "array":
            return f"[{self.args[0]}; {self.count}]"
        if self.kind == "tuple":
            return "(" + ", ".join(map(str, self.args)) + ")"
        if self.args:
            return f"{self.kind}<{', '.join(map(str, self.args))}>"
        return self.kind

    @property
    def min_size(self) -> int:
        """The fewest bytes an encoded value of this type takes (0 only for unit-like types)."""
        if self.kind in _FIXED:
            return _FIXED[self.kind]
        if self.kind in ("array",):
            return self.args[0].min_size * self.count
        if self.kind == "tuple":
            return sum(arg.min_size for arg in self.args)
        return 1  # a varint, a length, an option tag or a count takes at least one byte


def parse_type(text: str) -> PType:
    """`"option<seq<u64>>"` -> PType; raises TypeSyntaxError naming what is wrong."""
    tokens = _tokenize(text.strip())
    parsed, rest = _parse(tokens, 0, text)
    if rest != len(tokens):
        raise TypeSyntaxError(f"unexpected '{tokens[rest]}' in type '{text}'")
    return parsed


def _tokenize(text: str) -> list[str]:
    tokens = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            break
        token = match.group(1) or match.group(2) or match.group(3)
        if token is not None:
            tokens.append(token)
        position = match.end()
    if "".join(tokens) != "".join(text.split()):
        raise TypeSyntaxError(f"cannot read type '{text}'")
    return tokens


def _expect(tokens: list[str], at: int, want: str, text: str) -> int:
    if at >= len(tokens) or tokens[at] != want:
        found = f"'{tokens[at]}'" if at < len(tokens) else "the end"
        raise TypeSyntaxError(f"expected '{want}' in type '{text}', found {found}")
    return at + 1


def _parse(tokens: list[str], at: int, text: str, depth: int = 0) -> tuple[PType, int]:
    if depth > MAX_DEPTH:
        raise TypeSyntaxError(f"type '{text}' nests deeper than {MAX_DEPTH} levels")
    if at >= len(tokens):
        raise TypeSyntaxError(f"type '{text}' ends where a type was expected")
    token = tokens[at]
    if token == "[":
        inner, at = _parse(tokens, at + 1, text, depth + 1)
        at = _expect(tokens, at, ";", text)
        if at >= len(tokens) or not tokens[at].isdigit():
            raise TypeSyntaxError(f"expected an element count after ';' in type '{text}'")
        count = int(tokens[at])
        if count > MAX_ARRAY:
            raise TypeSyntaxError(f"array of {count} elements in type '{text}' is over {MAX_ARRAY}")
        at = _expect(tokens, at + 1, "]", text)
        return PType("array", (inner,), count), at
    if token == "(":
        items: list[PType] = []
        at += 1
        while at < len(tokens) and tokens[at] != ")":
            item, at = _parse(tokens, at, text, depth + 1)
            items.append(item)
            if at < len(tokens) and tokens[at] == ",":
                at += 1
        at = _expect(tokens, at, ")", text)
        return (PType("tuple", tuple(items)) if items else PType("unit")), at
    name = token.rsplit("::", 1)[-1].lower()  # std::string::String -> string
    name = ALIASES.get(name, name)
    if name in UNREADABLE:
        raise TypeSyntaxError(UNREADABLE[name])
    if name in GENERICS:
        at = _expect(tokens, at + 1, "<", text)
        args = []
        for index in range(GENERICS[name]):
            if index:
                at = _expect(tokens, at, ",", text)
            arg, at = _parse(tokens, at, text, depth + 1)
            args.append(arg)
        at = _expect(tokens, at, ">", text)
        return PType(name, tuple(args)), at
    if name in SCALARS:
        return PType(name), at + 1
    raise TypeSyntaxError(f"unknown type '{token}' (known: {KNOWN_TYPES})")


# -- decoding -----------------------------------------------------------------------------


class DecodeError(Exception):
    """Where (byte offset) and why the bytes stop matching the type; `path` says inside what."""

    def __init__(self, at: int, reason: str) -> None:
        super().__init__(reason)
        self.at = at
        self.reason = reason
        self.path: list[str] = []


@dataclass(frozen=True)
class FieldsResult:
    """What decoding a payload against a list of field types found."""

    decoded: int  # fields decoded in full
    end: int  # offset just past the last decoded byte
    failed: int | None = None  # index of the first field that does not decode
    field_start: int | None = None  # its offset
    at: int | None = None  # where the error was found
    reason: str = ""
    trailing: int = 0  # bytes left after the last field

    @property
    def ok(self) -> bool:
        return self.failed is None


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes, pos: int) -> None:
        self.data = data
        self.pos = pos

    def left(self) -> int:
        return len(self.data) - self.pos

    def take(self, count: int, what: str) -> bytes:
        if count > self.left():
            raise DecodeError(
                self.pos,
                f"{what} needs {_plural(count, 'byte')}, the value ends after "
                f"{_plural(self.left(), 'more byte')}",
            )
        start = self.pos
        self.pos += count
        return self.data[start : self.pos]

    def varint(self, bits: int, what: str) -> int:
        """postcard's try_take_varint_*: at most ceil(bits/7) bytes, no bits past the width."""
        start = self.pos
        most = -(-bits // 7)
        value = 0
        for index in range(most):
            if self.pos >= len(self.data):
                raise DecodeError(
                    start, f"the value ends inside the varint of {what} ({index} of its bytes)"
                )
            byte = self.data[self.pos]
            self.pos += 1
            value |= (byte & 0x7F) << (7 * index)
            if not byte & 0x80:
                last_max = (1 << (bits - 7 * (most - 1))) - 1
                if index == most - 1 and byte > last_max:
                    raise DecodeError(
                        start, f"varint of {what} overflows it (last byte 0x{byte:02x})"
                    )
                return value
        raise DecodeError(start, f"varint of {what} is longer than the {most} bytes it can take")

    def length(self, what: str) -> int:
        return self.varint(64, f"the length of {what}")


def _article(kind: str) -> str:
    return "an" if kind[0] in "aeiof" else "a"  # an i8, an f64, a u8


def _skip(reader: _Reader, ptype: PType, depth: int = 0) -> None:
    """Read one value of `ptype` (and throw it away), raising DecodeError where it breaks."""
    kind = ptype.kind
    if kind in _VARINTS:
        # Zigzag (signed types) changes the value, not which bytes are valid.
        reader.varint(_VARINTS[kind][0], kind)
        return
    if kind == "bool":
        at = reader.pos
        (byte,) = reader.take(1, "a bool")
        if byte > 1:
            raise DecodeError(at, f"bool byte 0x{byte:02x} is neither 0 nor 1")
        return
    if kind in _FIXED:
        reader.take(_FIXED[kind], f"{_article(kind)} {kind}")
        return
    if kind in ("string", "bytes"):
        at = reader.pos
        count = reader.length(f"a {kind}")
        if count > reader.left():
            raise DecodeError(
                at,
                f"{kind} of {_plural(count, 'byte')} runs past the end of the value "
                f"({_plural(reader.left(), 'byte')} left)",
            )
        raw = reader.take(count, kind)
        if kind == "string":
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise DecodeError(
                    at, f"string is not UTF-8 (byte {error.start} of its {len(raw)})"
                ) from None
        return
    if kind == "char":
        at = reader.pos
        count = reader.length("a char")
        if count > 4:
            raise DecodeError(at, f"char of {count} bytes (a char takes at most 4)")
        raw = reader.take(count, "a char")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise DecodeError(at, "char is not UTF-8") from None
        if not text:
            raise DecodeError(at, "char of 0 bytes")
        return
    if kind == "option":
        at = reader.pos
        (tag,) = reader.take(1, "an option tag")
        if tag == 1:
            _nested(reader, ptype.args[0], "Some", depth)
        elif tag != 0:
            raise DecodeError(at, f"option tag 0x{tag:02x} is neither 0 (None) nor 1 (Some)")
        return
    if kind in ("seq", "map"):
        at = reader.pos
        count = reader.length(f"a {kind}")
        items = ptype.args
        smallest = sum(item.min_size for item in items)
        # A count no payload could hold is an error before any element is read: bounded
        # time whatever the count claims.
        if smallest and count * smallest > reader.left():
            raise DecodeError(
                at,
                f"{kind} of {_plural(count, 'element')} needs at least "
                f"{_plural(count * smallest, 'byte')}, {_plural(reader.left(), 'byte')} left",
            )
        if not smallest:
            count = min(count, 1)  # zero-sized elements: one read says all there is
        for index in range(count):
            for part, item in zip(
                ("key ", "value ") if kind == "map" else ("",), items, strict=True
            ):
                _nested(reader, item, f"{kind} {part}#{index + 1}", depth)
        return
    if kind == "array":
        item = ptype.args[0]
        for index in range(ptype.count if item.min_size else min(ptype.count, 1)):
            _nested(reader, item, f"element #{index + 1}", depth)
        return
    if kind == "tuple":
        for index, item in enumerate(ptype.args):
            _nested(reader, item, f"item #{index + 1}", depth)
        return
    raise AssertionError(f"unhandled postcard type {kind}")  # pragma: no cover


def _nested(reader: _Reader, ptype: PType, where: str, depth: int) -> None:
    try:
        _skip(reader, ptype, depth + 1)
    except DecodeError as error:
        error.path.insert(0, where)
        raise


def decode_fields(types: Sequence[PType], data: bytes, start: int = 0) -> FieldsResult:
    """Read `types` one after another from `data[start:]`, as postcard reads a struct."""
    reader = _Reader(data, start)
    for index, ptype in enumerate(types):
        field_start = reader.pos
        try:
            _skip(reader, ptype)
        except DecodeError as error:
            reason = error.reason
            if error.path:
                reason = f"{' > '.join(error.path)}: {reason}"
            return FieldsResult(
                decoded=index,
                end=field_start,
                failed=index,
                field_start=field_start,
                at=error.at,
                reason=reason,
            )
    return FieldsResult(decoded=len(types), end=reader.pos, trailing=reader.left())
