"""Timing a command the way the scan benchmarks need: wall time, peak RSS, streamed output."""

from __future__ import annotations

import subprocess
import tempfile
import time


def timed(cmd: list[str]) -> tuple[float, int, bytes, int]:
    """(wall s, peak RSS KB, stdout up to 64 MB, count of lines starting 'add ') of one run.

    The peak RSS comes from /usr/bin/time: a child forked from this (larger) script
    would start with this script's RSS in its ru_maxrss (Linux keeps it across exec).
    Output is streamed, so a large dump is counted, not held.
    """
    with tempfile.NamedTemporaryFile("r") as report:
        started = time.perf_counter()
        proc = subprocess.Popen(
            ["/usr/bin/time", "-o", report.name, "-f", "%M", *cmd],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert proc.stdout is not None
        kept: list[bytes] = []
        size = 0
        adds = 0
        tail = b"\n"
        while chunk := proc.stdout.read(1 << 20):
            adds += (tail[-4:] + chunk).count(b"\nadd ")  # a match may span two reads
            tail = chunk
            if size < 64 << 20:
                kept.append(chunk)
                size += len(chunk)
        code = proc.wait()
        elapsed = time.perf_counter() - started
        if code != 0:
            raise SystemExit(f"{cmd[0]} exited {code}")
        peak = int(report.read().split()[-1])
    return elapsed, peak, b"".join(kept), adds
