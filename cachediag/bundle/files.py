"""One file of a bundle as a collector hands it over: what it holds and how it was made."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cachediag.errors import ProbeError


@dataclass
class BundleFile:
    path: str  # inside the bundle's top folder, e.g. "redis/127.0.0.1_6379/info-1.txt"
    producer: str  # the command sent, or the collector that wrote it
    text: str | None = None  # None: nothing to write (its collector failed: see error)
    duration_ms: float = 0.0
    error: str | None = None
    truncated: bool = False
    # Structured scrubbing done by the collector (CONFIG GET by name, SLOWLOG arguments...),
    # added to what the text pass finds: kinds and counts, never values.
    redactions: dict[str, int] = field(default_factory=dict)
    # How much of the text pass's pattern set applies ("all", "server", "none"): see
    # safety/redact.redact_bundle_text. Every file gets the literal-credential pass.
    patterns: str = "all"
    essential: bool = False  # facts.json, check.json: never cut by the size budget


def timed(
    path: str,
    producer: str,
    make: Callable[[], tuple[str, dict[str, int]] | str],
    limit: float | None = None,
) -> BundleFile:
    """Run one collector step: its text, or the error that stopped it, and how long it took.

    With `limit`, the step runs in a thread of its own and is given up after that many
    seconds (a disk_usage on a hung NFS mount blocks in the kernel, where no timeout
    reaches): the file records it, the thread is abandoned, and the bundle goes on.
    """
    started = time.perf_counter()
    file = BundleFile(path, producer)
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(make())
        except ProbeError as error:
            outcome.append(error)
        except Exception as exc:  # noqa: BLE001 - one collector failing must not lose the bundle
            outcome.append(exc)

    if limit is None:
        run()
    else:
        worker = threading.Thread(target=run, name=f"gather {path}", daemon=True)
        worker.start()
        worker.join(limit)
    if not outcome:
        file.error = f"did not finish within {limit:g} s (left behind)"
    elif isinstance(outcome[0], ProbeError):
        file.error = outcome[0].message
    elif isinstance(outcome[0], Exception):
        file.error = f"{type(outcome[0]).__name__}: {outcome[0]}"
    else:
        made = outcome[0]
        file.text, file.redactions = made if isinstance(made, tuple) else (made, {})
    file.duration_ms = round((time.perf_counter() - started) * 1000, 3)
    return file


def target_folder(address: str) -> str:
    """A target's folder (or a log's file) name: nothing a path or a terminal could trip on."""
    cleaned = "".join(ch if ch.isalnum() or ch in ".-" else "_" for ch in address)
    return cleaned.strip("._") or "target"
