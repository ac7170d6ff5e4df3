"""Which of a Redis Cluster's 16384 slots a key hashes to: CRC16 (XMODEM) of the key, or
of its hash tag, modulo 16384, as the cluster specification defines it. Pure."""

from __future__ import annotations

import binascii

SLOTS = 16384


def crc16(data: bytes) -> int:
    # binascii's CRC-CCITT with a zero start is the cluster's CRC16 (XMODEM), in C: a purge
    # groups every key it deletes by slot, a million keys at a time.
    return binascii.crc_hqx(data, 0)


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


def slot_groups(keys: list[bytes]) -> list[list[bytes]]:
    """`keys` grouped by slot, in first-seen order: a cluster node refuses a multi-key
    command (UNLINK k1 k2 ...) whose keys hash to different slots (CROSSSLOT)."""
    groups: dict[int, list[bytes]] = {}
    for key in keys:
        groups.setdefault(key_slot(key), []).append(key)
    return list(groups.values())
