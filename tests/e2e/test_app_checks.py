"""Application Issues checks: health and metrics endpoints, logs, schema versions.

A local HTTP server (started by these tests) serves /health and /metrics in each state
the checks judge: healthy, slow, 503, no cache metrics, an error rate above 5%, the
application's own metric names; a closed port is the unreachable one. Log files are
written by the tests. Rules are also run over hand-written facts for their boundaries.
"""

from __future__ import annotations

import gzip
import http.server
import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from facts_builder import key, redis_facts

from cachediag.checks.registry import RULES
from cachediag.errors import UsageError
from cachediag.probes import app as app_probe
from cachediag.probes import promtext

HEALTHY = {"status": "healthy", "cache": "ready"}
UNHEALTHY = {"status": "unhealthy", "cache": "unavailable"}

METRICS = {
    "ok": (
        "# HELP cache_hits_total Cache hits.\n# TYPE cache_hits_total counter\n"
        'cache_hits_total{cache="users"} 600\n'
        'cache_hits_total{cache="orders",note="a } in \\"quotes\\""} 300\n'
        "# TYPE cache_misses_total counter\ncache_misses_total 100\n"
        "cache_errors_total 2\nhttp_requests_total 5 1700000000000\n"
    ),
    "errors": "cache_hits_total 90\ncache_misses_total 10\ncache_errors_total 10\n",
    "nocache": (
        "# TYPE http_requests_total counter\nhttp_requests_total 5\nprocess_cpu_seconds_total 1.5\n"
    ),
    "custom": "myapp_cache_hit_count 80\nmyapp_cache_miss_count 20\n",
    "html": "<html><body>not metrics</body></html>\n",
}


class AppHandler(http.server.BaseHTTPRequestHandler):
    def _send(self, code: int, body: bytes, content_type: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        state, _, what = self.path.strip("/").partition("/")
        if what == "health":
            if state == "slow":
                time.sleep(0.2)
            if state == "hang":
                time.sleep(3)
            if state == "down":
                self._send(503, json.dumps(UNHEALTHY).encode(), "application/json")
            elif state == "plain":
                self._send(200, b"OK", "text/plain")
            elif state in ("healthy", "slow", "hang"):
                self._send(200, json.dumps(HEALTHY).encode(), "application/json")
            else:
                self._send(404, b"not found", "text/plain")
        elif what == "metrics" and state in METRICS:
            self._send(200, METRICS[state].encode(), "text/plain; version=0.0.4")
        else:
            self._send(404, b"not found", "text/plain")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def app_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), AppHandler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def app_results(run: Any) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in run.json()["results"] if r["target"] == "app"}


# --- app.health ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "slow_ms", "status", "words"),
    [
        # A local answer takes ~1 ms; a generous limit keeps a busy CI machine from flaking.
        ("healthy", 1000, "pass", "HTTP 200, status healthy"),
        ("plain", 1000, "pass", "no JSON status"),
        ("slow", 100, "warn", "degraded"),  # the endpoint sleeps 200 ms
        ("down", 100, "fail", "unhealthy: HTTP 503, status unhealthy"),
        ("nothing", 100, "fail", "unhealthy: HTTP 404"),
    ],
)
def test_health_endpoint_states(
    app_server: str, state: str, slow_ms: int, status: str, words: str
) -> None:
    facts = {"health": app_probe.collect_health(f"{app_server}/{state}/health", 2.0)}
    outcome = RULES["app.health"](facts, {"warn_slower_than_ms": slow_ms})
    assert outcome.status == status, outcome
    assert words in outcome.summary


def test_health_slow_is_measured_not_guessed(app_server: str) -> None:
    facts = app_probe.collect_health(f"{app_server}/slow/health", 2.0)
    assert facts["elapsed_ms"] >= 200
    assert RULES["app.health"]({"health": facts}, {"warn_slower_than_ms": 1000}).status == "pass"


def test_health_unreachable_and_timeout(closed_port: int, app_server: str) -> None:
    refused = app_probe.collect_health(f"http://127.0.0.1:{closed_port}/health", 2.0)
    outcome = RULES["app.health"]({"health": refused}, {})
    assert outcome.status == "fail" and "refused" in outcome.summary
    started = time.monotonic()
    hung = app_probe.collect_health(f"{app_server}/hang/health", 0.3)
    assert time.monotonic() - started < 1.5
    outcome = RULES["app.health"]({"health": hung}, {})
    assert outcome.status == "fail" and "did not answer within 0.3 s" in outcome.summary


# --- app.metrics ---------------------------------------------------------------------


def test_prometheus_text_parsing() -> None:
    parsed = promtext.parse(METRICS["ok"] + 'garbage line here\nname{unclosed="x" 1\n')
    assert parsed.values["cache_hits_total"] == 900
    assert parsed.series["cache_hits_total"] == 2
    assert parsed.values["http_requests_total"] == 5  # the timestamp is not the value
    assert parsed.types["cache_hits_total"] == "counter"
    assert parsed.unparsed == 2


@pytest.mark.parametrize(
    ("state", "status", "words"),
    [
        ("ok", "pass", "hit rate 90.0% (900 hits, 100 misses), error rate 0.2%"),
        ("errors", "warn", "error rate 9.1%: above 5%"),
        ("nocache", "warn", "no cache hit/miss metrics among 2 metrics"),
        ("html", "warn", "no cache hit/miss metrics"),
        ("missing", "fail", "answered HTTP 404"),
    ],
)
def test_metrics_endpoint_states(app_server: str, state: str, status: str, words: str) -> None:
    facts = {
        "metrics": app_probe.collect_metrics(
            f"{app_server}/{state}/metrics", 2.0, app_probe.DEFAULT_METRIC_NAMES
        )
    }
    outcome = RULES["app.metrics"](facts, {"warn_error_rate_above": 0.05})
    assert outcome.status == status, outcome
    assert words in outcome.summary


def test_metrics_unreachable(closed_port: int) -> None:
    facts = {
        "metrics": app_probe.collect_metrics(
            f"http://127.0.0.1:{closed_port}/metrics", 2.0, app_probe.DEFAULT_METRIC_NAMES
        )
    }
    outcome = RULES["app.metrics"](facts, {})
    assert outcome.status == "fail" and outcome.summary.startswith("unreachable: connection to")


def test_metrics_gauges_alone_give_the_rates() -> None:
    facts = {
        "metrics": {
            "ok": True,
            "http_status": 200,
            "names": {k: list(v) for k, v in app_probe.DEFAULT_METRIC_NAMES.items()},
            "values": {"cache_hit_rate": 0.25, "cache_error_rate": 0.06},
        }
    }
    outcome = RULES["app.metrics"](facts, {"warn_error_rate_above": 0.05})
    assert outcome.status == "warn"
    assert outcome.observed["hit_rate"] == 0.25 and outcome.observed["error_rate"] == 0.06


def test_metric_names_from_config() -> None:
    sources = app_probe.sources_from(
        [], "http://app/metrics", None, {"metrics": {"hits": "a_total", "misses": ["b", "c"]}}, None
    )
    assert sources.metric_names["hits"] == ("a_total",)
    assert sources.metric_names["misses"] == ("b", "c")
    assert sources.metric_names["errors"] == app_probe.DEFAULT_METRIC_NAMES["errors"]
    with pytest.raises(UsageError, match="unknown metric role 'hitz'"):
        app_probe.sources_from([], None, None, {"metrics": {"hitz": "x"}}, "cachediag.toml")
    with pytest.raises(UsageError, match="expected an http:// or https:// URL"):
        app_probe.sources_from([], "file:///etc/passwd", None, {}, None)


def test_urls_are_masked() -> None:
    assert (
        app_probe.mask_url("http://u:pw@h/metrics?token=abc&x=1")
        == "http://u:***@h/metrics?token=***&x=1"
    )


# --- app.schema_change ---------------------------------------------------------------


def envelope(version: int) -> bytes:
    return b"CKIT" + bytes([version]) + b"\x2a\x05Alice"


def test_schema_versions_histogram_is_a_pure_function_of_target_facts() -> None:
    first = redis_facts(sample={"keys": [key(f"user:{i}", head=envelope(1)) for i in range(5)]})
    second = redis_facts(
        target="redis://10.0.0.2:6379/0",
        sample={
            "keys": [
                key("user:9", head=envelope(2)),
                key("order:1", head=envelope(3)),
                key("plain:1", head=b"json"),
            ]
        },
    )
    versions = app_probe.schema_versions([first, second])
    assert versions["entries"] == 7
    user = versions["namespaces"]["user:*"]
    assert user["versions"] == {"1": 5, "2": 1}
    assert user["sample_keys"] == {"1": ["user:0", "user:1", "user:2"], "2": ["user:9"]}
    assert user["targets"] == ["redis://10.0.0.2:6379/0", "redis://127.0.0.1:6379/0"]
    outcome = RULES["app.schema_change"]({"schema_versions": versions}, {})
    assert outcome.status == "warn"
    assert "user:*: v1 ×5, v2 ×1; e.g. user:0 (v1), user:9 (v2)" in outcome.summary
    assert "order" not in outcome.summary
    single = app_probe.schema_versions([first])
    assert RULES["app.schema_change"]({"schema_versions": single}, {}).status == "pass"
    plain = app_probe.schema_versions([redis_facts(sample={"keys": [key("a:1")]})])
    assert RULES["app.schema_change"]({"schema_versions": plain}, {}).status == "skip"
    assert (
        RULES["app.schema_change"]({"schema_versions": app_probe.schema_versions([])}, {}).status
        == "skip"
    )


def test_schema_change_on_a_real_redis(redis_server: Any, cachediag: Any) -> None:
    client = redis_server.client()
    for i in range(4):
        client.set(f"user:{i}", envelope(1))
    client.set("user:99", envelope(2))
    run = cachediag(
        "check", "--redis", redis_server.url, "--only", "app.schema_change", "--format", "json"
    )
    result = app_results(run)["app.schema_change"]
    assert result["status"] == "warn", result
    assert result["observed"]["namespaces"]["user:*"]["versions"] == {"1": 4, "2": 1}
    assert "user:99 (v2)" in result["summary"]
    assert run.code == 0


# --- app.database_load and sources not given -----------------------------------------


def test_checks_without_sources_skip_and_say_which_option(cachediag: Any) -> None:
    run = cachediag("check", "--only", "Application Issues", "--format", "json")
    results = app_results(run)
    assert {r["status"] for r in results.values()} == {"skip"}
    assert "--log FILE" in results["app.error_logs"]["summary"]
    assert "--log FILE" in results["app.fallback"]["summary"]
    assert "--metrics-url" in results["app.metrics"]["summary"]
    assert "--health-url" in results["app.health"]["summary"]
    assert results["app.database_load"]["summary"].startswith("not observable from here")
    assert "slow queries" in results["app.database_load"]["summary"]
    assert run.code == 0


# --- through the CLI -----------------------------------------------------------------


def test_cli_health_and_metrics_states(
    cachediag: Any, app_server: str, closed_port: int, tmp_path: Path
) -> None:
    config = tmp_path / "cachediag.toml"  # a generous limit: a busy machine must not flake
    config.write_text('[thresholds."app.health"]\nwarn_slower_than_ms = 2000\n')
    run = cachediag(
        "check",
        "--config",
        str(config),
        "--only",
        "app.health,app.metrics",
        "--format",
        "json",
        "--health-url",
        f"{app_server}/healthy/health",
        "--metrics-url",
        f"{app_server}/ok/metrics",
    )
    results = app_results(run)
    assert (results["app.health"]["status"], results["app.metrics"]["status"]) == ("pass", "pass")
    assert results["app.metrics"]["observed"]["hit_rate"] == 0.9
    assert run.code == 0
    run = cachediag(
        "check",
        "--only",
        "app.health,app.metrics",
        "--format",
        "json",
        "--health-url",
        f"{app_server}/down/health",
        "--metrics-url",
        f"http://127.0.0.1:{closed_port}/metrics",
    )
    results = app_results(run)
    assert (results["app.health"]["status"], results["app.metrics"]["status"]) == ("fail", "fail")
    assert run.code == 1


def test_cli_timeout_bounds_a_hanging_endpoint(cachediag: Any, app_server: str) -> None:
    started = time.monotonic()
    run = cachediag(
        "check",
        "--only",
        "app.health",
        "--timeout",
        "0.5",
        "--format",
        "json",
        "--health-url",
        f"{app_server}/hang/health",
    )
    assert time.monotonic() - started < 2.5
    assert app_results(run)["app.health"]["status"] == "fail"


def test_config_file_names_sources_and_metrics(
    cachediag: Any, app_server: str, tmp_path: Path
) -> None:
    logs = tmp_path / "conf" / "logs"
    logs.mkdir(parents=True)
    (logs / "app.log").write_text("2024-01-15 10:23:45 INFO started\n")
    config = tmp_path / "conf" / "cachediag.toml"
    config.write_text(
        f'logs = ["logs/app.log"]\nmetrics_url = "{app_server}/custom/metrics"\n'
        f'health_url = "{app_server}/healthy/health"\n'
        '[thresholds."app.health"]\nwarn_slower_than_ms = 2000\n'
        '[metrics]\nhits = "myapp_cache_hit_count"\nmisses = "myapp_cache_miss_count"\n'
    )
    run = cachediag("check", "--config", str(config), "--only", "app.*", "--format", "json")
    results = app_results(run)
    assert results["app.metrics"]["status"] == "pass"
    assert results["app.metrics"]["observed"]["metrics"] == {
        "hits": "myapp_cache_hit_count",
        "misses": "myapp_cache_miss_count",
    }
    assert results["app.health"]["status"] == "pass"
    assert results["app.error_logs"]["status"] == "pass", results["app.error_logs"]
    assert results["app.error_logs"]["observed"]["paths"] == [str(logs / "app.log")]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--log", "/nonexistent/app.log"), "/nonexistent/app.log: no such file"),
        (("--log", "/nonexistent/*.log"), "no file matches /nonexistent/*.log"),
        (
            ("--health-url", "ftp://x/health"),
            "--health-url ftp://x/health: expected an http:// or https:// URL",
        ),
        (("--metrics-url", "http://u:pw@/m"), "expected an http:// or https:// URL"),
    ],
)
def test_bad_app_options_are_usage_errors(
    cachediag: Any, args: tuple[str, ...], message: str
) -> None:
    run = cachediag("check", "--only", "app.*", *args)
    assert run.code == 2
    assert message in run.err and "Traceback" not in run.err
    assert "pw" not in run.err
    assert len(run.err.strip().splitlines()) == 1


# --- logs: app.error_logs and app.fallback -------------------------------------------


def write_log(path: Path, lines: list[str], gz: bool = False) -> Path:
    data = ("\n".join(lines) + "\n").encode()
    if gz:
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
    return path


T = "2024-01-15 10:23:{:02d}"


def test_error_logs_fail_on_serialization_and_pool_exhaustion(
    cachediag: Any, tmp_path: Path
) -> None:
    log = write_log(
        tmp_path / "app.log",
        [
            f"{T.format(1)} INFO request served",
            f"{T.format(2)} WARN: Serialization failed for user:123: Unsupported type",
            f"{T.format(3)} ERROR Connection pool exhausted: 10 active, 3 waiting",
        ],
    )
    run = cachediag("check", "--only", "app.error_logs", "--log", str(log), "--format", "json")
    result = app_results(run)["app.error_logs"]
    assert result["status"] == "fail", result
    assert result["observed"]["counts"]["serialization"] == 1
    assert result["observed"]["counts"]["pool_exhausted"] == 1
    assert run.code == 1


def test_error_logs_warn_on_backend_trouble_and_read_gzip(cachediag: Any, tmp_path: Path) -> None:
    log = write_log(
        tmp_path / "app.log.gz",
        [
            f"{T.format(1)} WARN Cache backend unavailable: connection refused, using fallback",
            f"{T.format(2)} WARN Timeout: operation took longer than 500ms",
        ],
        gz=True,
    )
    run = cachediag("check", "--only", "app.error_logs", "--log", str(log), "--format", "json")
    result = app_results(run)["app.error_logs"]
    assert result["status"] == "warn", result
    assert result["observed"]["counts"]["backend_unavailable"] == 1
    assert result["observed"]["counts"]["timeout"] == 1


def test_error_logs_pass_on_a_clean_log_with_odd_lines(cachediag: Any, tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(
        b"2024-01-15 10:23:45 INFO Cache HIT: user:1 took 1ms\n"
        b"2024-01-15 10:23:46 INFO \xff\xfe not utf-8 \x1b[2J [bold]markup[/bold]\n"
    )
    run = cachediag(
        "check", "--only", "app.error_logs,app.fallback", "--log", str(log), "--format", "json"
    )
    results = app_results(run)
    assert results["app.error_logs"]["status"] == "pass", results
    assert results["app.fallback"]["status"] == "skip"
    assert "no backend errors" in results["app.fallback"]["summary"]


def test_fallback_present_near_backend_errors_passes(cachediag: Any, tmp_path: Path) -> None:
    log = write_log(
        tmp_path / "app.log",
        [
            f"{T.format(1)} WARN Cache error: Backend error: connection reset, using fallback",
            f"{T.format(1)} DEBUG Cache miss, falling back to database",
            f"{T.format(5)} WARN Cache backend unavailable: refused, using fallback",
            f"{T.format(5)} DEBUG Cache miss, falling back to database",
        ],
    )
    run = cachediag("check", "--only", "app.fallback", "--log", str(log), "--format", "json")
    result = app_results(run)["app.fallback"]
    assert result["status"] == "pass", result


def test_backend_errors_without_fallback_warn(cachediag: Any, tmp_path: Path) -> None:
    lines = [f"{T.format(1)} ERROR Backend error: connection refused"]
    lines += [f"{T.format(2)} INFO unrelated line {i}" for i in range(200)]
    lines += ["2024-01-15 11:30:00 ERROR Timeout: read timed out after 500ms"]
    log = write_log(tmp_path / "app.log", lines)
    run = cachediag("check", "--only", "app.fallback", "--log", str(log), "--format", "json")
    result = app_results(run)["app.fallback"]
    assert result["status"] == "warn", result
    assert "have no fallback line" in result["summary"]


@pytest.mark.parametrize("fmt", ["table", "markdown", "junit", "nagios", "prometheus", "json"])
def test_hostile_log_lines_stay_text_in_every_format(
    cachediag: Any, tmp_path: Path, fmt: str
) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(
        b"2024-01-15 10:23:45 ERROR Serialization failed for user:1: \x1b]0;pwned\x07 "
        b"[bold red]boom[/] <b>&amp; \xff\n"
    )
    run = cachediag("check", "--only", "app.error_logs", "--log", str(log), "--format", fmt)
    assert run.code in (1, 2), run.err  # a fail: exit 1, or CRITICAL for nagios
    assert "\x1b" not in run.out and "\x07" not in run.out
    if fmt in ("table", "nagios"):
        assert "[bold red]boom[/]" in run.out  # shown as typed, not read as markup
        # Visible as an escape (the scanner's samples are escaped once more by the renderer).
        assert re.search(r"\\+x1b\]0;pwned\\+x07", run.out), run.out
    if fmt == "junit":
        assert "<b>" not in run.out and "&lt;b&gt;&amp;amp;" in run.out


def test_log_from_stdin(cachediag: Any) -> None:
    line = f"{T.format(1)} ERROR Connection pool exhausted: 10 active, 3 waiting\n"
    run = cachediag(
        "check", "--only", "app.error_logs", "--log", "-", "--format", "json", input=line
    )
    result = app_results(run)["app.error_logs"]
    assert result["status"] == "fail" and result["observed"]["counts"]["pool_exhausted"] == 1
