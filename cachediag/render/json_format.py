"""`--format json`: the cachediag.check/v1 document, and nothing else on stdout."""

from __future__ import annotations

from cachediag.checks.evaluate import Report
from cachediag.render.json_text import to_json


def render(report: Report) -> str:
    return to_json(report.to_dict()) + "\n"
