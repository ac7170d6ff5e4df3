"""Reply bounds (issue 11 case 5): what each command may be answered, checked from headers."""

from __future__ import annotations

import pytest

from cachediag.clients import bounds
from cachediag.errors import ProtocolViolation


def test_each_command_gets_a_bound_that_fits_it() -> None:
    assert bounds.for_command(("PING",)).bulk == bounds.SMALL_REPLY_BYTES
    assert bounds.for_command(("GETRANGE", b"k", 0, 63)).bulk == 64
    assert bounds.for_command(("INFO",)).bulk == bounds.INFO_BYTES
    scan = bounds.for_command(("SCAN", "0", "MATCH", "a*", "COUNT", "1000"))
    assert scan.elements == 1000 * bounds.SCAN_ELEMENTS_PER_COUNT + bounds.SCAN_ELEMENTS_SLACK
    assert bounds.for_command(("MEMORY", "USAGE", b"k")).bytes == bounds.SMALL_REPLY_BYTES
    assert bounds.for_command(("CONFIG", "GET", "*")).elements == bounds.DEFAULT_ELEMENTS


def test_a_pipeline_adds_up_its_bytes_and_keeps_each_reply_bound() -> None:
    total, each = bounds.for_pipeline([("PING",), ("GETRANGE", b"k", 0, 9)])
    assert total.bytes == each[0].bytes + each[1].bytes
    assert [b.bulk for b in each] == [bounds.SMALL_REPLY_BYTES, 10]
    assert "PING, GETRANGE 0 9" in total.what


@pytest.mark.parametrize(
    ("data", "said"),
    [
        (b"$10000000000000\r\n", "claims 10,000,000,000,000 bytes, past its bound of 1 KiB"),
        (b"*50000000\r\n", "claims 50,000,000 elements"),
        (b"*2\r\n$1\r\n0\r\n*50000000\r\n", "claims 50,000,000 elements"),  # SCAN's keys
        (b"*2\r\n$1\r\n0\r\n*1\r\n$99999\r\n", "claims 99,999 bytes"),  # its first key
    ],
)
def test_peek_refuses_a_claim_from_the_header(data: bytes, said: str) -> None:
    with pytest.raises(ProtocolViolation, match=said):
        bounds.peek(data, bounds.small("PING"))


@pytest.mark.parametrize(
    "data",
    [b"+PONG\r\n", b"$4\r\nPONG\r\n", b"*2\r\n$1\r\n0\r\n*3\r\n$1\r\na", b"$12", b"-ERR x\r\n"],
)
def test_peek_lets_what_fits_through_and_stops_where_data_ends(data: bytes) -> None:
    bounds.peek(data, bounds.small("PING"))


def test_sizes_read_as_people_read_them() -> None:
    assert bounds.size_text(64) == "64 bytes"
    assert bounds.size_text(8 * bounds.MiB) == "8 MiB"
    assert bounds.size_text(1000) == "1,000 bytes"
