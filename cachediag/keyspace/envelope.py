"""cache-kit's cache entry envelope: b"CKIT", a LEB128 varint schema version, then the payload.

See ../shared/guide/cache-kit-facts.md. The library's docs draw the version as 4 bytes
little-endian; the bytes it writes are postcard's varint, which is what we decode.
"""

from __future__ import annotations

from dataclasses import dataclass

MAGIC = b"CKIT"
_MAX_VARINT_BYTES = 5  # a u32 takes at most 5 LEB128 bytes

# Envelope states
VALID = "valid"
UNDECODABLE = "undecodable"  # magic present, version or payload broken
NO_ENVELOPE = "no_envelope"  # does not start with the magic


@dataclass(frozen=True)
class Envelope:
    state: str
    version: int | None = None
    payload_len: int | None = None
    reason: str = ""

    @property
    def carries_magic(self) -> bool:
        return self.state != NO_ENVELOPE


def decode(head: bytes, total_len: int | None = None) -> Envelope:
    """Decode the envelope from the first bytes of a value.

    `head` may be a prefix of the value (we read only the first bytes of each
    sampled value); `total_len` is the value's full length when known.
    """
    if not head.startswith(MAGIC):
        return Envelope(NO_ENVELOPE, reason=f"magic {list(head[:4])}")
    version = 0
    shift = 0
    offset = len(MAGIC)
    for index in range(_MAX_VARINT_BYTES):
        pos = offset + index
        if pos >= len(head):
            return Envelope(UNDECODABLE, reason="value ends inside the schema version")
        byte = head[pos]
        version |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    else:
        return Envelope(UNDECODABLE, reason="schema version is not a valid varint")
    if version > 0xFFFFFFFF:
        return Envelope(UNDECODABLE, reason="schema version overflows u32")
    payload_start = pos + 1
    length = total_len if total_len is not None else len(head)
    payload_len = length - payload_start
    if payload_len <= 0:
        return Envelope(UNDECODABLE, version=version, payload_len=0, reason="no payload")
    return Envelope(VALID, version=version, payload_len=payload_len)
