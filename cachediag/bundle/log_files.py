"""The lines of each `--log` file that mention the cache (the guide's `grep -i cache`),
within `--since`, the last LOG_TAIL_LINES of them, as the bundle's logs/ files.

A line without a timestamp of its own (a stack trace's) belongs to the last line that
had one. Redaction is the bundle's text pass, as for every file.
"""

from __future__ import annotations

import gzip
import os
import time
from collections import deque
from collections.abc import Iterator

from cachediag.bundle.files import BundleFile

LOG_TAIL_LINES = 5000
MAX_LINE_BYTES = 4096


def _lines(path: str, gz: bool) -> Iterator[bytes]:
    if gz:
        with gzip.open(path, "rb") as unpacked:
            yield from unpacked
        return
    with open(path, "rb") as handle:
        yield from handle


def cache_lines(path: str, gz: bool, since: float | None) -> tuple[str, bool]:
    """The tail of the cache lines of one log; True when older ones were left out."""
    from cachediag.logscan.timestamps import line_timestamp

    kept: deque[bytes] = deque(maxlen=LOG_TAIL_LINES)
    seen = 0
    current: float | None = None
    for raw in _lines(path, gz):
        low = raw[:MAX_LINE_BYTES].lower()
        if since is not None:
            stamp = line_timestamp(low, 0, len(low))
            current = stamp if stamp is not None else current
            if current is not None and current < since:
                continue
        if b"cache" not in low:
            continue
        seen += 1
        line = raw[:MAX_LINE_BYTES].rstrip(b"\r\n")
        kept.append(line + (b" [line cut]" if len(raw.rstrip(b"\r\n")) > MAX_LINE_BYTES else b""))
    text = b"".join(line + b"\n" for line in kept).decode("utf-8", "replace")
    return text, seen > len(kept)


def collect(paths: list[str], since: float | None) -> list[BundleFile]:
    from cachediag.logscan.reader import expand_inputs

    files: list[BundleFile] = []
    used: set[str] = set()
    for source in expand_inputs(paths):
        name = os.path.basename(source.name) or "log"
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
