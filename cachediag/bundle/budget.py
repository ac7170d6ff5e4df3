"""What a bundle may take: its size cap, each file's cap, and room at the destination."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cachediag.errors import UsageError

MIN_FREE_BYTES = 100 * 1024 * 1024
DEFAULT_MAX_SIZE = 50 * 1024 * 1024
PER_FILE_CAP = 8 * 1024 * 1024  # one reading or log never crowds the others out
TRUNCATED_MARK = "\n[truncated by cachediag gather: size cap]\n"

# The seam the free-space test replaces: the destination's filesystem, as os.statvfs says.
statvfs: Callable[[str], Any] = os.statvfs

_SIZE = re.compile(r"(?i)^\s*(\d+(?:\.\d+)?)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib)?\s*$")
_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def parse_size(text: str) -> int:
    """`50MB`, `500k`, `1GiB`, `2000000` as bytes (binary units); UsageError otherwise."""
    match = _SIZE.match(text)
    if not match:
        raise UsageError(f"--max-size {text!r}: expected a size like 50MB, 500KB or 1GB")
    size = int(float(match.group(1)) * _UNITS[(match.group(2) or "")[:1].lower()])
    if size < 64 * 1024:
        raise UsageError(f"--max-size {text}: a bundle needs at least 64KB")
    return size


def check_destination(folder: Path) -> None:
    """Refuse (exit 2) a destination that is not a writable folder with 100 MB free.

    Writability is tried, not inferred from permission bits: root passes every access()
    test, and a read-only mount or a full quota shows only when a file is created.
    """
    if not folder.is_dir():
        raise UsageError(f"cannot write the bundle to {folder}: not a directory")
    try:
        descriptor, probe = tempfile.mkstemp(prefix=".cachediag-gather.", dir=folder)
    except OSError as exc:
        raise UsageError(f"cannot write the bundle to {folder}: {exc.strerror or exc}") from None
    os.close(descriptor)
    os.unlink(probe)
    try:
        info = statvfs(str(folder))
    except OSError as exc:
        raise UsageError(f"cannot tell the free space of {folder}: {exc.strerror}") from None
    free = info.f_bavail * info.f_frsize
    if free < MIN_FREE_BYTES:
        raise UsageError(
            f"refusing to write the bundle to {folder}: {free // (1024 * 1024)} MB free, "
            f"and gather needs at least {MIN_FREE_BYTES // (1024 * 1024)} MB"
        )


def cap(text: str, limit: int) -> tuple[str, bool]:
    """`text` within `limit` bytes (UTF-8), with a mark where it was cut."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text, False
    room = max(0, limit - len(TRUNCATED_MARK))
    return data[:room].decode("utf-8", "ignore") + TRUNCATED_MARK, True
