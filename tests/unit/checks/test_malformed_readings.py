"""Readings that only look like numbers (issue 11 cases 11, 13): kept as text, named."""

from __future__ import annotations

import pytest

from cachediag.checks.facts_view import malformed, number
from cachediag.errors import MalformedReading
from cachediag.probes.info import parse_info, to_number


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "Infinity", "1e400", "1" + "0" * 25])
def test_what_only_looks_like_a_number_stays_text_and_is_malformed(text: str) -> None:
    assert to_number(text) == text
    assert malformed(text)
    with pytest.raises(MalformedReading, match=f"the server sent x:{text}, not a finite number"):
        number({"x": text}, "x")


@pytest.mark.parametrize(("text", "value"), [("12", 12), ("-1", -1), ("1.5", 1.5), ("0", 0)])
def test_numbers_stay_numbers(text: str, value: float) -> None:
    assert to_number(text) == value and number({"x": to_number(text)}, "x") == value


@pytest.mark.parametrize("text", ["allkeys-lru", "master", "", "7.0.15"])
def test_words_are_no_number_and_not_malformed(text: str) -> None:
    assert not malformed(to_number(text))
    assert number({"x": to_number(text)}, "x") is None


def test_info_keeps_non_finite_fields_as_the_servers_text() -> None:
    info = parse_info(b"# Stats\r\nkeyspace_hits:nan\r\n# Keyspace\r\ndb0:keys=inf,expires=1\r\n")
    assert info["stats"]["keyspace_hits"] == "nan"
    assert info["keyspace"]["db0"] == {"keys": "inf", "expires": 1}
