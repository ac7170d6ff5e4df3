"""Which of a Redis Cluster's 16384 slots a key hashes to: CRC16 (XMODEM) of the key, or
of its hash tag, modulo 16384, as the cluster specification defines it. Pure."""

from __future__ import annotations

SLOTS = 16384


def _table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
        table.append(crc & 0xFFFF)
    return table


_TABLE = _table()


def crc16(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ _TABLE[((crc >> 8) ^ byte) & 0xFF]
    return crc


def hash_tag(key: bytes) -> bytes:
    """The part of `key` that is hashed: between the first { and the next }, when that is
    not empty ("{user:1}:cart" -> "user:1"); else the whole key."""
    start = key.find(b"{")
    if start >= 0:
        end = key.find(b"}", start + 1)
        if end > start + 1:
            return key[start + 1 : end]
    return key


def key_slot(key: bytes) -> int:
    return crc16(hash_tag(key)) % SLOTS
