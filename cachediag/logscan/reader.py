"""Log inputs: paths, globs, `-` for stdin, gzip by its magic bytes; read in chunks of bytes.

Nothing is decoded here: lines are bytes end to end, so a line that is not UTF-8 is just
another line. Chunks end at a newline (the partial line waits for the next read), except
for a single "line" longer than `max_line` bytes, which is cut to keep memory bounded.
"""

from __future__ import annotations

import glob
import gzip
import os
import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from cachediag.errors import CachediagError

GZIP_MAGIC = b"\x1f\x8b"
_GLOB_CHARS = set("*?[")


class LogScanError(CachediagError):
    """A log input that can't be read (missing file, bad glob, bad --since...): exit 2."""


@dataclass(frozen=True)
class Source:
    index: int
    name: str  # as given (or matched by the glob); "-" for stdin
    kind: str  # "file", "gzip" or "stdin"
    size: int | None  # bytes on disk (compressed size for gzip); None for stdin


def _is_gzip(path: str) -> bool:
    with open(path, "rb") as handle:
        return handle.read(2) == GZIP_MAGIC


def _check_file(path: str) -> None:
    if os.path.isdir(path):
        raise LogScanError(f"{path} is a directory, not a log file")
    if not os.access(path, os.R_OK):
        raise LogScanError(f"{path}: permission denied")


def expand_inputs(inputs: list[str]) -> list[Source]:
    """Sources in the order given; globs expanded (sorted); LogScanError for a bad one."""
    if not inputs:
        raise LogScanError("no log file given (use - to read standard input)")
    names: list[str] = []
    stdin_used = False
    for item in inputs:
        if item == "-":
            if stdin_used:
                raise LogScanError("standard input (-) can be given only once")
            stdin_used = True
            names.append("-")
        elif os.path.exists(item):
            _check_file(item)
            names.append(item)
        elif _GLOB_CHARS & set(item):
            matched = sorted(p for p in glob.glob(item, recursive=True) if os.path.isfile(p))
            if not matched:
                raise LogScanError(f"no file matches {item}")
            names.extend(matched)
        else:
            raise LogScanError(f"{item}: no such file")
    sources: list[Source] = []
    for index, name in enumerate(dict.fromkeys(names)):
        if name == "-":
            sources.append(Source(index, "-", "stdin", None))
            continue
        try:
            kind = "gzip" if _is_gzip(name) else "file"
            size = os.path.getsize(name)
        except OSError as exc:
            raise LogScanError(f"{name}: {exc.strerror or exc}") from None
        sources.append(Source(index, name, kind, size))
    return sources


def open_stream(source: Source) -> BinaryIO:
    """A binary stream of the source's (decompressed) bytes."""
    if source.kind == "stdin":
        raw: BinaryIO = sys.stdin.buffer
        peek = getattr(raw, "peek", None)
        if peek is not None and peek(2)[:2] == GZIP_MAGIC:
            return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
        return raw
    if source.kind == "gzip":
        return gzip.open(source.name, "rb")  # type: ignore[return-value]
    return open(source.name, "rb", buffering=0)


def iter_chunks(
    stream: BinaryIO,
    chunk_size: int,
    max_line: int,
    start: int = 0,
    end: int | None = None,
) -> Iterator[tuple[bytes, int, int]]:
    """(buffer, cut, offset of buffer[0]) with buffer[:cut] whole lines.

    Reads [start, end) of a seekable stream when given (start must be a line start and
    end a line start or the end of the file), or the whole stream.
    """
    if start:
        stream.seek(start)
    offset = start
    remaining = None if end is None else end - start
    carry = b""
    while True:
        want = chunk_size if remaining is None else min(chunk_size, remaining)
        data = _read(stream, want) if want > 0 else b""
        if remaining is not None:
            remaining -= len(data)
        if not data:
            if carry:
                yield carry, len(carry), offset
            return
        buf = carry + data if carry else data
        cut = buf.rfind(b"\n") + 1
        if cut == 0:
            if len(buf) < max_line:
                carry = buf
                continue
            cut = len(buf)
        yield buf, cut, offset
        offset += cut
        carry = buf[cut:]


def _read(stream: BinaryIO, size: int) -> bytes:
    try:
        return stream.read(size) or b""
    except (OSError, EOFError, zlib.error) as exc:
        name = getattr(stream, "name", "input")
        raise LogScanError(f"{name}: cannot read ({exc})") from None


def split_points(path: str, size: int, parts: int) -> list[int]:
    """Line starts cutting the file into `parts` similar ranges: [0, p1, ..., size]."""
    points = [0]
    with open(path, "rb", buffering=0) as handle:
        for i in range(1, parts):
            guess = size * i // parts
            if guess <= points[-1]:
                continue
            handle.seek(guess - 1)
            block = handle.read(1 << 20)
            nl = block.find(b"\n")
            if nl < 0:
                continue  # a monster line: don't cut here
            point = guess + nl
            if points[-1] < point < size:
                points.append(point)
    points.append(size)
    return points


def read_at(path: str, start: int, end: int) -> bytes:
    if end <= start:
        return b""
    with open(path, "rb", buffering=0) as handle:
        handle.seek(start)
        return handle.read(end - start)
