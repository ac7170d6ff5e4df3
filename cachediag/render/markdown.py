"""`--format markdown`: the report as GitHub/GitLab-flavoured Markdown, for pasting into an issue.

Targets and versions first, then a table per checklist section. Key names and server
replies are data: every cell is made safe (safe_text) and its Markdown punctuation
escaped, so a key named `[x](http://…)` or `<img …>` stays text.
"""

from __future__ import annotations

import re

from cachediag import __version__
from cachediag.checks.evaluate import Report, Result
from cachediag.render.table import summary_line
from cachediag.safety.textsafe import safe_text

SYMBOLS = {"pass": "✅", "warn": "⚠️", "fail": "❌", "skip": "⏭️", "error": "❗"}

# Punctuation that means something inline in CommonMark/GFM (emphasis, links, HTML,
# code, strikethrough, table cells). Backslash-escaping it keeps the text literal.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|~!#&])")


def cell(value: object) -> str:
    return _MARKDOWN_SPECIAL.sub(r"\\\1", safe_text(str(value)))


def _status(status: str) -> str:
    return f"{SYMBOLS[status]} {status}"


def _row(result: Result) -> str:
    remedy = cell(result.remedy) if result.remedy else ""
    cells = [
        _status(result.status),
        f"`{result.id}`",
        cell(result.target),
        cell(result.summary),
        remedy,
    ]
    return "| " + " | ".join(cells) + " |"


def render(report: Report) -> str:
    lines = [
        f"## cachediag check: {cell(report.checklist)}",
        "",
        f"cachediag {__version__} · {report.generated_at} · {cell(summary_line(report))}",
        "",
    ]
    if report.targets:
        lines += ["| target | kind | status | version | source |", "|---|---|---|---|---|"]
        for target in report.targets:
            version = report.versions.get(target["name"], "")
            lines.append(
                f"| {cell(target['name'])} | {target['kind']} | {cell(target['status'])} "
                f"| {cell(version)} | {cell(target['source'])} |"
            )
        lines.append("")
    counts = report.counts()
    lines.append(
        " · ".join(
            f"{SYMBOLS[s]} {counts[s]} {s}" for s in ("fail", "error", "warn", "pass", "skip")
        )
    )
    lines.append("")
    sections: dict[str, list[Result]] = {}
    for result in report.results:
        sections.setdefault(result.section, []).append(result)
    for name, results in sections.items():
        lines += [
            f"### {cell(name)}",
            "",
            "| | check | target | observed | remedy |",
            "|---|---|---|---|---|",
        ]
        lines += [_row(r) for r in results]
        lines.append("")
    return "\n".join(lines)
