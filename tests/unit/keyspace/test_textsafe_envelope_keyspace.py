"""Pure helpers: escaping untrusted text, decoding cache-kit envelopes, key namespaces."""

from __future__ import annotations

import pytest

from cachediag.keyspace import envelope
from cachediag.keyspace.namespaces import namespace_of, nondeterministic_segment
from cachediag.safety.textsafe import safe_text

NOW = 1_795_000_000.0

# Golden entries from cache-kit's own test suite (cache-kit-facts.md).
USER_V1 = bytes.fromhex("434b4954012a05416c69636511616c696365406578616d706c652e636f6d")
PRODUCT_V1 = bytes.fromhex("434b4954010870726f645f313233065769646765748fc2f5285cff584001")


def test_safe_text_escapes_controls_and_bad_bytes() -> None:
    assert safe_text(b"a\x1b[31mb") == "a\\x1b[31mb"
    assert safe_text(b"\xff\xfe") == "\\xff\\xfe"
    assert safe_text("tab\there\nnl") == "tab\\there\\nnl"
    assert safe_text("rtl\u202eoverride") == "rtl\\u202eoverride"
    assert safe_text(safe_text(b"a\x1b\xff")) == safe_text(b"a\x1b\xff")  # idempotent
    assert safe_text("[bold]user:1[/bold] ünïcode") == "[bold]user:1[/bold] ünïcode"


@pytest.mark.parametrize("value", [USER_V1, PRODUCT_V1])
def test_golden_entries_decode(value: bytes) -> None:
    decoded = envelope.decode(value)
    assert decoded.state == envelope.VALID
    assert decoded.version == 1
    assert decoded.payload_len == len(value) - 5


def test_envelope_versions_and_corruption() -> None:
    assert envelope.decode(b"CKIT\x02payload").version == 2
    assert envelope.decode(b"CKIT\x80\x01payload").version == 128  # two-byte varint
    assert envelope.decode(b"JUNK\x01x").state == envelope.NO_ENVELOPE
    assert envelope.decode(b"CKIT").state == envelope.UNDECODABLE
    assert envelope.decode(b"CKIT\x01").state == envelope.UNDECODABLE  # no payload
    assert envelope.decode(b"CKIT\xff\xff\xff\xff\xff\x01x").state == envelope.UNDECODABLE
    # A prefix of a longer value: the full length decides whether a payload exists.
    assert envelope.decode(b"CKIT\x01", total_len=40).state == envelope.VALID


@pytest.mark.parametrize(
    ("key", "namespace"),
    [
        ("user:123", "user:*"),
        ("user:123:orders", "user:*:orders"),
        ("session:550e8400-e29b-41d4-a716-446655440000", "session:*"),
        ("plain", "(no namespace)"),
        ("42", "*"),
    ],
)
def test_namespaces(key: str, namespace: str) -> None:
    assert namespace_of(key) == namespace


def test_nondeterministic_segments() -> None:
    assert "epoch seconds" in (nondeterministic_segment(f"user:1:{int(NOW)}", NOW) or "")
    assert "epoch milliseconds" in (
        nondeterministic_segment(f"user:1:{int(NOW * 1000)}", NOW) or ""
    )
    assert "ISO date" in (nondeterministic_segment("report:2026-11-26T10:00:00Z", NOW) or "")
    assert "random" in (
        nondeterministic_segment("user:42:9f86d081884c7d659a2feaa0c55ad015", NOW) or ""
    )
    assert nondeterministic_segment("user:123", NOW) is None
    assert nondeterministic_segment("session:550e8400-e29b-41d4-a716-446655440000", NOW) is None
    assert nondeterministic_segment("order:1234567890", 2_000_000_000_000.0) is None  # not near now
