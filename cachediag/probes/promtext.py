"""Read the Prometheus text exposition format (what an application's /metrics serves).

Only what the checks need: every sample's metric name, labels and value. Samples of
one name are summed over their label sets (a counter per cache or per node adds up to
the application's total). Lines that do not parse are counted, not fatal.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


@dataclass
class Exposition:
    values: dict[str, float] = field(default_factory=dict)  # name -> sum over label sets
    series: dict[str, int] = field(default_factory=dict)  # name -> number of label sets
    types: dict[str, str] = field(default_factory=dict)  # name -> counter/gauge/... from # TYPE
    unparsed: int = 0


def _skip_labels(line: str, start: int) -> int | None:
    """Index just past the closing '}' of a label set starting at `start`, or None."""
    in_quotes = False
    index = start + 1
    while index < len(line):
        ch = line[index]
        if in_quotes:
            if ch == "\\":
                index += 1
            elif ch == '"':
                in_quotes = False
        elif ch == '"':
            in_quotes = True
        elif ch == "}":
            return index + 1
        index += 1
    return None


def _value(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return None if math.isnan(value) else value


def parse(text: str) -> Exposition:
    out = Exposition()
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 4 and parts[1] == "TYPE":
                out.types[parts[2]] = parts[3].strip()
            continue
        match = _NAME.match(line)
        if not match:
            out.unparsed += 1
            continue
        name = match.group()
        rest_at = match.end()
        if rest_at < len(line) and line[rest_at] == "{":
            end = _skip_labels(line, rest_at)
            if end is None:
                out.unparsed += 1
                continue
            rest_at = end
        fields = line[rest_at:].split()
        value = _value(fields[0]) if fields else None
        if value is None:
            out.unparsed += 1
            continue
        out.values[name] = out.values.get(name, 0.0) + value
        out.series[name] = out.series.get(name, 0) + 1
    return out
