"""purge's progress line on stderr: matched, deleted, skipped, rate, paused."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from cachediag.purge.report import PurgeReport


class PurgeMeter:
    def __init__(self, label: str, stream: TextIO | None = None) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.terminal = self.stream.isatty()
        self.interval = 0.2 if self.terminal else 2.0
        self._last = 0.0
        self._drawn = False

    def __call__(self, report: PurgeReport) -> None:
        now = time.monotonic()
        if now - self._last < self.interval:
            return
        self._last = now
        done = report.deleted if report.mode == "delete" else report.matched
        rate = done / report.elapsed_s if report.elapsed_s > 0 else 0.0
        text = f"{self.label}: {report.matched:,} matched"
        if report.mode == "delete":
            skipped = report.changed + report.already_gone
            text += f", {report.deleted:,} deleted, {skipped:,} skipped"
        text += f" ({report.scanned:,} scanned), {rate:,.0f} keys/s, paused {report.paused_s:.1f} s"
        if self.terminal:
            self.stream.write("\r\x1b[2K" + text)
            self._drawn = True
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def finish(self) -> None:
        if self._drawn:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()
            self._drawn = False
