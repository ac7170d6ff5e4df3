"""The bundle's parts without a CLI: redaction, budgets, the collectors' command lists,
reading bundles back (and refusing what is not one), offline judging."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from cachediag.bundle import budget, gather, memcached_files, offline, read, redis_files
from cachediag.bundle.files import BundleFile
from cachediag.bundle.keys import KeyRedactor, hashed
from cachediag.bundle.writer import apply_budget
from cachediag.errors import UsageError
from cachediag.safety.redact import Redactions, redact_bundle_text, secret_forms

HASH = "a" * 64


@pytest.mark.parametrize(
    ("text", "secret", "kind"),
    [
        (f"user alice on #{HASH} ~* +@all", HASH, "acl_hash"),
        ("ACL SETUSER bob on >bobpass1 ~*", "bobpass1", "acl_password"),
        ("user carol on <oldpass9 >newpass9", "newpass9", "acl_password"),
        ("tls-key-file-pass tlsSecret1", "tlsSecret1", "redis_setting"),
        ("tls-client-key-file-pass 'tlsSecret2'", "tlsSecret2", "redis_setting"),
        ("sentinel auth-pass mymaster sentinelPw1", "sentinelPw1", "redis_setting"),
        ("redis-server --masterauth mPw1 --port 1", "mPw1", "redis_setting"),
        ("requirepass rPw1", "rPw1", "redis_setting"),
        ("connect redis://app:urlPw1@10.0.0.5:6379", "urlPw1", "url_password"),
        ('{"cmd": "AUTH default authPw1"}', "authPw1", "redis_auth"),
        ("GET /x token=tokPw1&a=1", "tokPw1", "key_value"),
        ("api_key: apiPw1", "apiPw1", "key_value"),
        ("Authorization: Bearer abc.def.ghi", "abc.def.ghi", "authorization"),
        ("Cookie: sid=cookiePw1; theme=dark", "cookiePw1", "cookie"),
    ],
)
def test_the_bundle_pass_hides_each_kind(text: str, secret: str, kind: str) -> None:
    tally = Redactions()
    out = redact_bundle_text(text, (), tally)
    assert secret not in out
    assert tally.counts.get(kind), tally.counts
    # A second pass over what the first left finds nothing more to hide.
    again = Redactions()
    assert redact_bundle_text(out, (), again) == out
    assert again.counts == {}


def test_given_credentials_are_hidden_in_every_encoding() -> None:
    secret = "p@ss w/rd+1"
    text = " ".join(sorted(secret_forms(secret))) + " p%40ss%20w%2frd%2b1"
    tally = Redactions()
    out = redact_bundle_text(text, (secret,), tally, patterns="none")
    for form in secret_forms(secret) | {"p%40ss%20w%2frd%2b1"}:
        assert form not in out
    assert set(tally.counts) == {"credential"} and tally.counts["credential"] >= 5


def test_json_stays_json_and_server_replies_keep_their_counters() -> None:
    document = json.dumps({"masked": "AUTH <arg> <arg>", "cmd": "AUTH default jsonPw1", "n": 1})
    out = redact_bundle_text(document, (), Redactions(), patterns="server")
    assert json.loads(out)["cmd"] == "AUTH default ***"
    assert json.loads(out)["masked"] == "AUTH <arg> <arg>"  # placeholders are not secrets
    counters = "cmdstat_auth:calls=3,usec=10\r\nacl_access_denied_auth:0\r\n"
    assert redact_bundle_text(counters, (), Redactions(), patterns="server") == counters
    assert "***" in redact_bundle_text(counters, (), Redactions(), patterns="all")


def test_structured_scrubbing_of_redis_replies() -> None:
    text, counts = redis_files.config_lines(
        [b"requirepass", b"x1", b"masterauth", b"x2", b"masteruser", b"repl", b"maxmemory", b"0",
         b"tls-key-file-pass", b"", b"tls-client-key-file-pass", b"x3"]
    )  # fmt: skip
    assert "x1" not in text and "x2" not in text and "x3" not in text
    assert "masteruser repl" in text and "maxmemory 0" in text and "tls-key-file-pass \n" in text
    assert counts == {"config_secret": 3}
    slow, counts = redis_files.slowlog_json(
        [[7, 1700000000, 12000, [b"SET", b"session:1", b"valueS3cret"], b"127.0.0.1:1", b"app"]]
    )
    assert "valueS3cret" not in slow and "session:1" not in slow
    assert json.loads(slow)[0]["masked"] == "SET <arg> <arg>"
    assert counts == {"slowlog_argument": 2}
    clients, counts = redis_files.client_list(
        b"id=3 addr=127.0.0.1:5 name=web cmd=client|list user=default\n"
    )
    assert "addr=127.0.0.1:5 name=web cmd=client|list" in clients and counts == {}
    acl, counts = redis_files.acl_list([f"user default on #{HASH} ~* +@all".encode()])
    assert HASH not in acl and counts == {"acl_hash": 1}


# Read-only, and never a dump: what each collector may send (MONITOR does not show
# administrative commands, so the end-to-end test cannot hold these).
READ_ONLY = {
    ("INFO", "ALL"), ("CONFIG", "GET", "*"), ("DBSIZE",), ("SLOWLOG", "GET", "128"),
    ("LATENCY", "LATEST"), ("LATENCY", "DOCTOR"), ("MEMORY", "DOCTOR"), ("MEMORY", "STATS"),
    ("CLIENT", "LIST"), ("INFO", "COMMANDSTATS"), ("INFO", "ERRORSTATS"), ("ROLE",),
    ("CLUSTER", "INFO"), ("CLUSTER", "NODES"), ("ACL", "LIST"),
}  # fmt: skip


def test_collectors_send_only_reads() -> None:
    assert set(redis_files.SENT) == READ_ONLY
    assert set(memcached_files.SENT) == {
        "stats", "stats settings", "stats slabs", "stats items", "stats conns"
    }  # fmt: skip


def test_parse_size() -> None:
    assert budget.parse_size("50MB") == 50 * 1024 * 1024
    assert budget.parse_size("500kb") == 500 * 1024
    assert budget.parse_size("1GiB") == 1024**3
    for bad in ("lots", "-1MB", "10", "1e9"):
        with pytest.raises(UsageError):
            budget.parse_size(bad)


def test_free_space_is_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    budget.check_destination(tmp_path)  # this machine's /tmp has room
    monkeypatch.setattr(
        budget, "statvfs", lambda _: SimpleNamespace(f_bavail=99, f_frsize=1024 * 1024)
    )
    with pytest.raises(UsageError, match="99 MB free, and gather needs at least 100 MB"):
        budget.check_destination(tmp_path)
    assert list(tmp_path.iterdir()) == []  # the writability probe leaves nothing


def test_gather_on_a_full_destination_exits_2_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, closed_port: int
) -> None:
    from typer.testing import CliRunner

    from cachediag.cli.app import build_app

    monkeypatch.setattr(budget, "statvfs", lambda _: SimpleNamespace(f_bavail=1, f_frsize=4096))
    result = CliRunner().invoke(
        build_app("gather"),
        ["gather", "--redis", f"127.0.0.1:{closed_port}", "-o", str(tmp_path)],
    )
    assert result.exit_code == 2, result.output
    assert "MB free" in result.output
    assert list(tmp_path.iterdir()) == []


def test_a_credential_left_in_the_bundle_deletes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, redis_factory: Any
) -> None:
    """The re-read is the last line: with the redaction pass broken, no bundle survives."""
    from typer.testing import CliRunner

    from cachediag.bundle import writer
    from cachediag.cli.app import build_app

    server = redis_factory(password="leakyPassw0rd")
    log = tmp_path / "logs" / "app.log"
    log.parent.mkdir()
    log.write_text("cache connect redis with leakyPassw0rd\n")  # a line only redaction catches
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.setattr(writer, "redact_bundle_text", lambda text, *a, **k: text)
    result = CliRunner().invoke(
        build_app("gather"),
        ["gather", "--redis", server.url, "--log", str(log), "-o", str(out)],
    )
    assert result.exit_code == 1, result.output
    assert "is still in cachediag-" in result.output and "/logs/app.log" in result.output
    assert "the bundle was deleted" in result.output
    assert list(out.iterdir()) == []


def test_budget_cuts_readings_never_the_facts() -> None:
    files = [
        BundleFile("facts.json", "p", "f" * 100_000, essential=True),
        BundleFile("a.txt", "p", "a" * 30_000),
        BundleFile("b.txt", "p", "b" * 30_000),
    ]
    apply_budget(files, 100_000 + 48 * 1024 + 40_000)
    assert files[0].text == "f" * 100_000 and not files[0].truncated
    assert files[1].text == "a" * 30_000 and not files[1].truncated
    assert files[2].truncated and len(files[2].text or "") <= 10_000
    assert (files[2].text or "").endswith(budget.TRUNCATED_MARK)


def test_key_hashes_are_stable_and_bounded() -> None:
    assert hashed("user:42") == hashed("user:42") != hashed("user:43")
    assert hashed("user:42").startswith("user:<h:") and hashed("plain").startswith("<h:")
    keys = KeyRedactor()
    keys.learn_facts({"sample": {"keys": [{"key": "user:1"}, {"key": "user:10"}]}})
    out, count = keys.text("user:1 user:10 user:100 xuser:1")
    assert out == f"{hashed('user:1')} {hashed('user:10')} user:100 xuser:1" and count == 2
    walked = keys.walk({"summary": "e.g. user:10", "n": 1, "keys": ["user:1"]})
    assert walked == {"summary": f"e.g. {hashed('user:10')}", "n": 1, "keys": [hashed("user:1")]}


def test_value_heads_keep_only_what_the_rules_read() -> None:
    facts = {
        "targets": [
            {"sample": {"keys": [
                {"key": "a", "head_hex": ("434b495401" + "41" * 59)},
                {"key": "b", "head_hex": "73" * 64},
                {"key": "c", "head_hex": "7373"},
                {"key": "d", "head_hex": None},
            ]}}
        ]
    }  # fmt: skip
    assert gather.cut_value_heads(facts) == 2
    keys = facts["targets"][0]["sample"]["keys"]
    assert [k["head_hex"] for k in keys] == ["434b495401" + "41" * 5, "73" * 4, "7373", None]


# -- reading bundles back --------------------------------------------------------------


def make_bundle(path: Path, files: dict[str, Any], top: str = "b") -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, content in files.items():
            data = content if isinstance(content, bytes) else json.dumps(content).encode()
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


FACTS = {"schema": "cachediag.facts/v1", "collected_at": 1.0, "timeout": 2, "targets": [],
         "host": None, "app": None}  # fmt: skip


def test_load_facts_refuses_other_versions_with_one_sentence(tmp_path: Path) -> None:
    good = make_bundle(
        tmp_path / "good.tar.gz",
        {"manifest.json": {"schema": "cachediag.bundle/v1"}, "facts.json": FACTS},
    )
    assert read.load_facts(good)["schema"] == "cachediag.facts/v1"
    newer = make_bundle(
        tmp_path / "v9.tar.gz",
        {"manifest.json": {"schema": "cachediag.bundle/v9"}, "facts.json": FACTS},
    )
    with pytest.raises(
        read.NotABundle,
        match=r"is a cachediag\.bundle/v9 bundle; this cachediag reads cachediag\.bundle/v1",
    ):
        read.load_facts(newer)
    old_facts = {**FACTS, "schema": "cachediag.facts/v0"}
    old = make_bundle(
        tmp_path / "old.tar.gz",
        {"manifest.json": {"schema": "cachediag.bundle/v1"}, "facts.json": old_facts},
    )
    with pytest.raises(read.NotABundle, match=r"holds facts of schema cachediag\.facts/v0"):
        read.load_facts(old)
    broken = make_bundle(
        tmp_path / "broken.tar.gz",
        {"manifest.json": {"schema": "cachediag.bundle/v1"}, "facts.json": b"{nope"},
    )
    with pytest.raises(read.NotABundle, match=r"facts\.json is not JSON"):
        read.load_facts(broken)
    target = {"kind": "valkey", "target": "x"}
    odd = make_bundle(
        tmp_path / "odd.tar.gz",
        {
            "manifest.json": {"schema": "cachediag.bundle/v1"},
            "facts.json": {**FACTS, "targets": [target]},
        },
    )
    with pytest.raises(read.NotABundle, match=r"does not match cachediag\.facts/v1: targets\[0\]"):
        read.load_facts(odd)
    two = tmp_path / "two.tar.gz"
    with tarfile.open(two, "w:gz") as tar:
        for name in ("a/manifest.json", "b/facts.json", "../escape"):
            info = tarfile.TarInfo(name)
            tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(read.NotABundle):
        read.load_facts(two)  # ../ and two top folders: not a bundle  # fmt: skip


def test_offline_says_which_checks_need_live_access() -> None:
    from cachediag.checks.checklist import load_checklist

    report = offline.evaluate_offline(load_checklist(), dict(FACTS))
    by_kind = {r.id.split(".")[0]: r for r in report.results}
    assert by_kind["host"].status == "skip" and "needs live access" in by_kind["host"].summary
    assert by_kind["app"].status == "skip" and "not in the bundle" in by_kind["app"].summary


def test_log_lines_within_since(tmp_path: Path) -> None:
    import gzip
    import time

    from cachediag.bundle.log_files import LOG_TAIL_LINES, cache_lines

    text = (
        "cache line before any timestamp\n"
        "2001-01-01T00:00:00Z ERROR cache old\n"
        "  at cache.get (a trace line of the old entry)\n"
        "2099-01-01T00:00:00Z INFO nothing here\n"
        "cache line of the new entry \x1b[31m\n"
    )
    log = tmp_path / "app.log.gz"
    with gzip.open(log, "wt") as handle:
        handle.write(text)
    kept, cut = cache_lines(str(log), True, time.time() - 7200)
    assert kept == "cache line before any timestamp\ncache line of the new entry \\x1b[31m\n"
    assert cut is False
    everything, _ = cache_lines(str(log), True, None)
    assert everything.count("\n") == 4
    many = tmp_path / "many.log"
    many.write_text("cache\n" * (LOG_TAIL_LINES + 5))
    tail, cut = cache_lines(str(many), False, None)
    assert tail.count("\n") == LOG_TAIL_LINES and cut is True


def test_verify_reports_links_and_reads_nothing_through_them(tmp_path: Path) -> None:
    from cachediag.bundle.manifest import sha256
    from cachediag.bundle.verify import verify

    data = b"42\n"
    manifest = {
        "schema": "cachediag.bundle/v1", "version": "0.1.0", "created_at": "x", "host": "h",
        "command": "cachediag gather", "max_size": 1, "redact_keys": False, "targets": [],
        "summary": {"pass": 0, "warn": 0, "fail": 0, "skip": 0, "error": 0, "exit_code": 0},
        "top": "b",
        "files": [{"path": "dbsize.txt", "producer": "DBSIZE", "bytes": 3, "sha256": sha256(data),
                   "duration_ms": 0.1, "truncated": False, "redactions": {}, "error": None}],
    }  # fmt: skip
    path = make_bundle(tmp_path / "b.tar.gz", {"manifest.json": manifest, "dbsize.txt": data})
    assert verify(str(path)).exit_code == 0
    with tarfile.open(path, "w:gz") as tar:
        for name, content in (
            ("manifest.json", json.dumps(manifest).encode()),
            ("dbsize.txt", data),
        ):
            info = tarfile.TarInfo(f"b/{name}")
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
        link = tarfile.TarInfo("b/passwd")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    verdict = verify(str(path))
    assert verdict.exit_code == 1 and verdict.altered == ["passwd: not a regular file"]
    broken = {**manifest, "files": [{**manifest["files"][0], "bytes": "3"}]}
    path = make_bundle(tmp_path / "c.tar.gz", {"manifest.json": broken, "dbsize.txt": data})
    assert any("files[0].bytes: expected integer" in p for p in verify(str(path)).altered)


def test_a_step_that_blocks_is_given_up() -> None:
    import threading
    import time

    from cachediag.bundle.files import timed

    release = threading.Event()
    started = time.monotonic()
    file = timed("host/disks.json", "collector", lambda: release.wait(30) and "late", 0.2)
    assert time.monotonic() - started < 5
    assert file.text is None and file.error == "did not finish within 0.2 s (left behind)"
    release.set()
    assert timed("a", "p", lambda: "fine", 1.0).text == "fine"
    assert timed("a", "p", lambda: 1 / 0, 1.0).error == "ZeroDivisionError: division by zero"


def test_only_the_tail_of_a_big_log_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cachediag.bundle import log_files

    log = tmp_path / "big.log"
    log.write_text("".join(f"cache line {i}\n" for i in range(10_000)))
    monkeypatch.setattr(log_files, "READ_BYTES", 1000)
    text, cut = log_files.cache_lines(str(log), False, None)
    lines = text.splitlines()
    assert cut is True and lines[-1] == "cache line 9999"
    assert 50 < len(lines) < 100 and all(line.startswith("cache line ") for line in lines)


def test_what_a_bundle_says_is_escaped_before_it_is_judged(tmp_path: Path) -> None:
    """A bundle is a file anyone can edit: terminal escapes in it never reach the screen."""
    from cachediag.checks.checklist import load_checklist
    from cachediag.render import table

    hostile = "user:1\x1b]0;pwned\x07"
    target = {
        "kind": "redis", "target": "redis://evil\x1b[2J:6379", "source": "flag",
        "default": False, "local": False, "address": "h:1", "collected_at": 1.0, "status": "up",
        "connect": {"ok": True, "error": None},
        "ping": {"ok": True, "samples_us": [100], "error": None},
        "errors": {}, "info": {"server": {"redis_version": "7\x1b[31m"}}, "dbsize": 1,
        "config": {"available": True, "reason": None, "values": {}},
        "sample": {"keys": [{"key": hostile, "type": "string", "ttl_ms": -1, "memory": 1,
                             "length": 1, "head_hex": None}], "complete": True, "max_keys": 10,
                   "error": None},
        "memory_doctor": {"available": True, "text": "line one\nline two\x1b[0m", "reason": None},
    }  # fmt: skip
    facts = {**FACTS, "targets": [target]}
    path = make_bundle(
        tmp_path / "h.tar.gz",
        {"manifest.json": {"schema": "cachediag.bundle/v1"}, "facts.json": facts},
    )
    loaded = read.load_facts(path)
    assert loaded["targets"][0]["sample"]["keys"][0]["key"] == "user:1\\x1b]0;pwned\\x07"
    assert loaded["targets"][0]["memory_doctor"]["text"] == "line one\nline two\\x1b[0m"
    report = offline.evaluate_offline(load_checklist(), loaded)
    assert "\x1b" not in table.render(report, terminal=False)
    # What gather wrote comes back as it was: safe_text is idempotent.
    assert read.escaped(loaded) == loaded
