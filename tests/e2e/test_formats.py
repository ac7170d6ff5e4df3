"""Every --format of `cachediag check`, from one shared report and from real runs.

The shared report is evaluated from recorded facts (cachediag.checks.evaluate.evaluate) with every
status in it and hostile key names, so each renderer is checked against the same
verdicts, and each format is checked by the consumer that reads it: JUnit validated
against the Jenkins xunit-plugin schema (tests/data/junit-10.xsd) with xmlschema and its
counts compared, nagios perfdata checked against the plugin guidelines' label rules,
prometheus text parsed by prometheus_client's own parser (and linted by promtool where
it is installed), markdown tables counted.
"""

from __future__ import annotations

import importlib
import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from facts_builder import NOW, down, key, redis_facts

from cachediag.checks.checklist import load_checklist
from cachediag.checks.evaluate import Report, Result, evaluate
from cachediag.cli.commands.check import RENDERERS, Format, render_report
from cachediag.render import junit, markdown, nagios, prometheus

ESC_KEY = "user:\x1b[31mred\x1b[0m"
MARKUP_KEY = "user:[bold]x[/bold]|<b>&"
LINK_KEY = "[click](http://evil.example):{}"
ODD_KEY = "user:\ufffe"  # a noncharacter: legal in JSON, not allowed in XML 1.0 even escaped


def envelope(version: int) -> bytes:
    return b"CKIT" + bytes([version]) + b"\x2a\x05Alice"


def recorded_facts() -> dict[str, Any]:
    """Facts as the probes record them: one of every status, hostile key names included."""
    redis = redis_facts(
        info={"stats": {"keyspace_hits": 125, "keyspace_misses": 875, "evicted_keys": 12}},
        sample={
            "keys": [
                key(
                    LINK_KEY.format(1), head=envelope(1)
                ),  # two versions: named in app.schema_change
                key(LINK_KEY.format(2), head=envelope(2)),
                key("user:1", head=envelope(1)),
                key("user:2", head=envelope(2)),
                key(ESC_KEY, ttl_ms=-1, head=b"CKIT"),  # magic but nothing after it: undecodable
                key(MARKUP_KEY, ttl_ms=-1, head=envelope(1)),
                key(ODD_KEY, head=envelope(1)),
            ]
        },
    )
    memcached = down(
        "memcached", "refused", "connection to 127.0.0.1:1 refused (nothing listening)"
    )
    from cachediag.probes.app import schema_versions

    app = {
        "logs": {
            "paths": ["/var/log/app.log"],
            "scan": None,
            "error": "PermissionError: [Errno 13] Permission denied",
        },
        "metrics": {
            "url": "http://127.0.0.1:9/metrics",
            "ok": True,
            "http_status": 200,
            "elapsed_ms": 3.0,
            "error": None,
            "names": {
                "hits": ["cache_hits_total"],
                "misses": ["cache_misses_total"],
                "errors": ["cache_errors_total"],
            },
            "values": {
                "cache_hits_total": 900.0,
                "cache_misses_total": 100.0,
                "cache_errors_total": 10.0,
            },
            "metric_names_seen": 3,
        },
        "health": {
            "url": "http://127.0.0.1:9/health",
            "ok": True,
            "http_status": 200,
            "elapsed_ms": 150.0,
            "error": None,
            "body_status": "healthy",
            "body_json": {"status": "healthy"},
        },
    }
    app["schema_versions"] = schema_versions([redis, memcached])
    return {
        "schema": "cachediag.facts/v1",
        "collected_at": NOW,
        "targets": [redis, memcached],
        "host": None,
        "app": app,
    }


@pytest.fixture(scope="module")
def report() -> Report:
    return evaluate(load_checklist(), recorded_facts(), duration_ms=812)


def test_the_shared_report_has_every_status(report: Report) -> None:
    counts = report.counts()
    assert all(counts[s] > 0 for s in ("pass", "warn", "fail", "skip", "error")), counts


# --- the --format enum ---------------------------------------------------------------


def test_every_format_choice_maps_to_a_renderer(report: Report) -> None:
    assert set(RENDERERS) == set(Format)
    for choice in Format:
        module = importlib.import_module(RENDERERS[choice])
        assert callable(module.render), choice
        text = render_report(report, choice, terminal=False)
        assert isinstance(text, str) and text.strip(), choice


@pytest.mark.parametrize("choice", list(Format))
def test_no_raw_escape_reaches_any_format(report: Report, choice: Format) -> None:
    text = render_report(report, choice, terminal=False)
    assert "\x1b" not in text
    if choice is Format.junit:
        assert "\ufffe" not in text and "user:\\ufffe" in text


# --- junit ---------------------------------------------------------------------------


JUNIT_XSD = Path(__file__).resolve().parents[1] / "data" / "junit-10.xsd"


@pytest.fixture(scope="module")
def junit_schema() -> Any:
    import xmlschema

    return xmlschema.XMLSchema(str(JUNIT_XSD))


def assert_valid_junit(text: str) -> None:
    """Valid against the Jenkins xunit-plugin schema, the strictest of the common ones."""
    import xmlschema

    schema = xmlschema.XMLSchema(str(JUNIT_XSD))
    problems = [f"{e.path}: {e.reason}" for e in schema.iter_errors(text)]
    assert not problems, "\n".join(problems)


def parse_junit(text: str) -> ET.Element:
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    return ET.fromstring(text.encode("utf-8"))


def test_junit_is_valid_against_the_xunit_schema(report: Report, junit_schema: Any) -> None:
    text = junit.render(report)
    assert_valid_junit(text)
    # The validator can fail: the old `skipped` on <testsuites> is rejected.
    root = parse_junit(text)
    root.set("skipped", "1")
    assert not junit_schema.is_valid(ET.tostring(root, encoding="unicode"))


def test_junit_case_keys_are_unique_across_targets(junit_schema: Any) -> None:
    """GitLab keys cases by (classname, name), Jenkins builds its tree from classname:
    with three Redis targets each (classname, name) must still be one case."""
    facts = recorded_facts()
    first = facts["targets"][0]
    for port in (6380, 6381):
        other = json.loads(json.dumps(first))
        other["target"], other["address"] = f"redis://127.0.0.1:{port}/0", f"127.0.0.1:{port}"
        facts["targets"].append(other)
    rep = evaluate(load_checklist(), facts, duration_ms=5)
    text = junit.render(rep)
    assert junit_schema.is_valid(text)
    cases = [(c.get("classname"), c.get("name")) for c in parse_junit(text).iter("testcase")]
    assert len(cases) == len(rep.results) and len(set(cases)) == len(cases)
    running = [c for c in cases if c[0] and c[0].endswith(".redis.running")]
    assert [c[0] for c in running] == [
        f"redis://127.0.0.1:{port}/0.redis.running" for port in (6379, 6380, 6381)
    ]


def test_junit_suites_cases_and_counts(report: Report) -> None:
    root = parse_junit(junit.render(report))
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == [
        "redis://127.0.0.1:6379/0",
        "memcached://127.0.0.1:11211",
        "host",
        "app",
    ]
    totals: Counter[str] = Counter()
    for suite in suites:
        cases = suite.findall("testcase")
        expected = [r for r in report.results if r.target == suite.get("name")]
        assert [(c.get("classname"), c.get("name")) for c in cases] == [
            (f"{r.target}.{r.id}", r.item) for r in expected
        ]
        by_status = Counter(r.status for r in expected)
        assert int(suite.get("tests", "-1")) == len(cases)
        assert (
            int(suite.get("failures", "-1"))
            == len(suite.findall("testcase/failure"))
            == by_status["fail"]
        )
        assert (
            int(suite.get("errors", "-1"))
            == len(suite.findall("testcase/error"))
            == by_status["error"]
        )
        assert (
            int(suite.get("skipped", "-1"))
            == len(suite.findall("testcase/skipped"))
            == by_status["skip"]
        )
        assert float(suite.get("time", "-1")) == pytest.approx(
            sum(float(c.get("time", "-1")) for c in cases)
        )
        for name in ("tests", "failures", "errors", "skipped"):
            totals[name] += int(suite.get(name, "0"))
    counts = report.counts()
    assert totals == {
        "tests": len(report.results),
        "failures": counts["fail"],
        "errors": counts["error"],
        "skipped": counts["skip"],
    }
    for name in ("tests", "failures", "errors"):
        assert int(root.get(name, "-1")) == totals[name]
    assert root.get("skipped") is None  # not allowed on <testsuites> by junit-10.xsd
    assert float(root.get("time", "0")) == pytest.approx(0.812)


def test_junit_details_are_in_the_body_and_warn_passes(report: Report) -> None:
    root = parse_junit(junit.render(report))
    hit = root.find("testsuite/testcase[@classname='redis://127.0.0.1:6379/0.redis.hit_rate']")
    assert hit is not None
    failure = hit.find("failure")
    assert failure is not None and "hit rate 12.5%" in failure.get("message", "")
    assert "remedy: " in (failure.text or "") and '"hit_rate": 0.125' in (failure.text or "")
    errored = root.find("testsuite[@name='app']/testcase[@classname='app.app.error_logs']/error")
    assert errored is not None and "Permission denied" in (errored.text or "")
    warned = root.find("testsuite/testcase[@classname='redis://127.0.0.1:6379/0.redis.evictions']")
    assert warned is not None and warned.find("failure") is None
    out = warned.find("system-out")
    assert out is not None and (out.text or "").startswith("[warn] 12 keys evicted")
    suite = root.find("testsuite")
    assert suite is not None
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["version"] == "Redis 7.0.15" and props["status"] == "up"


def test_junit_fail_on_warn_turns_warnings_into_failures() -> None:
    strict = evaluate(load_checklist(), recorded_facts(), fail_on_warn=True)
    root = parse_junit(junit.render(strict))
    counts = strict.counts()
    assert int(root.get("failures", "-1")) == counts["fail"] + counts["warn"]
    warned = root.find(
        "testsuite/testcase[@classname='redis://127.0.0.1:6379/0.redis.evictions']/failure"
    )
    assert warned is not None and warned.get("type") == "warn"


def test_junit_escapes_hostile_key_names(report: Report) -> None:
    text = junit.render(report)
    assert_valid_junit(text)
    root = parse_junit(text)  # would raise on an illegal character or broken markup
    bodies = "\n".join(e.text or "" for e in root.iter() if e.text)
    assert "user:\\x1b[31mred\\x1b[0m" in bodies
    assert "<b>" not in text and "&lt;b&gt;&amp;" in text


# --- nagios --------------------------------------------------------------------------

PERF = re.compile(
    r"(?P<label>[A-Za-z0-9_]+)=(?P<value>-?[\d.]+)(?P<uom>[a-zA-Z%]*)(?:;(?P<rest>[^ ]*))?"
)


def assert_perfdata_labels(perf: str) -> dict[str, re.Match[str]]:
    """The plugin guidelines' label rules, as graphers and pynag apply them: each label
    unique in its first 19 characters (what some graphers keep), no spaces, quotes, '='
    or `://`; nothing in the perfdata but perfdata."""
    found = {m.group("label"): m for m in PERF.finditer(perf)}
    assert PERF.sub("", perf).strip() == "", perf
    labels = [m.group("label") for m in PERF.finditer(perf)]
    assert len({label[:19] for label in labels}) == len(labels), labels
    for label in labels:
        assert not any(bad in label for bad in (" ", "'", "=", "://")), label
    return found


def test_nagios_status_line_perfdata_and_long_output(report: Report) -> None:
    text = nagios.render(report)
    first, *rest = text.splitlines()
    status, _, perf = first.partition(" | ")
    assert status.startswith("CACHEDIAG CRITICAL - ")
    assert "redis.hit_rate" in status and "|" not in status
    found = assert_perfdata_labels(perf)
    hit = found["r0_hit_rate"]
    assert (hit.group("value"), hit.group("uom"), hit.group("rest")) == (
        "12.5",
        "%",
        "30:;20:;0;100",
    )
    memory = found["r0_memory_used"]
    assert (memory.group("value"), memory.group("uom"), memory.group("rest")) == (
        "50",
        "%",
        "80;95;0;100",
    )
    assert found["r0_latency_p99"].group("uom") == "ms"
    assert found["r0_clients"].group("rest") == "8000;;0;10000"
    assert found["r0_evictions"].group("value") == "12"
    assert found["app_error_rate"].group("rest") == "5;;0;100"
    assert found["app_health_latency"].group("value") == "150"
    assert any(line.startswith("[CRITICAL] memcached.running") for line in rest)
    assert any(line.startswith("[UNKNOWN] app.error_logs") for line in rest)
    assert rest[-1] == "perfdata r0: redis://127.0.0.1:6379/0"
    assert nagios.exit_code(report) == nagios.CRITICAL


def test_nagios_labels_stay_unique_and_plain_across_many_targets() -> None:
    """Twelve Redis targets on ports sharing their first digits, and two Memcached: the
    labels that held the target shared `'redis://127.0.0.1:2` in 19 characters."""
    facts = recorded_facts()
    first = facts["targets"][0]
    facts["targets"] = []
    for port in range(26379, 26391):
        other = json.loads(json.dumps(first))
        other["target"], other["address"] = f"redis://127.0.0.1:{port}/0", f"127.0.0.1:{port}"
        facts["targets"].append(other)
    rep = evaluate(load_checklist(), facts, duration_ms=5)
    first_line, *rest = nagios.render(rep).splitlines()
    found = assert_perfdata_labels(first_line.partition(" | ")[2])
    assert {"r0_hit_rate", "r11_hit_rate", "r11_latency_p50"} <= set(found)
    mapping = [line for line in rest if line.startswith("perfdata ")]
    assert mapping == [f"perfdata r{i}: redis://127.0.0.1:{26379 + i}/0" for i in range(12)]


def result(
    status: str, target: str = "redis://h:6379/0", check_id: str = "redis.hit_rate", **observed: Any
) -> Result:
    return Result(
        check_id,
        "Cache Issues",
        "What's the hit rate?",
        target,
        status,
        f"{status} reading",
        observed,
        {},
        "",
        "",
    )


def small_report(*results: Result) -> Report:
    return Report("t", [], list(results), "2026-11-26T04:00:00Z", 5)


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        (["pass", "skip"], nagios.OK),
        (["pass", "warn"], nagios.WARNING),
        (["warn", "error"], nagios.UNKNOWN),
        (["warn", "error", "fail"], nagios.CRITICAL),
        ([], nagios.OK),
    ],
)
def test_nagios_worst_state(statuses: list[str], expected: int) -> None:
    rep = small_report(*(result(s) for s in statuses))
    assert nagios.exit_code(rep) == expected
    assert nagios.render(rep).startswith(f"CACHEDIAG {nagios.STATE_NAMES[expected]} - ")


def test_nagios_a_target_we_could_not_log_in_to_is_unknown() -> None:
    locked = "redis://h:6380/0"
    rep = small_report(
        result("pass"),
        result("fail", locked, "redis.running", cause="auth"),
        result("fail", locked, "redis.connectivity", cause="auth"),
    )
    assert nagios.exit_code(rep) == nagios.UNKNOWN
    refused = small_report(result("fail", locked, "redis.running", cause="refused"))
    assert nagios.exit_code(refused) == nagios.CRITICAL


def test_nagios_keeps_pipes_and_quotes_out_of_its_syntax() -> None:
    rep = small_report(
        Result(
            "redis.hit_rate",
            "s",
            "i",
            "unix:///x.sock?db=1'",
            "fail",
            "a|b",
            {"hit_rate": 0.5},
            {},
            "",
            "",
        )
    )
    first = nagios.render(rep).splitlines()[0]
    status, _, perf = first.partition(" | ")
    assert "a/b" in status
    assert perf == "r0_hit_rate=50%;;;0;100"
    assert nagios.render(rep).splitlines()[-1] == "perfdata r0: unix:///x.sock?db=1'"


# --- prometheus ----------------------------------------------------------------------

SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?P<labels>\{.*\})? (?P<value>\S+)$")


def parse_labels(text: str) -> dict[str, str]:
    """Label set as the exposition format defines it (escapes: \\\\, \\", \\n)."""
    labels: dict[str, str] = {}
    body = text[1:-1]
    pos = 0
    while pos < len(body):
        match = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="').match(body, pos)
        assert match, f"bad label at {body[pos:]!r}"
        pos = match.end()
        value = []
        while body[pos] != '"':
            if body[pos] == "\\":
                value.append({"\\": "\\", '"': '"', "n": "\n"}[body[pos + 1]])
                pos += 2
            else:
                value.append(body[pos])
                pos += 1
        labels[match.group(1)] = "".join(value)
        pos += 1
        if pos < len(body):
            assert body[pos] == ",", body
            pos += 1
    return labels


def parse_exposition(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    assert text.endswith("\n")
    families: dict[str, list[tuple[dict[str, str], float]]] = {}
    helped: set[str] = set()
    typed: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name = line.split()[2]
            assert name not in helped, f"HELP twice for {name}"
            helped.add(name)
        elif line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            assert name in helped and name not in typed
            assert kind in ("gauge", "counter", "summary")
            typed[name] = kind
        else:
            match = SAMPLE.match(line)
            assert match, f"not a sample line: {line!r}"
            name = match.group("name")
            family = name
            for suffix in ("_sum", "_count"):  # a summary's own samples
                base = name.removesuffix(suffix)
                if base != name and typed.get(base) == "summary":
                    family = base
            assert family in typed, f"{name} has no TYPE before its samples"
            labels = parse_labels(match.group("labels")) if match.group("labels") else {}
            # Reserved labels (promtool's lint): quantile only on a summary's quantiles.
            assert "le" not in labels, line
            if "quantile" in labels:
                assert typed[family] == "summary" and name == family, line
            families.setdefault(name, []).append((labels, float(match.group("value"))))
    return families


def assert_prometheus_reads(text: str) -> dict[str, Any]:
    """What Prometheus' own Python parser reads, and promtool's lint where installed."""
    from prometheus_client.parser import text_string_to_metric_families

    read = {family.name: family for family in text_string_to_metric_families(text)}
    assert read, text
    # promtool's name lints, for where it is not installed: no type or abbreviated unit
    # in a name, snake_case, no ':'; every family has its HELP.
    for name, family in read.items():
        words = name.split("_")
        assert not {"gauge", "counter", "summary", "histogram"} & set(words), name
        assert not {"s", "ms", "us", "ns", "sec", "b", "kb", "mb", "gb", "m", "h", "d"} & set(
            words
        ), name
        assert ":" not in name and not re.search("[a-z][A-Z]", name), name
        assert family.documentation, name
    promtool = shutil.which("promtool")
    if promtool:
        lint = subprocess.run(
            [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30
        )
        assert lint.returncode == 0, lint.stdout + lint.stderr
    return read


def test_promtool_lints_the_exposition(report: Report) -> None:
    if shutil.which("promtool") is None:
        pytest.skip("promtool is not installed (Debian package `prometheus`)")
    text = prometheus.render(report)
    assert_prometheus_reads(text)
    # promtool can fail: the old gauge with a quantile label is rejected.
    old = '# HELP x_seconds Round trip.\n# TYPE x_seconds gauge\nx_seconds{quantile="0.5"} 1\n'
    lint = subprocess.run(
        ["promtool", "check", "metrics"], input=old, capture_output=True, text=True, timeout=30
    )
    assert lint.returncode != 0


def test_prometheus_client_reads_every_family(report: Report) -> None:
    read = assert_prometheus_reads(prometheus.render(report))
    latency = read["cachediag_latency_seconds"]
    assert latency.type == "summary"
    by_name: dict[str, list[Any]] = {}
    for sample in latency.samples:
        by_name.setdefault(sample.name, []).append(sample)
    quantiles = {s.labels["quantile"]: s.value for s in by_name["cachediag_latency_seconds"]}
    assert set(quantiles) == {"0.5", "0.99"} and quantiles["0.5"] <= quantiles["0.99"]
    ((count,),) = [by_name["cachediag_latency_seconds_count"]]
    ((total,),) = [by_name["cachediag_latency_seconds_sum"]]
    assert count.labels == {"target": "redis://127.0.0.1:6379/0"} and count.value > 0
    assert total.value > 0
    for family in read.values():
        if family.type != "summary":
            assert all("quantile" not in s.labels for s in family.samples), family.name
    statuses = read["cachediag_check_status"]
    assert statuses.type == "gauge" and len(statuses.samples) == len(report.results)


def test_prometheus_statuses_and_gauges(report: Report) -> None:
    families = parse_exposition(prometheus.render(report))
    statuses = {
        (labels["id"], labels["target"]): value
        for labels, value in families["cachediag_check_status"]
    }
    assert len(statuses) == len(report.results)
    expected = {"pass": 0, "warn": 1, "fail": 2, "error": 3, "skip": -1}
    for res in report.results:
        assert statuses[(res.id, res.target)] == expected[res.status]
    hit = {labels["target"]: value for labels, value in families["cachediag_hit_ratio"]}
    assert hit == {"redis://127.0.0.1:6379/0": 0.125, "app": 0.9}
    quantiles = {labels["quantile"] for labels, _ in families["cachediag_latency_seconds"]}
    assert quantiles == {"0.5", "0.99"}
    assert [labels for labels, _ in families["cachediag_latency_seconds_count"]] == [
        {"target": "redis://127.0.0.1:6379/0"}
    ]
    assert families["cachediag_memory_used_ratio"] == [
        ({"target": "redis://127.0.0.1:6379/0"}, 0.5)
    ]
    assert families["cachediag_evicted_keys"][0][1] == 12
    up = {labels["target"]: value for labels, value in families["cachediag_target_up"]}
    assert up == {"redis://127.0.0.1:6379/0": 1, "memcached://127.0.0.1:11211": 0}
    results = {labels["status"]: value for labels, value in families["cachediag_check_results"]}
    assert results == {s: float(n) for s, n in report.counts().items()}
    assert families["cachediag_check_exit_code"] == [({}, 1.0)]
    assert families["cachediag_check_timestamp_seconds"] == [({}, NOW // 1)]


def test_prometheus_escapes_label_values() -> None:
    hostile = 'redis://h:1/0 "quoted" back\\slash\nnewline\x1b'
    rep = small_report(result("warn", hostile))
    text = prometheus.render(rep)
    families = parse_exposition(text)
    assert_prometheus_reads(text)
    ((labels, value),) = families["cachediag_check_status"]
    # The label carries the safe_text form: controls visible, nothing raw.
    assert labels["target"] == 'redis://h:1/0 "quoted" back\\slash\\nnewline\\x1b'
    assert value == 1


# --- markdown ------------------------------------------------------------------------


def test_markdown_tables_symbols_and_targets(report: Report) -> None:
    text = markdown.render(report)
    assert "| redis://127.0.0.1:6379/0 | redis | up | Redis 7.0.15 | flag |" in text
    sections = re.findall(r"^### (.+)$", text, re.M)
    assert sections == ["Cache Issues", "Network Issues", "Application Issues", "System Issues"]
    rows = [line for line in text.splitlines() if line.startswith("| ") and "`" in line]
    assert len(rows) == len(report.results)
    for line in rows:
        # Escaped pipes do not split cells: every row has exactly the 5 columns.
        assert len(re.split(r"(?<!\\)\|", line)) == 7, line
    symbols = Counter(line.split()[1] for line in rows)
    counts = report.counts()
    assert symbols == {
        "✅": counts["pass"],
        "⚠️": counts["warn"],
        "❌": counts["fail"],
        "⏭️": counts["skip"],
        "❗": counts["error"],
    }


def test_a_markdown_renderer_reads_the_tables_and_no_link(report: Report) -> None:
    """What GitHub and GitLab render, as markdown-it (CommonMark + GFM tables) parses it:
    the targets table and one table per section, a row per result with its five cells,
    and not one link, image or HTML tag made out of a key name."""
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").enable("table").parse(markdown.render(report))
    tables: list[list[list[str]]] = []
    for index, token in enumerate(tokens):
        if token.type == "table_open":
            tables.append([])
        elif token.type == "tr_open":
            tables[-1].append([])
        elif token.type == "inline" and tokens[index - 1].type in ("td_open", "th_open"):
            tables[-1][-1].append(token.content)
        if token.type == "inline":
            kinds = {child.type for child in token.children or []}
            assert not kinds & {"link_open", "image", "html_inline", "autolink"}, token.content
        assert token.type not in ("html_block", "html_inline"), token.content
    targets, *sections = tables
    assert targets[0] == ["target", "kind", "status", "version", "source"]
    rows = [row for table in sections for row in table[1:]]
    assert len(sections) == 4 and len(rows) == len(report.results)
    assert all(len(row) == 5 for table in sections for row in table)
    symbols = {"pass": "✅", "warn": "⚠️", "fail": "❌", "skip": "⏭️", "error": "❗"}
    for row, res in zip(rows, sorted(report.results, key=_section_order(report)), strict=True):
        assert row[0] == f"{symbols[res.status]} {res.status}" and row[1] == f"`{res.id}`"
    text = "".join(cell for row in rows for cell in row)
    assert "\\[click\\](http://evil.example):1" in text


def _section_order(report: Report) -> Any:
    sections = list(dict.fromkeys(r.section for r in report.results))
    return lambda r: sections.index(r.section)


def test_markdown_keeps_key_names_literal(report: Report) -> None:
    text = markdown.render(report)
    assert not re.search(r"(?<!\\)\]\(", text), "an unescaped ]( would make a link"
    assert "<b>" not in text
    assert "\\[click\\](http://evil.example):1 (v1)" in text
    assert "\\x1b\\[31mred" in text


# --- real runs -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    from cachediag.schemas import check_schema_text

    return json.loads(check_schema_text())


@pytest.fixture
def seeded_redis(redis_server: Any) -> Any:
    redis_server.cli("SET", "user:1", envelope(1).decode("latin-1"))
    redis_server.cli("SET", "user:\x1b[2Jx", "plain")
    return redis_server


def test_real_run_in_every_format(
    seeded_redis: Any, cachediag: Any, schema: dict[str, Any], tmp_path: Path
) -> None:
    import jsonschema

    common = ("--redis", seeded_redis.url, "--skip", "host.*")
    run = cachediag("check", *common, "--format", "json")
    jsonschema.validate(run.json(), schema)
    expected = run.json()["summary"]
    assert run.code == expected["exit_code"]

    junit_run = cachediag("check", *common, "--format", "junit")
    assert_valid_junit(junit_run.out)
    root = parse_junit(junit_run.out)
    assert int(root.get("tests", "0")) == sum(
        expected[s] for s in ("pass", "warn", "fail", "skip", "error")
    )
    assert [s.get("name") for s in root.findall("testsuite")] == [
        f"redis://127.0.0.1:{seeded_redis.port}/0",
        "app",
    ]
    assert junit_run.code == run.code

    nagios_run = cachediag("check", *common, "--format", "nagios")
    first = nagios_run.out.splitlines()[0]
    state = {"OK": 0, "WARNING": 1, "CRITICAL": 2, "UNKNOWN": 3}[first.split()[1]]
    assert nagios_run.code == state
    assert_perfdata_labels(first.partition(" | ")[2])
    assert " r0_latency_p99=" in first
    assert (
        nagios_run.out.splitlines()[-1] == f"perfdata r0: redis://127.0.0.1:{seeded_redis.port}/0"
    )

    prom_run = cachediag("check", *common, "--format", "prometheus")
    families = parse_exposition(prom_run.out)
    read = assert_prometheus_reads(prom_run.out)
    assert read["cachediag_latency_seconds"].type == "summary"
    assert len(families["cachediag_check_status"]) == len(run.json()["results"])

    out = tmp_path / "report.md"
    md_run = cachediag("check", *common, "--format", "markdown", "-o", str(out))
    assert md_run.out == ""
    text = out.read_text(encoding="utf-8")
    assert "### Cache Issues" in text and "\x1b" not in text


def test_real_multi_target_run_for_ci_and_monitors(
    redis_factory: Any, memcached_server: Any, cachediag: Any
) -> None:
    """Two Redis and a Memcached, as CI and a monitor see them: JUnit valid with one case
    per (classname, name), perfdata labels unique in 19 characters and mapped back."""
    first, second = redis_factory(), redis_factory()
    common = (
        "--redis", first.url, "--redis", second.url,
        "--memcached", memcached_server.address, "--skip", "host.*",
    )  # fmt: skip
    junit_run = cachediag("check", *common, "--format", "junit")
    assert_valid_junit(junit_run.out)
    cases = [
        (c.get("classname"), c.get("name")) for c in parse_junit(junit_run.out).iter("testcase")
    ]
    assert len(set(cases)) == len(cases)
    assert {c for c, _ in cases if c and c.endswith(".redis.running")} == {
        f"{first.url}.redis.running",
        f"{second.url}.redis.running",
    }
    nagios_run = cachediag("check", *common, "--format", "nagios")
    first_line, *rest = nagios_run.out.splitlines()
    found = assert_perfdata_labels(first_line.partition(" | ")[2])
    assert {"r0_clients", "r1_clients", "m0_clients", "r1_latency_p99"} <= set(found)
    assert [line for line in rest if line.startswith("perfdata ")] == [
        f"perfdata r0: {first.url}",
        f"perfdata r1: {second.url}",
        f"perfdata m0: memcached://{memcached_server.address}",
    ]


def test_nagios_real_run_exit_codes(redis_factory: Any, cachediag: Any, closed_port: int) -> None:
    healthy = redis_factory("--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru")
    ok = cachediag(
        "check",
        "--redis",
        healthy.url,
        "--only",
        "redis.running,redis.pool,redis.memory",
        "--format",
        "nagios",
    )
    assert ok.code == 0, ok.out
    assert ok.out.startswith("CACHEDIAG OK - 3 checks passed")
    noeviction = redis_factory("--maxmemory", "64mb", "--maxmemory-policy", "noeviction")
    crit = cachediag(
        "check", "--redis", noeviction.url, "--only", "redis.eviction_policy", "--format", "nagios"
    )
    assert crit.code == 2 and crit.out.startswith("CACHEDIAG CRITICAL - redis.eviction_policy")
    unlimited = redis_factory()
    warn = cachediag(
        "check", "--redis", unlimited.url, "--only", "redis.memory", "--format", "nagios"
    )
    assert warn.code == 1 and warn.out.startswith("CACHEDIAG WARNING - redis.memory")
    locked = redis_factory(password="s3cret")
    unknown = cachediag(
        "check",
        "--redis",
        f"redis://:wrong@127.0.0.1:{locked.port}/0",
        "--only",
        "redis.*",
        "--format",
        "nagios",
    )
    assert unknown.code == 3, unknown.out
    assert "wrong" not in unknown.out
    down = cachediag(
        "check",
        "--redis",
        f"redis://127.0.0.1:{closed_port}/0",
        "--only",
        "redis.running",
        "--format",
        "nagios",
    )
    assert down.code == 2 and down.out.startswith("CACHEDIAG CRITICAL")


def test_nagios_usage_errors_are_unknown_on_stdout(cachediag: Any) -> None:
    run = cachediag(
        "check", "--format", "nagios", "--only", "bogus.id", "--redis", "redis://:pw@h/0"
    )
    assert run.code == 3
    expected = "unknown check id or section 'bogus.id' (see cachediag check --list)"
    assert run.out == f"CACHEDIAG UNKNOWN - {expected}\n"
    assert "bogus.id" in run.err and "Traceback" not in run.err
    plain = cachediag("check", "--only", "bogus.id")
    assert plain.code == 2 and plain.out == ""


def test_list_as_json_shows_the_thresholds_in_force(cachediag: Any, tmp_path: Path) -> None:
    config = tmp_path / "cachediag.toml"
    config.write_text('[thresholds."app.health"]\nwarn_slower_than_ms = 250\n')
    run = cachediag(
        "check", "--config", str(config), "--list", "--only", "app.*,redis.hit_rate", "--json"
    )
    assert run.code == 0
    checks = {c["id"]: c for c in run.json()["checks"]}
    assert set(checks) == {
        f"app.{n}"
        for n in ("error_logs", "fallback", "metrics", "health", "database_load", "schema_change")
    } | {"redis.hit_rate"}
    assert checks["app.health"]["thresholds"] == {"warn_slower_than_ms": 250}
    assert checks["app.metrics"]["thresholds"] == {"warn_error_rate_above": 0.05}
    assert (
        checks["redis.hit_rate"]["section"] == "Cache Issues" and checks["redis.hit_rate"]["remedy"]
    )
    table = cachediag("check", "--config", str(config), "--list", "--only", "Application Issues")
    assert "warn_slower_than_ms=250" in table.out


def test_output_file_is_replaced_whole(cachediag: Any, tmp_path: Path) -> None:
    out = tmp_path / "cachediag.prom"
    out.write_text("stale\n")
    run = cachediag(
        "check", "--only", "app.database_load", "--format", "prometheus", "-o", str(out)
    )
    assert run.code == 0 and run.out == ""
    families = parse_exposition(out.read_text(encoding="utf-8"))
    assert families["cachediag_check_status"] == [
        ({"id": "app.database_load", "target": "app"}, -1.0)
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cachediag.prom", "cwd"]
    bad = cachediag("check", "--only", "app.database_load", "-o", str(tmp_path / "no" / "x.prom"))
    assert bad.code == 2 and "cannot write" in bad.err


def test_every_format_from_facts_recorded_on_real_servers() -> None:
    """The lead's recording (tests/data) of a real Redis and Memcached, through every renderer."""
    import jsonschema

    from cachediag.schemas import check_schema_text

    recorded = json.loads(
        (
            Path(__file__).resolve().parents[1] / "data" / "recorded_noeviction_facts.json"
        ).read_text()
    )
    rep = evaluate(load_checklist(), recorded)
    counts = rep.counts()
    jsonschema.validate(
        json.loads(render_report(rep, Format.json)), json.loads(check_schema_text())
    )
    root = parse_junit(junit.render(rep))
    assert int(root.get("tests", "-1")) == len(rep.results)
    assert int(root.get("failures", "-1")) == counts["fail"] > 0
    families = parse_exposition(prometheus.render(rep))
    assert len(families["cachediag_check_status"]) == len(rep.results)
    assert nagios.render(rep).startswith("CACHEDIAG CRITICAL - ")
    rows = [
        line for line in markdown.render(rep).splitlines() if line.startswith("| ") and "`" in line
    ]
    assert len(rows) == len(rep.results)
