"""The postcard decoder behind the full payload decode: every type, every way bytes go wrong.

Test vectors are postcard's own (its wire-format spec and its deserializer's tests) and
cache-kit's golden entries (../shared/guide/cache-kit-facts.md).
"""

from __future__ import annotations

import struct

import pytest

from cachediag.keyspace import entities as ent
from cachediag.keyspace.postcard import PType, TypeSyntaxError, decode_fields, parse_type

USER_V1 = bytes.fromhex("434b4954012a05416c69636511616c696365406578616d706c652e636f6d")
PRODUCT_V1 = bytes.fromhex("434b4954010870726f645f313233065769646765748fc2f5285cff584001")


def reads(type_text: str, data: bytes) -> bool:
    """Whether `data` is exactly one value of the type: decoded in full, nothing left."""
    result = decode_fields([parse_type(type_text)], data)
    return result.ok and result.trailing == 0 and result.end == len(data)


def failure(type_text: str, data: bytes) -> str:
    result = decode_fields([parse_type(type_text)], data)
    assert not result.ok, f"{data.hex()} decoded as {type_text}"
    return result.reason


# -- every type, from postcard's spec and tests ---------------------------------------------


@pytest.mark.parametrize(
    ("type_text", "data"),
    [
        ("u8", b"\x05"),
        ("i8", b"\xff"),
        ("bool", b"\x00"),
        ("bool", b"\x01"),
        # the spec's varint(u16) table
        ("u16", b"\x00"),
        ("u16", b"\x7f"),
        ("u16", b"\x80\x01"),
        ("u16", b"\xff\x7f"),
        ("u16", b"\x80\x80\x01"),
        ("u16", b"\xff\xff\x03"),
        ("u16", b"\xc7\xcb\x02"),  # 0xA5C7, postcard's de_u16
        ("u16", b"\x80\x00"),  # 0 with an excess byte: not canonical, but accepted
        ("u16", b"\x80\x80\x00"),
        # the spec's zigzag i16 table
        ("i16", b"\x01"),  # -1
        ("i16", b"\x7f"),  # -64
        ("i16", b"\x81\x01"),  # -65
        ("i16", b"\xff\xff\x03"),  # -32768
        ("u32", b"\x92\xe8\xac\xed\x0c"),  # 0xCDAB3412, postcard's de_u32
        ("i32", b"\x01"),
        ("u64", b"\xef\x9b\xaf\x85\x89\xcf\x95\x9a\x12"),  # postcard's de_u64
        ("u64", b"\xff" * 9 + b"\x01"),  # u64::MAX: 10 bytes
        ("i64", b"\xfe" + b"\xff" * 8 + b"\x01"),  # i64::MAX zigzag'd
        ("usize", b"\x80\x08"),
        ("isize", b"\x03"),
        (
            "u128",
            bytes.fromhex("ef9baf8589cf959a92deb7de8a929eabb424"),  # postcard's de_u128
        ),
        ("i128", b"\x02"),
        ("f32", struct.pack("<f", -32.005859375)),
        ("f64", struct.pack("<d", -32.005859375)),
        ("char", b"\x01a"),
        ("char", b"\x04" + "😀".encode()),
        ("string", b"\x10hello, postcard!"),
        ("string", b"\x00"),
        ("String", b"\x02\xc3\xa9"),  # é: a Rust spelling
        ("bytes", b"\x08\x01\x02\x03\x04\x05\x06\x07\x08"),
        ("bytes", b"\x02\xff\xfe"),  # bytes need not be UTF-8
        ("unit", b""),
        ("()", b""),
        ("option<u8>", b"\x00"),
        ("option<u8>", b"\x01\x07"),
        ("Option<String>", b"\x01\x02ok"),
        ("seq<u16>", b"\x03\x01\x80\x01\x02"),
        ("Vec<u8>", b"\x00"),
        ("map<string, u32>", b"\x02\x01a\x01\x01b\x02"),
        ("HashMap<String, Vec<u8>>", b"\x01\x01k\x02\x00\x01"),
        ("[u8; 4]", b"CKIT"),
        ("[u16; 2]", b"\x80\x01\x05"),
        ("(u8, u32, string)", b"\x01\x0a\x06Hello!"),  # postcard's tuples test
        ("enum", b"\x01"),  # BasicEnum::Bim
        ("(enum, u64)", b"\x01" + b"\xff" * 9 + b"\x01"),  # DataEnum::Bim(u64::MAX)
        ("option<option<bool>>", b"\x01\x01\x01"),
        ("seq<unit>", b"\xff\xff\xff\xff\x0f"),  # 4 billion zero-sized elements: bounded time
    ],
)
def test_every_postcard_type_decodes_its_own_encoding(type_text: str, data: bytes) -> None:
    assert reads(type_text, data)


@pytest.mark.parametrize(
    ("type_text", "data", "why"),
    [
        # the spec's canonicalization table: over the maximum length, over the maximum value
        ("u16", b"\x80\x80\x80\x00", "longer than the 3 bytes"),
        ("u16", b"\xff\xff\x07", "overflows it (last byte 0x07)"),
        ("u16", b"\xff\xff\x83\x00", "longer than the 3 bytes"),
        ("u32", b"\xff\xff\xff\xff\x10", "overflows it (last byte 0x10)"),
        ("u64", b"\xff" * 10, "longer than the 10 bytes"),
        ("u64", b"\xff" * 9 + b"\x02", "overflows it (last byte 0x02)"),
        ("i64", b"\x80" * 11, "longer than the 10 bytes"),
        ("u128", b"\xff" * 18 + b"\x04", "overflows it (last byte 0x04)"),
        ("string", b"\xff" * 10, "varint of the length of a string is longer than the 10 bytes"),
        ("enum", b"\xff\xff\xff\xff\x1f", "overflows it"),
        ("bool", b"\x02", "bool byte 0x02 is neither 0 nor 1"),
        ("option<u8>", b"\x02\x00", "option tag 0x02 is neither 0 (None) nor 1 (Some)"),
        ("string", b"\x02\xc3\x28", "string is not UTF-8 (byte 0 of its 2)"),
        ("char", b"\x05abcde", "char of 5 bytes (a char takes at most 4)"),
        ("char", b"\x00", "char of 0 bytes"),
        ("char", b"\x01\xff", "char is not UTF-8"),
        ("seq<u32>", b"\xff\xff\x03\x01", "seq of 65535 elements needs at least 65535 bytes"),
        ("map<u8, u8>", b"\x05\x01\x02", "map of 5 elements needs at least 10 bytes, 2 bytes"),
    ],
)
def test_malformed_values_are_refused_as_postcard_refuses_them(
    type_text: str, data: bytes, why: str
) -> None:
    assert why in failure(type_text, data)


@pytest.mark.parametrize(
    ("type_text", "data", "why"),
    [
        ("u8", b"", "a u8 needs 1 byte, the value ends after 0 more bytes"),
        ("i8", b"", "an i8 needs 1 byte"),
        ("f32", b"\x00\x00", "an f32 needs 4 bytes, the value ends after 2 more bytes"),
        ("f64", b"\x00" * 7, "an f64 needs 8 bytes, the value ends after 7 more bytes"),
        ("u32", b"\x80\x80", "the value ends inside the varint of u32 (2 of its bytes)"),
        ("u64", b"", "the value ends inside the varint of u64 (0 of its bytes)"),
        ("string", b"\x05Al", "string of 5 bytes runs past the end of the value (2 bytes left)"),
        ("bytes", b"\x03\x00", "bytes of 3 bytes runs past the end"),
        ("char", b"\x02\xc3", "a char needs 2 bytes"),
        ("option<u64>", b"\x01", "Some: the value ends inside the varint of u64"),
        ("option<u8>", b"", "an option tag needs 1 byte"),
        ("seq<string>", b"\x02\x01a\x03b", "seq #2: string of 3 bytes runs past the end"),
        ("[u8; 4]", b"CK", "element #3: a u8 needs 1 byte"),
        ("(u8, string)", b"\x01", "item #2: the value ends inside the varint of the length"),
        ("map<string, u8>", b"\x01\x01k", "map value #1: a u8 needs 1 byte"),
    ],
)
def test_truncation_inside_each_type_says_where(type_text: str, data: bytes, why: str) -> None:
    assert why in failure(type_text, data)


def test_trailing_bytes_are_reported_not_failed() -> None:
    # postcard::from_bytes ignores them (it does not return the unused part): the app reads
    # such an entry, but it holds more than the layout says.
    result = decode_fields([parse_type("u8")], b"\x01\x02\x03")
    assert result.ok and result.trailing == 2 and result.end == 1


def test_a_count_no_payload_can_hold_is_refused_at_once() -> None:
    # varint(usize) of 2**63: never loops, whatever the count claims
    result = decode_fields([parse_type("seq<u8>")], b"\xff" * 9 + b"\x00")
    assert not result.ok and "needs at least" in result.reason


# -- the golden entries, and truncation at each field ---------------------------------------

USER = ent.parse_entities({"user": {"fields": ["id: u64", "name: string", "email: string"]}}, "t")
USER_ENTITY = next(iter(USER))
# Where each field of USER_V1 starts: header is 5 bytes; id 1 byte; name 1 + 5; email 1 + 17.
FIELD_STARTS = [5, 6, 12]


def test_golden_entries_decode_in_full() -> None:
    assert ent.decode_entry(USER_ENTITY, USER_V1) == {
        "entity": "user",
        "version": 1,
        "fields": 3,
        "state": "ok",
    }
    product = next(
        iter(ent.parse_entities({"product": {"fields": ["string", "string", "f64", "bool"]}}, "t"))
    )
    assert ent.decode_entry(product, PRODUCT_V1)["state"] == "ok"


@pytest.mark.parametrize("cut", range(6, len(USER_V1)))
def test_truncation_at_each_byte_names_the_field_it_falls_in(cut: int) -> None:
    outcome = ent.decode_entry(USER_ENTITY, USER_V1[:cut])
    field = max(i for i, start in enumerate(FIELD_STARTS) if start < cut) + 1
    if cut in FIELD_STARTS:  # cut exactly between fields: the next field is missing
        field = FIELD_STARTS.index(cut) + 1
    assert outcome["state"] == "broken"
    assert outcome["field"] == field
    assert outcome["field_name"] == ["id", "name", "email"][field - 1]
    assert outcome["offset"] == FIELD_STARTS[field - 1]
    assert outcome["field_type"] in ("u64", "string")


def test_the_issue_s_two_values() -> None:
    truncated = ent.decode_entry(USER_ENTITY, bytes.fromhex("434b4954012a05416c"))
    assert (truncated["state"], truncated["field"], truncated["field_name"]) == (
        "broken",
        2,
        "name",
    )
    assert truncated["reason"] == "string of 5 bytes runs past the end of the value (2 bytes left)"
    assert ent.describe_outcome(truncated) == (
        "payload does not decode as user: field 2 name (string) at byte 6: "
        "string of 5 bytes runs past the end of the value (2 bytes left)"
    )
    ff = ent.decode_entry(USER_ENTITY, b"CKIT\x01" + b"\xff" * 10)
    assert (ff["state"], ff["field"], ff["offset"]) == ("broken", 1, 5)
    assert "longer than the 10 bytes" in ff["reason"]


def test_trailing_bytes_after_the_layout() -> None:
    outcome = ent.decode_entry(USER_ENTITY, USER_V1 + b"\x01\x02")
    assert outcome == {
        "entity": "user",
        "version": 1,
        "fields": 3,
        "state": "trailing",
        "trailing_bytes": 2,
        "offset": len(USER_V1),
    }


def test_layouts_per_schema_version() -> None:
    entities = ent.parse_entities(
        {"user": {"versions": {"1": ["u64", "string", "string"], "2": ["u64", "string"]}}}, "t"
    )
    user = entities.match("user:1", "user:*")
    assert user is not None
    assert ent.decode_entry(user, USER_V1)["state"] == "ok"
    v2 = b"CKIT\x02" + USER_V1[5:12]  # id and name only
    assert ent.decode_entry(user, v2)["state"] == "ok"
    v3 = b"CKIT\x03" + USER_V1[5:]
    assert ent.decode_entry(user, v3) == {
        "entity": "user",
        "version": 3,
        "state": "no_layout",
        "reason": "the layout covers v1, v2 only",
    }
    assert ent.decode_entry(user, b"JUNK\x01")["state"] == "no_layout"  # not header-valid


def test_which_layout_a_key_gets() -> None:
    entities = ent.parse_entities(
        {
            "user": {"fields": ["u64"]},
            "user:settings": {"fields": ["bool"]},
            "session:*:*": {"fields": ["string"]},
        },
        "t",
    )

    def name(key: str, namespace: str) -> str | None:
        entity = entities.match(key, namespace)
        return entity.name if entity else None

    assert name("user:1", "user:*") == "user"
    assert name("user:settings:1", "user:settings:*") == "user:settings"  # longest prefix
    assert name("session:7:abc", "session:*:*") == "session:*:*"  # a namespace as printed
    assert name("users:1", "users:*") is None  # a prefix is a whole segment
    assert name("product:1", "product:*") is None
    assert entities.match("user/1", "user/*", "/") is not None  # inspect --delimiter /
    assert entities.match("user/1", "user/*") is None


# -- type names ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("u64", "u64"),
        ("  String ", "string"),
        ("std::string::String", "string"),
        ("&str", "string"),
        ("Vec<u8>", "seq<u8>"),
        ("Option<Vec<String>>", "option<seq<string>>"),
        ("BTreeMap<u32, bool>", "map<u32, bool>"),
        ("HashSet<i64>", "seq<i64>"),
        ("[u8; 16]", "[u8; 16]"),
        ("(u8, (bool, char))", "(u8, (bool, char))"),
        ("()", "unit"),
    ],
)
def test_type_names(text: str, parsed: str) -> None:
    assert str(parse_type(text)) == parsed


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("strin", "unknown type 'strin' (known: "),
        ("u63", "unknown type 'u63'"),
        ("option", "expected '<' in type 'option', found the end"),
        ("option<u8", "expected '>' in type 'option<u8', found the end"),
        ("map<u8>", "expected ',' in type 'map<u8>', found '>'"),
        ("seq<u8>>", "unexpected '>' in type 'seq<u8>>'"),
        ("[u8; x]", "expected an element count after ';'"),
        ("[u8]", "expected ';' in type '[u8]'"),
        ("", "ends where a type was expected"),
        ("u8 u16", "unexpected 'u16'"),
        ("rust_decimal::Decimal", "cannot be read back"),
        ("option<" * 20 + "u8" + ">" * 20, "nests deeper than 16 levels"),
        ("[u8; 99999999]", "is over"),
    ],
)
def test_bad_type_names_say_what_is_wrong(text: str, why: str) -> None:
    with pytest.raises(TypeSyntaxError, match=None) as raised:
        parse_type(text)
    assert why in str(raised.value)


def test_min_sizes_bound_the_work() -> None:
    assert parse_type("unit").min_size == 0
    assert parse_type("[u32; 4]").min_size == 4
    assert parse_type("(f64, bool)").min_size == 9
    assert PType("seq", (PType("unit"),)).min_size == 1
