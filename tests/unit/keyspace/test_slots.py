"""Key slots as Redis computes them (the values are CLUSTER KEYSLOT's answers)."""

from __future__ import annotations

import pytest

from cachediag.keyspace.slots import crc16, hash_tag, key_slot


def test_crc16_xmodem_check_value() -> None:
    assert crc16(b"123456789") == 0x31C3  # the CRC-16/XMODEM reference value


@pytest.mark.parametrize(
    ("key", "slot"),
    [
        (b"user:1", 10778),  # the "MOVED 10778"
        (b"foo", 12182),
        (b"{user1000}.following", 3443),
        (b"{user1000}.followers", 3443),
        (b"foo{}{bar}", 8363),  # an empty first tag: the whole key is hashed
        (b"foo{{bar}}zap", 4015),  # the tag is "{bar"
        (b"", 0),
    ],
)
def test_key_slot_matches_redis(key: bytes, slot: int) -> None:
    assert key_slot(key) == slot


def test_hash_tag() -> None:
    assert hash_tag(b"{user:1}:cart") == b"user:1"
    assert hash_tag(b"no-tag}{") == b"no-tag}{"
