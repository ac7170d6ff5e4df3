"""`--format nagios`: a monitoring-plugin result (Nagios, Icinga, Sensu, Zabbix agents).

First line: `CACHEDIAG <STATE> - <reasons> | <perfdata>`, then one line per result that
was not a pass (the plugin "long output"). The exit code follows the plugin
convention instead of cachediag's own: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.

A fail is CRITICAL, a warn WARNING, an error (a check that could not run) UNKNOWN. A
target we could not log in to (auth or TLS refused us) is UNKNOWN rather than
CRITICAL: the cache may be fine, we just could not look at it.

Perfdata labels are short and stable, `r0_hit_rate`, `m1_clients`, `app_error_rate`: the
n-th Redis (r) or Memcached (m) target of the run, then the reading. A label holding the
target (`'redis://127.0.0.1:6379/0 hit_rate'`) broke the consumers: graphers keep only
its first 19 characters (two targets shared `redis://127.0.0.1:2`), and Icinga's
guidelines (and pynag) reject spaces and `://`. The long output ends with which target
each prefix stands for (`perfdata r0: redis://127.0.0.1:6379/0`).
"""

from __future__ import annotations

from cachediag.checks.evaluate import Report, Result
from cachediag.render.readings import Reading, readings
from cachediag.safety.textsafe import safe_text

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
STATE_NAMES = {OK: "OK", WARNING: "WARNING", CRITICAL: "CRITICAL", UNKNOWN: "UNKNOWN"}
# Which state wins when results disagree: CRITICAL, then UNKNOWN, then WARNING.
_RANK = {OK: 0, WARNING: 1, UNKNOWN: 2, CRITICAL: 3}
_UNCHECKABLE_CAUSES = ("auth", "tls")
_MAX_REASONS = 3


def _unchecked_targets(report: Report) -> set[str]:
    """Targets that answered but would not let us in: we could not check them."""
    return {
        r.target
        for r in report.results
        if r.id.endswith((".running", ".connectivity"))
        and r.status == "fail"
        and r.observed.get("cause") in _UNCHECKABLE_CAUSES
    }


def result_state(result: Result, unchecked: set[str]) -> int:
    if result.status == "fail":
        return UNKNOWN if result.target in unchecked else CRITICAL
    if result.status == "error":
        return UNKNOWN
    if result.status == "warn":
        return WARNING
    return OK


def exit_code(report: Report) -> int:
    unchecked = _unchecked_targets(report)
    states = [result_state(r, unchecked) for r in report.results]
    return max(states, key=lambda s: _RANK[s], default=OK)


def _plain(text: str) -> str:
    # '|' starts the perfdata in the plugin output: it must not appear in the text.
    return safe_text(text).replace("|", "/")


_PREFIX_LETTERS = {"redis": "r", "memcached": "m"}


def label_prefixes(report: Report) -> dict[str, str]:
    """target -> its perfdata prefix: r0, r1... per Redis, m0... per Memcached, in the
    order of the report's targets (then of first appearance); `app` and `host` as is."""
    kinds = {r.target: r.id.partition(".")[0] for r in report.results}
    kinds.update({t["name"]: t["kind"] for t in report.targets})
    names = [t["name"] for t in report.targets]
    names += [r.target for r in report.results if r.target not in names]
    prefixes: dict[str, str] = {}
    counts: dict[str, int] = {}
    for name in names:
        if name in prefixes:
            continue
        if name in ("app", "host"):
            prefixes[name] = name
            continue
        letter = _PREFIX_LETTERS.get(kinds.get(name, ""), "t")
        prefixes[name] = f"{letter}{counts.get(letter, 0)}"
        counts[letter] = counts.get(letter, 0) + 1
    return prefixes


def _label(reading: Reading, prefixes: dict[str, str]) -> str:
    # Reading names are [a-z0-9_]: with the prefix, no quoting is needed.
    return f"{prefixes[reading.target]}_{reading.name}"


def _fmt(value: float | None) -> str:
    if value is None:
        return ""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


def _scaled(
    reading: Reading,
) -> tuple[str, float, float | None, float | None, float | None, float | None]:
    """Value, thresholds and bounds in the perfdata unit (UOM) for this reading."""

    def scale(value: float | None, factor: float) -> float | None:
        return None if value is None else value * factor

    if reading.unit == "ratio":
        factor, uom = 100.0, "%"
    elif reading.unit == "seconds":
        factor, uom = 1000.0, "ms"
    elif reading.unit == "count" and reading.name == "evictions":
        factor, uom = 1.0, "c"
    else:
        factor, uom = 1.0, ""
    return (
        uom,
        reading.value * factor,
        scale(reading.warn, factor),
        scale(reading.crit, factor),
        scale(reading.minimum, factor),
        scale(reading.maximum, factor),
    )


def _range(limit: float | None, low_is_bad: bool) -> str:
    # Plugin threshold ranges: "N" alerts above N, "N:" alerts below N.
    if limit is None:
        return ""
    return f"{_fmt(limit)}:" if low_is_bad else _fmt(limit)


def perfdata(reading: Reading, prefixes: dict[str, str]) -> str:
    uom, value, warn, crit, low, high = _scaled(reading)
    fields = [
        f"{_label(reading, prefixes)}={_fmt(value)}{uom}",
        _range(warn, reading.low_is_bad),
        _range(crit, reading.low_is_bad),
        _fmt(low),
        _fmt(high),
    ]
    return ";".join(fields).rstrip(";")


def render(report: Report) -> str:
    unchecked = _unchecked_targets(report)
    state = exit_code(report)
    counts = report.counts()
    worst = [r for r in report.results if result_state(r, unchecked) == state and state != OK]
    if worst:
        shown = [f"{r.id} {_plain(r.target)}: {_plain(r.summary)}" for r in worst[:_MAX_REASONS]]
        more = f" (+{len(worst) - _MAX_REASONS} more)" if len(worst) > _MAX_REASONS else ""
        reasons = "; ".join(shown) + more
    else:
        reasons = f"{counts['pass']} checks passed"
        if counts["skip"]:
            reasons += f", {counts['skip']} skipped"
    tally = ", ".join(
        f"{counts[s]} {s}" for s in ("fail", "error", "warn", "pass", "skip") if counts[s]
    )
    line = f"CACHEDIAG {STATE_NAMES[state]} - {reasons} [{tally or 'no checks'}]"
    prefixes = label_prefixes(report)
    shown_readings = readings(report)
    data = " ".join(perfdata(r, prefixes) for r in shown_readings)
    lines = [f"{line} | {data}" if data else line]
    order = sorted(
        (r for r in report.results if r.status in ("fail", "error", "warn")),
        key=lambda r: -_RANK[result_state(r, unchecked)],
    )
    for result in order:
        name = STATE_NAMES[result_state(result, unchecked)]
        lines.append(f"[{name}] {result.id} {_plain(result.target)}: {_plain(result.summary)}")
    labelled = dict.fromkeys(r.target for r in shown_readings)
    for target in labelled:
        if prefixes[target] not in ("app", "host"):
            lines.append(f"perfdata {prefixes[target]}: {_plain(target)}")
    return "\n".join(lines) + "\n"
