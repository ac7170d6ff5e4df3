"""`--format prometheus`: the text exposition format, for node_exporter's textfile collector.

Run it from cron or a systemd timer with `-o /var/lib/node_exporter/textfile/cachediag.prom`
(`-o` replaces the file atomically, so the collector never reads half a report). Every check becomes
`cachediag_check_status{id,target}` (0 pass, 1 warn, 2 fail, 3 error, -1 skip), and the
key readings become gauges, so one alert rule can watch the whole checklist.

The round trips are a summary, `cachediag_latency_seconds{target,quantile}` with its
`_sum` and `_count` over the round trips the check timed: a `quantile` label is reserved
to summaries (`promtool check metrics` rejects it on a gauge), and a summary keeps the
name and labels the earlier gauge had, so queries on it still work. Its _sum and _count
are those of one run, not cumulative: rate() over them means nothing, the quantiles do.
The output is checked by prometheus_client's parser, and by `promtool check metrics` where
it is installed, in tests/e2e/test_formats.py.
"""

from __future__ import annotations

import math
from calendar import timegm
from collections import defaultdict
from time import strptime

from cachediag.checks.evaluate import Report
from cachediag.render.readings import Reading, readings
from cachediag.safety.textsafe import safe_text

STATUS_VALUES = {"pass": 0, "warn": 1, "fail": 2, "error": 3, "skip": -1}

# reading name -> (metric, extra labels); a reading with a quantile is a summary's.
_GAUGES: dict[str, tuple[str, dict[str, str]]] = {
    "hit_rate": ("cachediag_hit_ratio", {}),
    "memory_used": ("cachediag_memory_used_ratio", {}),
    "latency_p50": ("cachediag_latency_seconds", {"quantile": "0.5"}),
    "latency_p99": ("cachediag_latency_seconds", {"quantile": "0.99"}),
    "clients": ("cachediag_connected_clients", {}),
    "evictions": ("cachediag_evicted_keys", {}),
    "error_rate": ("cachediag_app_error_ratio", {}),
    "health_latency": ("cachediag_app_health_seconds", {}),
}
_HELP = {
    "cachediag_latency_seconds": "Round trips of PING (or version) from this host, "
    "timed by the check: quantiles, and the sum and count of this run's round trips.",
}


def escape_label(value: str) -> str:
    """A label value as the exposition format needs it (after safe_text: no raw controls)."""
    return safe_text(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(pairs: dict[str, str]) -> str:
    if not pairs:
        return ""
    return "{" + ",".join(f'{k}="{escape_label(v)}"' for k, v in pairs.items()) + "}"


def _value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


class _Families:
    """Metric families in first-seen order, each written once with its HELP and TYPE."""

    def __init__(self) -> None:
        self.order: list[str] = []
        self.meta: dict[str, tuple[str, str]] = {}
        self.samples: dict[str, list[str]] = defaultdict(list)

    def add(
        self,
        name: str,
        kind: str,
        help_text: str,
        labels: dict[str, str],
        value: float,
        sample: str | None = None,
    ) -> None:
        """One sample of family `name`; `sample` names it when it is not the family's
        own name (a summary's `<name>_sum` and `<name>_count`)."""
        if name not in self.meta:
            self.order.append(name)
            self.meta[name] = (kind, help_text)
        self.samples[name].append(f"{sample or name}{_labels(labels)} {_value(value)}")

    def text(self) -> str:
        lines = []
        for name in self.order:
            kind, help_text = self.meta[name]
            # HELP text escapes only backslash and newline.
            help_line = help_text.replace("\\", "\\\\").replace("\n", "\\n")
            lines += [f"# HELP {name} {help_line}", f"# TYPE {name} {kind}", *self.samples[name]]
        return "\n".join(lines) + "\n"


def _readings(families: _Families, report: Report) -> None:
    summaries: dict[tuple[str, str], list[Reading]] = {}  # (metric, target) -> quantiles
    for reading in readings(report):
        mapped = _GAUGES.get(reading.name)
        if mapped is None:
            continue
        metric, extra = mapped
        if "quantile" in extra:
            summaries.setdefault((metric, reading.target), []).append(reading)
            continue
        help_text = _HELP.get(metric, reading.help)
        families.add(metric, "gauge", help_text, {"target": reading.target}, reading.value)
    # A summary's samples stay together: its quantiles per target, then _sum and _count.
    for (metric, target), quantiles in summaries.items():
        help_text = _HELP.get(metric, quantiles[0].help)
        for reading in sorted(quantiles, key=lambda r: float(_GAUGES[r.name][1]["quantile"])):
            labels = {"target": target, **_GAUGES[reading.name][1]}
            families.add(metric, "summary", help_text, labels, reading.value)
        first = quantiles[0]
        if first.count is not None and first.total is not None:
            labels = {"target": target}
            families.add(metric, "summary", help_text, labels, first.total, f"{metric}_sum")
            families.add(metric, "summary", help_text, labels, first.count, f"{metric}_count")


def render(report: Report) -> str:
    families = _Families()
    for result in report.results:
        families.add(
            "cachediag_check_status",
            "gauge",
            "Verdict of each check: 0 pass, 1 warn, 2 fail, 3 error (could not run), -1 skip.",
            {"id": result.id, "target": result.target},
            STATUS_VALUES[result.status],
        )
    for target in report.targets:
        families.add(
            "cachediag_target_up",
            "gauge",
            "1 when the target answered, 0 when it was down "
            "or nothing listened at its default address.",
            {"target": target["name"], "kind": target["kind"], "status": target["status"]},
            1 if target["status"] == "up" else 0,
        )
    _readings(families, report)
    for status, count in report.counts().items():
        families.add(
            "cachediag_check_results",
            "gauge",
            "Number of check results by status.",
            {"status": status},
            count,
        )
    families.add(
        "cachediag_check_exit_code",
        "gauge",
        "Exit code of the run: 0 ok, 1 a check failed, 3 a check could not run.",
        {},
        report.exit_code,
    )
    families.add(
        "cachediag_check_duration_seconds",
        "gauge",
        "Wall time of the whole run.",
        {},
        report.duration_ms / 1000,
    )
    try:
        stamp = timegm(strptime(report.generated_at, "%Y-%m-%dT%H:%M:%SZ"))
    except ValueError:
        stamp = None
    if stamp is not None:
        families.add(
            "cachediag_check_timestamp_seconds",
            "gauge",
            "When the facts were collected (Unix time): alert when it grows stale.",
            {},
            stamp,
        )
    return families.text()
