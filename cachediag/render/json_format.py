"""`--format json`: the cachediag.check/v1 document, and nothing else on stdout."""

from __future__ import annotations

import json

from cachediag.checks.evaluate import Report


def render(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2, ensure_ascii=False, default=str) + "\n"
