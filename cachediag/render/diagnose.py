"""`cachediag diagnose` output: a table per symptom (rank, cause, verdict, evidence,
missing, fix), Markdown for an issue, and the cachediag.diagnose/v1 JSON document."""

from __future__ import annotations

from typing import Any

from cachediag import __version__
from cachediag.diagnose.model import CauseResult, Diagnosis, SymptomResult
from cachediag.render.json_text import to_json
from cachediag.render.markdown import cell
from cachediag.safety.textsafe import safe_text

DIAGNOSE_SCHEMA = "cachediag.diagnose/v1"
STYLES = {"likely": "bold red", "possible": "yellow", "unknown": "dim", "ruled out": "green"}
MARKS = {"likely": "●", "possible": "◐", "unknown": "?", "ruled out": "○"}


def to_document(diagnosis: Diagnosis) -> dict[str, Any]:
    counts = diagnosis.counts()
    return {
        "schema": DIAGNOSE_SCHEMA,
        "version": __version__,
        "generated_at": diagnosis.generated_at,
        "duration_ms": diagnosis.duration_ms,
        "source": diagnosis.source,
        "window_s": diagnosis.window_s,
        "targets": diagnosis.targets,
        "symptoms": [s.to_dict() for s in diagnosis.symptoms],
        "summary": {
            "symptoms": len(diagnosis.symptoms),
            "likely": counts["likely"],
            "possible": counts["possible"],
            "unknown": counts["unknown"],
            "ruled_out": counts["ruled out"],
            "unreadable": diagnosis.unreadable,
            "exit_code": diagnosis.exit_code,
        },
    }


def render_json(diagnosis: Diagnosis) -> str:
    return to_json(to_document(diagnosis)) + "\n"


def summary_line(diagnosis: Diagnosis) -> str:
    counts = diagnosis.counts()
    parts = [f"{counts[v]} {v}" for v in ("likely", "possible", "unknown", "ruled out")]
    return (
        f"{len(diagnosis.symptoms)} symptom{'s' if len(diagnosis.symptoms) != 1 else ''}: "
        f"{', '.join(parts)} · exit {diagnosis.exit_code} · {diagnosis.duration_ms} ms"
    )


def _evidence_lines(cause: CauseResult) -> list[str]:
    lines = [f"+ {e.text}" for e in cause.evidence_for]
    lines += [f"− {e.text}" for e in cause.evidence_against]
    return [safe_text(line) for line in lines]


def _missing_lines(cause: CauseResult) -> list[str]:
    return [safe_text(f"{m.what}: {m.how}" if m.how else m.what) for m in cause.missing]


def _symptom_missing(symptom: SymptomResult) -> list[str]:
    return [
        safe_text(f"missing: {m.what}: {m.how}" if m.how else f"missing: {m.what}")
        for m in symptom.missing
    ]


def _heading(symptom: SymptomResult) -> str:
    found = "" if symptom.asked else " (its signal is present)"
    return (
        f"{symptom.title} ({symptom.ref}) on {safe_text(symptom.target)}{found}: "
        f"{safe_text(symptom.signal.summary)}"
    )


def render_table(diagnosis: Diagnosis, terminal: bool | None = None) -> str:
    from rich.table import Table
    from rich.text import Text

    from cachediag.render.console import render_to_string

    parts: list[Any] = []
    if not diagnosis.symptoms:
        parts.append(Text("no symptom's signal is present: nothing to diagnose"))
    for symptom in diagnosis.symptoms:
        table = Table(
            title=_heading(symptom), title_justify="left", title_style="bold", expand=False
        )
        table.add_column("#", no_wrap=True, justify="right")
        table.add_column("cause", overflow="fold", max_width=28)
        table.add_column("verdict", no_wrap=True)
        table.add_column("evidence", overflow="fold")
        table.add_column("missing", overflow="fold", max_width=36)
        table.add_column("fix", overflow="fold", max_width=44)
        for cause in symptom.causes:
            table.add_row(
                str(cause.rank),
                Text(cause.title),
                Text(f"{MARKS[cause.verdict]} {cause.verdict}", style=STYLES[cause.verdict]),
                Text("\n".join(_evidence_lines(cause)) or "no evidence either way"),
                Text("\n".join(_missing_lines(cause))),
                Text(cause.fix if cause.verdict in ("likely", "possible") else "", style="cyan"),
            )
        parts.append(table)
        for line in _symptom_missing(symptom):
            parts.append(Text(line, style="dim"))
    parts.append(Text(summary_line(diagnosis)))
    return render_to_string(*parts, terminal=terminal)


def render_markdown(diagnosis: Diagnosis) -> str:
    lines = [
        "## cachediag diagnose",
        "",
        f"cachediag {__version__} · {diagnosis.generated_at} · {cell(summary_line(diagnosis))}",
        "",
    ]
    if not diagnosis.symptoms:
        lines += ["No symptom's signal is present: nothing to diagnose.", ""]
    for symptom in diagnosis.symptoms:
        lines += [
            f"### {cell(_heading(symptom))}",
            "",
            "| # | cause | verdict | evidence | missing | fix |",
            "|---|---|---|---|---|---|",
        ]
        for cause in symptom.causes:
            evidence = "<br>".join(cell(line) for line in _evidence_lines(cause))
            missing = "<br>".join(cell(line) for line in _missing_lines(cause))
            fix = cell(cause.fix) if cause.verdict in ("likely", "possible") else ""
            lines.append(
                f"| {cause.rank} | {cell(cause.title)} | {MARKS[cause.verdict]} {cause.verdict} "
                f"| {evidence or 'no evidence either way'} | {missing} | {fix} |"
            )
        lines.append("")
        lines += [f"{cell(line)}  " for line in _symptom_missing(symptom)]
        if symptom.missing:
            lines.append("")
    return "\n".join(lines)
