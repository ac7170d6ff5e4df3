"""Column widths for a table that must not cut words in two.

Rich shrinks a table that is wider than the terminal by narrowing its widest columns
first, whatever the words in them: on an 80-column terminal a remedy came out as
"with_ttl(Duratio" / "n::from_secs(360". Here every wrapping column gets at least its
longest word, and the room left is shared out in proportion to what each column would
still use; when even the longest words do not fit side by side, the caller lays the
rows out another way (`fit_columns` returns False).
"""

from __future__ import annotations

import io

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table


def _measure(table: Table) -> list[tuple[int, int]]:
    """(narrowest it can be, widest it would be) of every column, header included."""
    console = Console(file=io.StringIO(), width=10_000)  # rich clamps to the console width
    spans = []
    for column in table.columns:
        cells = [column.header, *column.cells]
        measured = [Measurement.get(console, console.options, cell) for cell in cells]
        longest = max(m.maximum for m in measured)
        # A no_wrap column is as wide as its longest cell: it never wraps.
        word = longest if column.no_wrap else max(m.minimum for m in measured)
        spans.append((word, longest))
    return spans


def fit_columns(table: Table, width: int) -> bool:
    """Fix the widths of `table`'s columns to fit `width` without breaking a word; False
    (the table untouched) when its longest words alone are wider than that."""
    spans = _measure(table)
    borders = len(table.columns) + 1 if table.box else 0
    padding = sum(table.padding[1] + table.padding[3] for _ in table.columns)
    room = width - borders - padding
    if sum(maximum for _, maximum in spans) <= room:
        return True  # everything on one line per cell: nothing to fix
    if sum(minimum for minimum, _ in spans) > room:
        return False
    if _rich_keeps_words(table, width, spans):
        return True  # rich's own layout, as before, wherever it cuts no word
    widths = [minimum for minimum, _ in spans]
    spare = room - sum(widths)
    wants = [maximum - minimum for minimum, maximum in spans]
    total = sum(wants)
    for index, want in enumerate(wants):
        widths[index] += spare * want // total if total else 0
    for column, column_width in zip(table.columns, widths, strict=True):
        column.width = column_width
    return True


def _rich_keeps_words(table: Table, width: int, spans: list[tuple[int, int]]) -> bool:
    """Would rich's own column widths give every column at least its longest word?"""
    console = Console(file=io.StringIO(), width=width)
    try:
        # rich's own (private) layout step, the one it prints with.
        widths = table._calculate_column_widths(console, console.options)
    except (AttributeError, TypeError):  # a rich without it: lay the columns out here
        return False
    return all(w >= minimum for w, (minimum, _) in zip(widths, spans, strict=True))
