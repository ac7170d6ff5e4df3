"""`check`'s table on a narrow terminal: words are never cut in two."""

from __future__ import annotations

import pytest

from cachediag.checks.evaluate import Report, Result
from cachediag.render import table

REMEDY = (
    "Set a TTL on these writes (Solution 1A/3A): with_ttl(Duration::from_secs(3600)) on the "
    "CacheExpander."
)


def report() -> Report:
    result = Result(
        id="redis.ttl",
        section="Cache Issues",
        item="Do keys expire?",
        target="redis://127.0.0.1:6390/0",
        status="fail",
        summary="100.0% of keys have no expiry (21 of 21, INFO keyspace); most in user:* (21)",
        observed={},
        thresholds={},
        remedy=REMEDY,
        ref="Issue 1",
    )
    target = {"name": result.target, "kind": "redis", "source": "flag", "status": "up"}
    return Report("production", [target], [result], "2026-12-01T00:00:00Z", 12)


@pytest.mark.parametrize("columns", [60, 80, 100])
def test_narrow_terminals_wrap_at_word_boundaries(
    monkeypatch: pytest.MonkeyPatch, columns: int
) -> None:
    monkeypatch.setenv("COLUMNS", str(columns))
    monkeypatch.setenv("NO_COLOR", "1")
    out = table.render(report(), terminal=True)
    lines = out.splitlines()
    assert all(len(line) <= columns for line in lines)
    assert any("with_ttl(Duration::from_secs(3600))" in line for line in lines), out
    tokens = set(out.replace("│", " ").replace("→", " ").split())
    assert set(REMEDY.split()) <= tokens  # every word of it whole, none cut in two
    assert "redis.ttl" in out and "✗ fail" in out


def test_wide_output_keeps_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    out = table.render(report(), terminal=False)
    assert "┃ check" in out and "with_ttl(Duration::from_secs(3600))" in out
