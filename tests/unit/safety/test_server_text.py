"""Server text and key names made fit for every output (issue 11 cases 8, 15, 16)."""

from __future__ import annotations

import pytest

from cachediag.safety import secrets
from cachediag.safety.server_text import server_text
from cachediag.safety.textsafe import KEY_TEXT_BYTES, key_fields, key_text


def test_a_long_key_name_is_cut_with_its_length_and_flagged() -> None:
    name = b"user:" + b"x" * 5000
    shown = key_text(name)
    assert shown.endswith("… (5,005 bytes)") and len(shown) < KEY_TEXT_BYTES + 30
    assert key_fields(name) == {"key": shown, "key_bytes": 5005, "key_truncated": True}
    assert key_fields(b"user:1") == {"key": "user:1"}
    assert key_text("é" * 300).endswith("(600 bytes)")  # bytes, not characters


def test_server_text_escapes_controls_and_bidi() -> None:
    assert server_text(b"ERR \x1b[2J\xe2\x80\xae") == "ERR \\x1b[2J\\u202e"


@pytest.fixture
def short_password(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(secrets, "_SHORT", set())
    secrets.remember_secret("ab")
    return "ab"


def test_a_short_password_is_masked_where_it_stands_alone(short_password: str) -> None:
    assert server_text("7.0.15-ab") == "7.0.15-***"
    assert server_text("with args beginning with: 'ab'") == "with args beginning with: '***'"
    assert server_text("cab abc ab.c") == "cab abc ab.c"  # inside words: left alone
    # The output pass leaves it alone: masking "ab" everywhere would mangle reports.
    assert secrets.mask_secrets("7.0.15-ab") == "7.0.15-ab"


def test_a_one_digit_password_leaves_numbers_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(secrets, "_SHORT", set())
    secrets.remember_secret("7")
    assert server_text("7.0.15") == "7.0.15" and server_text("7.0.15-7") == "7.0.15-***"
    assert server_text("17 70 7x") == "17 70 7x"
