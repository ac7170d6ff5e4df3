"""Secrets in log lines never reach a sample or the affected-keys tables."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cachediag.logscan import scan_logs
from cachediag.safety.redact import redact


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        ('{"password": "hunter two words"}', "two words"),
        ("password => 'rubysecret'", "rubysecret"),
        ("AUTH default authpassword1", "authpassword1"),
        ("pass=abc1 pw=def2", "abc1"),
        ("pass=abc1 pw=def2", "def2"),
        ("rediss://u:pa/ss@h:6380", "pa/ss"),
        ("Cookie: sid=xyz123; theme=dark", "xyz123"),
        ("client_secret%3Dqqq777", "qqq777"),
        ("Authorization: Bearer abc.def.ghi", "abc.def.ghi"),
        ("requirepass s3cr3t", "s3cr3t"),
    ],
)
def test_redact(line: str, secret: str) -> None:
    assert secret not in redact(line)


def test_redact_leaves_prose_alone() -> None:
    assert redact("Cache auth ok for user:5") == "Cache auth ok for user:5"
    assert redact("Authorization: Bearer x") == "Authorization: Bearer ***"


def test_secrets_are_not_counted_as_affected_keys(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text(
        "2024-01-15 10:00:00 ERROR Cache serialization failed for user:1 "
        "pwd:hunter2 private_key:PKSECRET access_key:AKSECRET\n"
    )
    report = json.dumps(scan_logs([str(log)]))
    for secret in ("hunter2", "PKSECRET", "AKSECRET"):
        assert secret not in report
    assert "user:1" in report
