"""purge's progress line on stderr: matched, deleted, skipped, rate, paused."""

from __future__ import annotations

from cachediag.cli.progress import StderrProgress
from cachediag.purge.report import PurgeReport


class PurgeMeter(StderrProgress):
    """The scan's progress line (same throttle, same redraw), fed a purge's report."""

    def __call__(self, report: PurgeReport) -> None:
        if not self._due():
            return
        done = report.deleted if report.mode == "delete" else report.matched
        rate = done / report.elapsed_s if report.elapsed_s > 0 else 0.0
        text = f"{self.label}: {report.matched:,} matched"
        if report.mode == "delete":
            skipped = report.changed + report.already_gone
            text += f", {report.deleted:,} deleted, {skipped:,} skipped"
        text += f" ({report.scanned:,} scanned), {rate:,.0f} keys/s, paused {report.paused_s:.1f} s"
        self._write(text)
