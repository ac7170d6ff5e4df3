"""The lines of each `--log` file that mention the cache (the guide's `grep -i cache`),
within `--since`, the last LOG_TAIL_LINES of them, as the bundle's logs/ files.

A line without a timestamp of its own (a stack trace's) belongs to the last line that
had one. Redaction is the bundle's text pass, as for every file.
"""

from __future__ import annotations

import gzip
import os
import re
import time
from collections import deque
from collections.abc import Iterator

from cachediag.bundle.files import BundleFile, target_folder
from cachediag.safety.textsafe import safe_text

LOG_TAIL_LINES = 5000
MAX_LINE_BYTES = 4096
# Only the tail is kept, so only the tail is read: the last READ_BYTES of a plain log (its
# start, older, is left out and the file says so). A .gz can only be read from its start:
# it is read for at most GZ_SECONDS, and what was left is said the same way.
READ_BYTES = 64 * 1024 * 1024
GZ_SECONDS = 10.0


class _Source:
    """A log's lines, from where the tail starts; `cut` once something was left unread."""

    def __init__(self, path: str, gz: bool) -> None:
        self.path, self.gz, self.cut = path, gz, False

    def lines(self) -> Iterator[bytes]:
        if self.gz:
            deadline = time.monotonic() + GZ_SECONDS
            with gzip.open(self.path, "rb") as unpacked:
                for count, line in enumerate(unpacked):
                    if count % 4096 == 0 and time.monotonic() > deadline:
                        self.cut = True
                        return
                    yield line
            return
        with open(self.path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > READ_BYTES:
                handle.seek(size - READ_BYTES)
                handle.readline()  # the partial line the seek landed in
                self.cut = True
            yield from handle


# A line of printable ASCII needs no escaping: most log lines, and safe_text is per character.
_PLAIN = re.compile(rb"[\x20-\x7e]*")


def _safe(line: bytes) -> str:
    return line.decode("ascii") if _PLAIN.fullmatch(line) else safe_text(line)


def cache_lines(path: str, gz: bool, since: float | None) -> tuple[str, bool]:
    """The tail of the cache lines of one log; True when older ones were left out (beyond
    LOG_TAIL_LINES, or not read at all: READ_BYTES, GZ_SECONDS).

    A log is written in time order: lines are skipped while the last timestamp seen is
    older than --since (a stack trace's lines have none of their own); from the first line
    stamped within it, every cache line counts without another timestamp parsed. Lines
    before any timestamp (a log without them) count: nothing says they are older.
    """
    from cachediag.logscan.timestamps import line_timestamp

    kept: deque[bytes] = deque(maxlen=LOG_TAIL_LINES)
    seen = 0
    in_window = since is None
    current: float | None = None  # the last timestamp seen before the window
    source = _Source(path, gz)
    for raw in source.lines():
        low = raw[:MAX_LINE_BYTES].lower()
        if not in_window:
            stamp = line_timestamp(low, 0, len(low))
            current = stamp if stamp is not None else current
            if current is not None and since is not None and current < since:
                continue  # older, or a line of an older entry
            # Stamped within the window (from here on, all of it is), or no time seen yet.
            in_window = stamp is not None
        if b"cache" not in low:
            continue
        seen += 1
        line = raw[:MAX_LINE_BYTES].rstrip(b"\r\n")
        kept.append(line + (b" [line cut]" if len(raw.rstrip(b"\r\n")) > MAX_LINE_BYTES else b""))
    # Log lines are untrusted text: escaped (terminal controls, undecodable bytes) as
    # every sample line cachediag shows is (safety/textsafe).
    text = "".join(f"{_safe(line)}\n" for line in kept)
    return text, seen > len(kept) or source.cut


def collect(paths: list[str], since: float | None) -> list[BundleFile]:
    from cachediag.logscan.reader import expand_inputs

    files: list[BundleFile] = []
    used: set[str] = set()
    for source in expand_inputs(paths):
        name = target_folder(os.path.basename(source.name)) or "log"  # a safe file name
        stem, index = name, 1
        while name in used:
            index += 1
            name = f"{index}-{stem}"
        used.add(name)
        file = BundleFile(f"logs/{name}", f"collector logs (grep -i cache {source.name})")
        started = time.perf_counter()
        try:
            file.text, file.truncated = cache_lines(source.name, source.kind == "gzip", since)
        except OSError as exc:
            file.error = f"cannot read {source.name}: {exc.strerror or exc}"
        file.duration_ms = round((time.perf_counter() - started) * 1000, 3)
        files.append(file)
    return files
