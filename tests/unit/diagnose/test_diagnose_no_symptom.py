"""No SYMPTOM: every symptom whose signal is present, the most severe first; and the
evidence a symptom lacks (the application's metrics, its log) named with its flag."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from diagnose_helpers import live
from servers import AppLoop, cache_aside
from test_payload_verdicts import GARBAGE, user_entry

from cachediag.diagnose.engine import diagnose
from cachediag.diagnose.weights import load_weights


class _Metrics(http.server.BaseHTTPRequestHandler):
    body = b"cache_hits_total 120\ncache_misses_total 880\ncache_errors_total 0\n"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def metrics_url() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Metrics)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/metrics"
    server.shutdown()
    server.server_close()


def test_present_symptoms_most_severe_first(redis_factory: Any) -> None:
    server = redis_factory("--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru")
    client = server.client()
    for i in range(1, 21):
        client.set(f"user:{i}", user_entry(i, "n", "e@x"), ex=3600)
    client.set("user:99", GARBAGE, ex=3600)
    with AppLoop(server, lambda c, i: cache_aside(c, f"item:{i % 5000}", ttl=1)):
        time.sleep(1.2)
        facts = live(redis=(server.url,), sample_keys=5000)
    diagnosis = diagnose(facts, load_weights())
    names = [s.symptom for s in diagnosis.symptoms]
    # serialization errors (severity 3, +1: entries that do not decode) before a hit rate
    # under 15% (2, +1); memory is fine (64 MB limit, LRU); timeouts only on a loaded machine
    assert names[:2] == ["serialization", "low-hit-rate"], names
    assert "memory" not in names
    assert all(not s.asked and s.signal.present for s in diagnosis.symptoms)
    serialization, low = diagnosis.symptoms[:2]
    assert serialization.causes[0].id == "serialization.corrupt-entries"
    assert low.causes[0].id == "low-hit-rate.ttl-too-short"
    assert diagnosis.exit_code == 1
    # what is missing for the symptoms themselves, with the flag that gets it
    assert [(m.id, m.how) for m in low.missing] == [
        ("metrics", "--metrics-url http://app:9100/metrics")
    ]
    assert [(m.id, m.how) for m in serialization.missing] == [("log", "--log FILE")]


def test_the_applications_metrics_give_the_hit_rate_a_memcached_cannot(
    memcached_factory: Any, metrics_url: str
) -> None:
    from cachediag.diagnose.sources import live_facts
    from cachediag.probes.app import AppSources
    from cachediag.targets.parse import TargetRequest, resolve_targets

    server = memcached_factory()
    targets = resolve_targets(TargetRequest(memcached_flags=(server.address,)))
    facts = live_facts(targets, 2.0, 100, 0.0, AppSources(metrics_url=metrics_url), None)
    without = diagnose(
        live(memcached=(server.address,), window=0.0), load_weights(), "low-hit-rate"
    )
    assert without.symptoms[0].signal.present is None  # no lookups yet on the server
    assert [m.id for m in without.symptoms[0].missing] == ["metrics"]
    (low,) = diagnose(facts, load_weights()).symptoms
    assert low.symptom == "low-hit-rate" and low.signal.present is True
    assert "the application's metrics: hit rate 12.0%" in low.signal.summary
    assert low.missing == []
