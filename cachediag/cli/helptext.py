"""Command help from docstrings, reflowed for the terminal it is printed on.

Typer keeps a docstring's line breaks, so a paragraph hard-wrapped at 88 columns in the
source wrapped a second time on an 80-column terminal ("…so the hit rate is" / "today's").
Each paragraph is joined into one line and the help renderer wraps it at word boundaries
for the width it has; a paragraph with indented continuation lines (an Examples list,
lined up under its first command) is laid out by hand and kept as it is.
"""

from __future__ import annotations

import inspect


def reflow(doc: str | None) -> str | None:
    if not doc:
        return doc
    paragraphs = inspect.cleandoc(doc).split("\n\n")
    return "\n\n".join(_paragraph(p) for p in paragraphs)


def _paragraph(text: str) -> str:
    lines = text.splitlines()
    if any(line.startswith((" ", "\t")) for line in lines[1:]):
        return text  # laid out by hand
    return " ".join(line.strip() for line in lines)
