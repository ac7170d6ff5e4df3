"""One target's purge or restore as a row: the backend does the work, errors become the row's."""

from __future__ import annotations

from typing import IO, Any

from cachediag.errors import ProbeError
from cachediag.probes.rows import mark_error, target_row
from cachediag.purge.redis import Sinks
from cachediag.purge.report import PurgeReport
from cachediag.purge.request import PurgeRequest
from cachediag.targets.target import Target


def purge_target(
    target: Target, timeout: float, request: PurgeRequest, sinks: Sinks
) -> dict[str, Any]:
    from cachediag.backends import backend_for

    row = target_row(target)
    row["version"] = None
    row["patterns"] = list(request.patterns)
    try:
        done = backend_for(target).purge(target, timeout, request, sinks)
    except ProbeError as error:
        return mark_error(row, target, error)
    report = done.pop("purge")
    row.update(done)
    row["purge"] = report.to_dict() if isinstance(report, PurgeReport) else report
    return row


def restore_target(
    target: Target, timeout: float, handle: IO[bytes], name: str, replace: bool, apply: bool
) -> dict[str, Any]:
    from cachediag.backends import backend_for

    row = target_row(target)
    row["version"] = None
    try:
        row.update(backend_for(target).restore(target, timeout, handle, name, replace, apply))
    except ProbeError as error:
        return mark_error(row, target, error)
    return row
