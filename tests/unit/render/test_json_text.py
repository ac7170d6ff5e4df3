"""render.json_text: every --json document is parseable and terminal-safe (issue 11 cases 8, 11)."""

from __future__ import annotations

import json
import math

import pytest

from cachediag.render.json_text import to_json

UNSAFE = ["\x7f", "\x9b", "\x85", "\u202e", "\u2066", "\u200b", "\u2028", "\ufeff", "\udcff"]


@pytest.mark.parametrize("char", UNSAFE)
def test_terminal_active_characters_are_escaped_and_round_trip(char: str) -> None:
    document = {"key": f"user:{char}1", "nested": [{"v": char}]}
    text = to_json(document)
    assert char not in text
    assert f"\\u{ord(char):04x}" in text
    assert json.loads(text) == document


def test_astral_format_characters_are_written_as_surrogate_pairs() -> None:
    tag = "\U000e0041"  # TAG LATIN CAPITAL LETTER A: invisible
    text = to_json({"k": tag})
    assert tag not in text and json.loads(text) == {"k": tag}


def test_printable_text_is_left_as_it_is() -> None:
    document = {"k": "naïve café ключ 鍵 🙂", "quote": 'a"b\\c', "tab": "a\tb"}
    text = to_json(document)
    assert "naïve café ключ 鍵 🙂" in text
    assert json.loads(text) == document


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_become_null(value: float) -> None:
    text = to_json({"hit_rate": value, "list": [1.5, value], "ok": 2.0})
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"hit_rate": None, "list": [1.5, None], "ok": 2.0}


def test_json_lines_have_no_newline_inside() -> None:
    assert "\n" not in to_json({"a": [1, {"b": "x\ny"}]}, indent=None)
