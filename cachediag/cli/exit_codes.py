"""Exit codes: one enum for every command, and the rule that maps rows and verdicts to it."""

from __future__ import annotations

from enum import IntEnum
from typing import Any


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1  # a target down or a verdict failed
    USAGE = 2  # bad flags, URLs, config or check ids
    UNREADABLE = 3  # a reading could not be taken (or a check could not run)
    INTERRUPTED = 130


def exit_code(rows: list[dict[str, Any]], statuses: list[str] | None = None) -> ExitCode:
    """As `check`: 1 a target down or a verdict failed; 3 a reading could not be taken; else 0.

    (2 is reserved for usage errors.) A target that answered but whose reading broke
    off half-way (an `error` on an up row) is 3, never a silent 0.
    """
    if any(row.get("status") == "down" for row in rows) or (statuses and "fail" in statuses):
        return ExitCode.FAILED
    if any(row.get("status") == "up" and row.get("error") for row in rows):
        return ExitCode.UNREADABLE
    return ExitCode.UNREADABLE if statuses and "error" in statuses else ExitCode.OK
