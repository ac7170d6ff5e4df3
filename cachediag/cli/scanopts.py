"""Scan options shared by `bigkeys` and `inspect` (and anything else built on the engine)."""

from __future__ import annotations

import sys
from enum import Enum
from typing import Annotated

import typer

from cachediag.cli.numbers import finite
from cachediag.errors import UsageError

_SCAN = "Scan budget"

Pattern = Annotated[
    str | None,
    typer.Option(
        "--pattern",
        metavar="GLOB",
        help="Only keys matching this glob (SCAN MATCH), e.g. 'user:*'.",
        rich_help_panel=_SCAN,
    ),
]
Count = Annotated[
    int,
    typer.Option(
        "--count",
        min=1,
        # A larger COUNT makes one SCAN call itself slow (55 ms at 100,000 measured):
        # exactly what a gentle scan must not do to a production server.
        max=10_000,
        help="Keys per SCAN batch (SCAN COUNT).",
        rich_help_panel=_SCAN,
    ),
]
MaxSeconds = Annotated[
    float | None,
    typer.Option(
        "--max-seconds",
        callback=finite,
        metavar="S",
        min=0.0,
        help="Stop after S seconds, with the partial result and the cursor.",
        rich_help_panel=_SCAN,
    ),
]
Sleep = Annotated[
    float,
    typer.Option(
        "--sleep",
        callback=finite,
        metavar="MS",
        min=0.0,
        max=60_000.0,
        help="Pause between batches, in milliseconds, to spare a busy server.",
        rich_help_panel=_SCAN,
    ),
]
Cursor = Annotated[
    str,
    typer.Option(
        "--cursor",
        metavar="C",
        help="Resume a scan from the cursor a partial run printed.",
        rich_help_panel=_SCAN,
    ),
]
Delimiter = Annotated[
    str,
    typer.Option(
        "--delimiter",
        metavar="CHARS",
        help="Namespace delimiter: user:123 is in namespace user:*.",
        rich_help_panel=_SCAN,
    ),
]
BackoffAbove = Annotated[
    float | None,
    typer.Option(
        "--backoff-above",
        callback=finite,
        metavar="MS",
        min=0.0,
        help="Slow down while a PING between batches takes longer than this. "
        "\\[default: 5× the PING measured before the scan, at least 2 ms]",
        rich_help_panel=_SCAN,
    ),
]
ProgressFlag = Annotated[
    bool | None,
    typer.Option(
        "--progress/--no-progress",
        help="Progress on stderr. \\[default: when stderr is a terminal]",
        rich_help_panel=_SCAN,
    ),
]


class RedisType(str, Enum):
    string = "string"
    list = "list"
    set = "set"
    zset = "zset"
    hash = "hash"
    stream = "stream"


class CrawlSpec(str, Enum):
    auto = "auto"
    hash = "hash"
    all = "all"


Crawl = Annotated[
    CrawlSpec,
    typer.Option(
        "--crawl",
        help="Memcached: lru_crawler metadump hash (each item once), all (LRU walk), or auto.",
        rich_help_panel=_SCAN,
    ),
]


def parse_cursor(value: str) -> int:
    try:
        cursor = int(value)
    except ValueError:
        raise UsageError(
            f"--cursor {value!r}: a cursor is the number a partial scan printed"
        ) from None
    if cursor < 0 or cursor >= 1 << 64:
        raise UsageError(f"--cursor {value}: out of range (0 to 2^64-1)")
    return cursor


def check_delimiter(value: str) -> str:
    if "\n" in value or "\r" in value:
        raise UsageError("--delimiter cannot hold a line break")
    return value


def want_progress(flag: bool | None) -> bool:
    return sys.stderr.isatty() if flag is None else flag


Replicas = Annotated[
    bool,
    typer.Option(
        "--replicas",
        help="In a Redis Cluster, scan the replicas too (READONLY), not only the primaries "
        "(a replica's keys are copies: the totals count them again).",
        rich_help_panel="Scan budget",
    ),
]
