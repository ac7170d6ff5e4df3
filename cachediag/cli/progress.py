"""Scan progress on stderr (never stdout, which holds the report): keys of total, keys/s, ETA.

An observer the engine calls; the engine knows nothing about terminals.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from cachediag.render.units import compact_duration


class StderrProgress:
    """Redraws one line on a terminal; elsewhere writes a line every few seconds."""

    def __init__(
        self, label: str, stream: TextIO | None = None, interval: float | None = None
    ) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.terminal = self.stream.isatty()
        self.interval = interval if interval is not None else (0.2 if self.terminal else 2.0)
        self._last = 0.0
        self._drawn = False
        self._line = ""

    def update(self, done: int, total: int | None, elapsed: float) -> None:
        if not self._due():
            return
        rate = done / elapsed if elapsed > 0 else 0.0
        text = f"{self.label}: {done:,} keys"
        if total:
            text += f" of {total:,} ({min(done / total, 1.0):.0%})"
        text += f", {rate:,.0f} keys/s"
        if total and rate > 0 and done < total:
            text += f", ETA {compact_duration((total - done) / rate)}"
        self._line = text
        self._write(text)

    def note(self, message: str) -> None:
        self._clear()
        self.stream.write(f"cachediag: {message}\n")
        self.stream.flush()

    def finish(self) -> None:
        self._clear()

    def _due(self) -> bool:
        """Whether a line is due: at most one an interval."""
        now = time.monotonic()
        if now - self._last < self.interval:
            return False
        self._last = now
        return True

    def _write(self, text: str) -> None:
        if self.terminal:
            self.stream.write("\r\x1b[2K" + text)
            self._drawn = True
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def _clear(self) -> None:
        if self.terminal and self._drawn:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()
            self._drawn = False
