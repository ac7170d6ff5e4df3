"""Log inputs: paths, globs, `-` for stdin, gzip by its magic bytes; read in chunks of bytes.

Nothing is decoded here: lines are bytes end to end, so a line that is not UTF-8 is just
another line. Chunks end at a newline (the partial line waits for the next read), except
for a single "line" longer than `max_line` bytes, which is cut to keep memory bounded.

A .gz file is inflated by ISA-L (the `isal` wheel, ~4x zlib here) when it is installed,
else by the stdlib's zlib, in a thread of its own (`ReadAhead`: both inflate without the
GIL) while the scanner works on the previous chunk. Where ISA-L stops on a bad end (a
file cut short, a corrupt block), the stdlib takes over from the same byte, so what is
read and what is said about it are the stdlib's. CACHEDIAG_NO_ISAL=1 uses zlib only.
"""

from __future__ import annotations

import glob
import gzip
import os
import queue
import sys
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import BinaryIO, cast

from cachediag.errors import CachediagError

GZIP_MAGIC = b"\x1f\x8b"
_GLOB_CHARS = set("*?[")


class LogScanError(CachediagError):
    """A log input that can't be read (missing file, bad glob, bad --since...): exit 2."""


@dataclass
class Source:
    index: int
    name: str  # as given (or matched by the glob); "-" for stdin
    kind: str  # "file", "gzip" or "stdin"
    size: int | None  # bytes on disk (compressed size for gzip); None for stdin
    problem: str | None = None  # set after the scan: e.g. a .gz that ends early


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
        raw = sys.stdin.buffer
        head = raw.read(2)
        while len(head) < 2:  # a pipe may deliver one byte first
            more = raw.read(2 - len(head))
            if not more:
                break
            head += more
        stream = cast(BinaryIO, _Prefixed(head, raw))
        if head == GZIP_MAGIC:
            return cast(BinaryIO, gzip.GzipFile(fileobj=stream, mode="rb"))
        return stream
    if source.kind == "gzip":
        return cast(BinaryIO, GzipStream(source.name))
    return open(source.name, "rb", buffering=0)


def _load_isal() -> ModuleType | None:
    if os.environ.get("CACHEDIAG_NO_ISAL"):
        return None
    try:
        from isal import igzip
    except ImportError:
        return None
    return igzip


_IGZIP = _load_isal()


def gzip_backend() -> str:
    """Which inflater reads .gz files: "isal" or "zlib"."""
    return "isal" if _IGZIP is not None else "zlib"


class GzipStream:
    """The decompressed bytes of a .gz file (`read1`), by ISA-L while it reads them
    cleanly, by the stdlib from where it did not: then the stdlib reads the bad end as it
    always has (what it can still inflate, then its EOFError or error)."""

    def __init__(self, path: str) -> None:
        self.name = path
        self._offset = 0  # decompressed bytes handed out
        # both closed by close()
        self._fast = _IGZIP.open(path, "rb") if _IGZIP is not None else None
        self._slow: gzip.GzipFile | None = None
        if self._fast is None:
            self._slow = gzip.open(path)  # noqa: SIM115

    def read1(self, size: int) -> bytes:
        if self._fast is not None:
            try:
                data: bytes = self._fast.read1(size)
            except Exception:  # noqa: BLE001 - any failure: the stdlib says what it is
                self._fast.close()
                self._fast = None
                self._slow = gzip.open(self.name)  # noqa: SIM115
                _skip(self._slow, self._offset)
            else:
                self._offset += len(data)
                return data
        assert self._slow is not None
        return self._slow.read1(size)

    def close(self) -> None:
        for stream in (self._fast, self._slow):
            if stream is not None:
                stream.close()


def _skip(stream: gzip.GzipFile, count: int) -> None:
    while count > 0:
        piece = stream.read1(min(count, 1 << 20))
        if not piece:
            return
        count -= len(piece)


class ReadAhead:
    """`read(size)` of a stream, each next piece read by a thread while the caller works
    on the last one (a .gz: inflating releases the GIL). Errors come out of `read` as
    they came out of the stream; what the stream learnt (TRUNCATED_ATTR) shows here too."""

    _END = object()

    def __init__(self, stream: BinaryIO, size: int, depth: int = 2) -> None:
        self.stream = stream
        self.name = getattr(stream, "name", "input")
        self._size = size
        self._pieces: queue.Queue[object] = queue.Queue(depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cachediag-read", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                data = _read(self.stream, self._size)
                self._put(data)
                if not data:
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the reader, raised there
            self._put(exc)

    def _put(self, item: object) -> None:
        while not self._stop.is_set():
            try:
                self._pieces.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def read(self, size: int = -1) -> bytes:
        item = self._pieces.get()
        if isinstance(item, BaseException):
            raise item
        assert isinstance(item, bytes)
        return item

    def __getattr__(self, name: str) -> object:
        if name == TRUNCATED_ATTR:
            return getattr(self.stream, TRUNCATED_ATTR, None)
        raise AttributeError(name)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.stream.close()


class _Prefixed:
    """A read-only stream: `head` (bytes already read to sniff the format), then `rest`."""

    name = "<stdin>"

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head = head
        self._rest = rest

    def read(self, size: int = -1) -> bytes:
        head = self._head
        if not head:
            return self._rest.read(size)
        self._head = b""
        if size is None or size < 0:
            return head + self._rest.read()
        if size <= len(head):
            self._head = head[size:]
            return head[:size]
        return head + (self._rest.read(size - len(head)) or b"")


def iter_chunks(
    stream: BinaryIO,
    chunk_size: int,
    max_line: int,
    start: int = 0,
    end: int | None = None,
) -> Iterator[tuple[bytes, int, int, int]]:
    """(buffer, begin, cut, offset of buffer[0]) with buffer[begin:cut] whole lines.

    A line cut by a read is completed into a small buffer of its own rather than by
    concatenating the next chunk to it: that copy of every chunk would cost more than it
    seems once two processes share the memory bandwidth. Reads [start, end) of a seekable
    stream when given (start must be a line start and end a line start or the end of the
    file), or the whole stream.
    """
    if start:
        stream.seek(start)
    offset = start  # of the next byte read
    remaining = None if end is None else end - start
    carry = b""  # a partial line, read at offset - len(carry)
    # After a monster line is cut, the rest of it is dropped up to its newline: scanned
    # as a line of its own it would count the line twice and could show the tail of a
    # secret whose start was in the part that was cut off.
    skipping = False
    while True:
        want = chunk_size if remaining is None else min(chunk_size, remaining)
        data = _read(stream, want) if want > 0 else b""
        if remaining is not None:
            remaining -= len(data)
        if not data:
            if carry:
                yield carry, 0, len(carry), offset - len(carry)
            return
        begin = 0
        if skipping:
            nl = data.find(b"\n")
            if nl < 0:
                offset += len(data)
                continue
            begin = nl + 1
            skipping = False
        elif carry:
            nl = data.find(b"\n")
            if nl < 0:
                carry += data
                offset += len(data)
                if len(carry) >= max_line:  # a monster line: cut it
                    yield carry, 0, len(carry), offset - len(carry)
                    carry = b""
                    skipping = True
                continue
            line = carry + data[: nl + 1]
            yield line, 0, len(line), offset - len(carry)
            begin = nl + 1
            carry = b""
        cut = data.rfind(b"\n") + 1
        if cut > begin:
            yield data, begin, cut, offset
        else:
            cut = begin
        carry = data[cut:]
        offset += len(data)
        if len(carry) >= max_line:
            yield carry, 0, len(carry), offset - len(carry)
            carry = b""
            skipping = True


TRUNCATED_ATTR = "cachediag_truncated"


def _read(stream: BinaryIO, size: int) -> bytes:
    try:
        if isinstance(stream, (gzip.GzipFile, GzipStream)):
            return _read_gzip(stream, size)
        return stream.read(size) or b""
    except (OSError, zlib.error) as exc:
        name = getattr(stream, "name", "input")
        raise LogScanError(f"{name}: cannot read ({exc})") from None


def _read_gzip(stream: gzip.GzipFile | GzipStream, size: int) -> bytes:
    """Up to `size` bytes, piece by piece, so that a .gz that ends early (one still being
    written, a rotation in progress) yields what it holds; the source then says so."""
    pieces: list[bytes] = []
    have = 0
    while have < size:
        try:
            piece = stream.read1(size - have)
        except EOFError as exc:
            setattr(stream, TRUNCATED_ATTR, f"ends early ({exc})")
            break
        if not piece:
            break
        pieces.append(piece)
        have += len(piece)
    return b"".join(pieces)


def split_points(path: str, size: int, targets: list[int]) -> list[int]:
    """[0, p1, ..., size]: each target offset moved to the next line start."""
    points = [0]
    with open(path, "rb", buffering=0) as handle:
        for guess in targets:
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
