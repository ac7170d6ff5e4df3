"""`cachediag bigkeys` end to end against real servers."""

from __future__ import annotations

import copy
import json
import re
import signal
import subprocess
import time
from importlib import resources

import jsonschema
import pytest
from conftest import cachediag_binary
from test_scan import BINARY_KEY, MARKUP_KEY, seed_types, settle

# What a read-only scan may send (the test's own redis-cli sends INFO, HELLO, COMMAND DOCS).
READ_COMMANDS = {
    "scan",
    "type",
    "memory|usage",
    "strlen",
    "llen",
    "scard",
    "zcard",
    "hlen",
    "xlen",
    "pttl",
    "getrange",
    "ping",
    "dbsize",
    "info",
    "select",
    "auth",
    "object|encoding",
    "exists",
    "hello",
    "command",
    "command|docs",
}


def validate(document: dict, name: str) -> None:
    """Check a --json document against the schema shipped in cachediag/schemas."""
    text = resources.files("cachediag.schemas").joinpath(f"{name}-v1.json").read_text()
    jsonschema.validate(document, json.loads(text))


def commandstats(server) -> dict[str, int]:
    text = server.cli("INFO", "commandstats")
    return {m[1]: int(m[2]) for m in re.finditer(r"cmdstat_(\S+?):calls=(\d+)", text)}


def sent_commands(before: dict[str, int], after: dict[str, int]) -> set[str]:
    return {name for name, calls in after.items() if calls > before.get(name, 0)}


def test_bigkeys_json_reports_memory_counts_types_and_namespaces(redis_server, cachediag) -> None:
    seed_types(redis_server)
    redis_server.client().set("blob:1", "z" * 200_000)
    before = commandstats(redis_server)
    run = cachediag(
        "bigkeys", "--redis", redis_server.url, "--max-keys", "0", "--top", "5", "--json"
    )
    after = commandstats(redis_server)
    assert run.code == 0, run.err
    doc = run.json()
    assert doc["schema"] == "cachediag.bigkeys/v1"
    validate(doc, "bigkeys")
    (target,) = doc["targets"]
    assert target["complete"] and target["size_source"] == "MEMORY USAGE"
    assert target["top"][0]["key"] == "blob:1" and target["top"][0]["bytes"] > 200_000
    assert target["top"][0]["length"] == 200_000 and target["top"][0]["ttl_s"] is None
    assert len(target["top"]) == 5
    types = {row["type"]: row for row in target["types"]}
    assert set(types) == {"string", "hash", "list", "set", "zset", "stream"}
    assert types["hash"]["keys"] == 50 and types["hash"]["elements"] == sum(range(1, 51))
    assert types["list"]["biggest_by_length"]["key"] == "list:49"
    assert types["list"]["biggest_by_length"]["length"] == 51
    assert target["totals"]["keys"] == int(redis_server.cli("DBSIZE")) == target["scan"]["dbsize"]
    assert target["totals"]["with_ttl"] == 1
    assert sum(row["keys"] for row in target["histogram"]) == target["totals"]["keys"]
    namespaces = [row["namespace"] for row in target["namespaces"]]
    assert namespaces[0] == "blob:*" and "hash:*" in namespaces
    shares = [row["share"] for row in target["namespaces"]]
    assert shares == sorted(shares, reverse=True)
    # Read-only: nothing but reads reached the server, and never KEYS.
    sent = sent_commands(before, after)
    assert sent <= READ_COMMANDS, sent - READ_COMMANDS
    assert {"scan", "memory|usage", "type", "pttl"} <= sent


def test_key_names_are_escaped_in_table_and_json(redis_server, cachediag) -> None:
    r = redis_server.client()
    r.set(MARKUP_KEY, "x" * 5000)
    r.set(BINARY_KEY, "y" * 4000)
    table = cachediag("bigkeys", "--redis", redis_server.url)
    assert table.code == 0, table.err
    assert "\x1b" not in table.out and "\x00" not in table.out
    assert "user:[bold red]boom[/]\\x1b[31m\\n" in table.out  # markup shown, not applied
    assert "bin:\\xff\\xfe\\x00\\x01" in table.out
    doc = cachediag("bigkeys", "--redis", redis_server.url, "--json").json()
    keys = [row["key"] for row in doc["targets"][0]["top"]]
    assert keys == ["user:[bold red]boom[/]\\x1b[31m\\n", "bin:\\xff\\xfe\\x00\\x01"]


def test_table_has_every_section_and_the_guides_reading(redis_server, cachediag) -> None:
    r = redis_server.client()
    r.mset({f"employment:{i}": "e" * 700 for i in range(200)})
    run = cachediag("bigkeys", "--redis", redis_server.url)
    assert run.code == 0, run.err
    for heading in (
        "Top 20 by memory",
        "By type",
        "Namespaces by memory",
        "Size histogram",
        "Reading",
    ):
        assert heading in run.out
    assert "█" in run.out
    assert "Solution 3B" in run.out and "employment:*" in run.out
    doc = cachediag("bigkeys", "--redis", redis_server.url, "--json").json()
    assert doc["targets"][0]["findings"][0]["ref"].endswith("Solution 3B")


def test_budget_stop_prints_partial_result_and_cursor_then_resume_covers_all(
    redis_server, cachediag
) -> None:
    redis_server.client().mset({f"k:{i}": i for i in range(5000)})
    first = cachediag(
        "bigkeys", "--redis", redis_server.url, "--max-keys", "1000", "--count", "200", "--json"
    )
    assert first.code == 0, first.err
    validate(first.json(), "bigkeys")
    part = first.json()["targets"][0]
    assert not part["complete"] and part["stop_reason"] == "max-keys"
    cursor = part["resume_cursor"]
    assert cursor and cursor != "0" and f"--cursor {cursor}" in first.err
    second = cachediag(
        "bigkeys", "--redis", redis_server.url, "--max-keys", "0", "--cursor", cursor, "--json"
    )
    rest = second.json()["targets"][0]
    assert rest["complete"]
    assert part["totals"]["keys"] + rest["totals"]["keys"] >= 5000
    table = cachediag(
        "bigkeys", "--redis", redis_server.url, "--max-keys", "1000", "--count", "200"
    )
    assert "partial (--max-keys reached)" in table.out and "resume with --cursor" in table.out


def test_ctrl_c_prints_the_partial_result_and_the_cursor(redis_server, tmp_path) -> None:
    redis_server.client().mset({f"k:{i}": i for i in range(3000)})
    cmd = [cachediag_binary(), "bigkeys", "--redis", redis_server.url, "--count", "20"]
    cmd += ["--sleep", "20", "--json", "--max-keys", "0", "--progress"]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path
    )
    assert proc.stderr is not None
    first = proc.stderr.readline()  # the first progress line: the scan is under way
    assert "keys" in first
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    target = json.loads(out)["targets"][0]
    assert target["stop_reason"] == "interrupted" and not target["complete"]
    assert 0 < target["totals"]["keys"] < 3000 and target["resume_cursor"]
    assert "Traceback" not in err


def test_progress_goes_to_stderr_only(redis_server, cachediag) -> None:
    redis_server.client().mset({f"k:{i}": i for i in range(3000)})
    run = cachediag(
        "bigkeys",
        "--redis",
        redis_server.url,
        "--json",
        "--progress",
        "--count",
        "100",
        "--sleep",
        "5",
    )
    assert run.code == 0
    assert run.json()["targets"][0]["totals"]["keys"] == 3000  # stdout is only the document
    assert "keys/s" in run.err and "of 3,000" in run.err


def test_memory_denied_is_said_in_the_output(redis_server, cachediag) -> None:
    seed_types(redis_server)
    redis_server.cli("ACL", "SETUSER", "scanner", "on", ">s3cret", "~*", "+@all", "-memory")
    url = f"redis://scanner:s3cret@127.0.0.1:{redis_server.port}/0"
    run = cachediag("bigkeys", "--redis", url)
    assert run.code == 0, run.err
    assert "estimated from lengths" in run.out and "MEMORY USAGE unavailable" in run.out
    assert "s3cret" not in run.out + run.err


def test_memcached_bigkeys_with_and_without_crawler(memcached_factory, cachediag) -> None:
    server = memcached_factory()
    mc = server.client()
    for i in range(300):
        mc.set(f"user:{i}", b"u" * (i * 3))
    mc.set("page:home", b"p" * 300_000)
    settle()
    run = cachediag("bigkeys", "--memcached", server.address, "--json", "--max-keys", "0")
    assert run.code == 0, run.err
    validate(run.json(), "bigkeys")
    target = run.json()["targets"][0]
    assert target["complete"] and target["totals"]["keys"] == 301
    assert target["top"][0]["key"] == "page:home" and target["top"][0]["bytes"] > 300_000
    assert target["namespaces"][0]["namespace"] == "page:home"
    classes = target["slab_classes"]
    assert sum(row["items"] for row in classes) == 301 and all(row["chunk_size"] for row in classes)
    table = cachediag("bigkeys", "--memcached", server.address)
    assert "Slab classes" in table.out and "page:home" in table.out

    disabled = memcached_factory("-o", "no_lru_crawler")
    run = cachediag("bigkeys", "--memcached", disabled.address)
    assert run.code == 1
    assert "LRU crawler is disabled" in run.out and "Traceback" not in run.err


def test_bad_input_is_one_sentence_and_exit_2(redis_server, cachediag) -> None:
    run = cachediag("bigkeys", "--redis", redis_server.url, "--cursor", "abc")
    assert run.code == 2 and "--cursor" in run.err and "Traceback" not in run.err
    assert len(run.err.strip().splitlines()) == 1
    down = cachediag("bigkeys", "--redis", "redis://127.0.0.1:1/0", "--timeout", "1")
    assert down.code == 1 and "refused" in down.out


def test_scan_refused_by_acl_is_one_clear_error(redis_server, cachediag) -> None:
    redis_server.client().set("k:1", "v")
    redis_server.cli("ACL", "SETUSER", "noscan", "on", ">pw", "~*", "+@all", "-scan")
    url = f"redis://noscan:pw@127.0.0.1:{redis_server.port}/0"
    run = cachediag("bigkeys", "--redis", url, "--json")
    # The server is up and answers: it is the reading that cannot be taken (exit 3), not a
    # target that is down (exit 1, which a monitor would page as an outage).
    assert run.code == 3
    validate(run.json(), "bigkeys")
    (row,) = run.json()["targets"]
    assert row["status"] == "up" and row["stop_reason"] == "server-error"
    assert row["complete"] is False and row["totals"]["keys"] == 0
    assert "SCAN failed" in row["error"]["message"] and "NOPERM" in row["error"]["message"]
    assert "Traceback" not in run.err
    text = cachediag("bigkeys", "--redis", url)
    assert text.code == 3 and "SCAN failed" in text.out + text.err


def test_the_schema_rejects_a_broken_document(redis_server, cachediag) -> None:
    redis_server.client().set("k:1", "v")
    doc = cachediag("bigkeys", "--redis", redis_server.url, "--json").json()
    validate(doc, "bigkeys")
    for path, value in (
        (("totals",), None),
        (("top", 0, "bytes"), "12"),
        (("scan", "stop_reason"), "bored"),
    ):
        broken = copy.deepcopy(doc)
        holder = broken["targets"][0]
        for step in path[:-1]:
            holder = holder[step]
        if value is None:
            del holder[path[-1]]
        else:
            holder[path[-1]] = value
        with pytest.raises(jsonschema.ValidationError):
            validate(broken, "bigkeys")


def test_a_server_that_stalls_mid_scan_gives_the_partial_result(cachediag, redis_factory) -> None:
    """Keys seen before the server stopped answering are reported, with a cursor; exit 3."""
    import threading
    import time

    server = redis_factory("--enable-debug-command", "yes")
    client = server.client()
    pipe = client.pipeline(transaction=False)
    for i in range(60_000):
        pipe.set(f"user:{i}", "v")
    pipe.execute()

    def stall() -> None:
        # Stall once the scan is under way (a few SCANs served), not after a fixed delay:
        # on a loaded machine cachediag's own start-up can outlast any fixed delay, and a
        # stall during the connect is a down target, not a partial scan.
        watcher = server.client()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            calls = watcher.info("commandstats").get("cmdstat_scan", {}).get("calls", 0)
            if calls >= 3:
                break
            time.sleep(0.005)
        watcher.execute_command("DEBUG", "SLEEP", "3")

    staller = threading.Thread(target=stall, daemon=True)
    staller.start()
    run = cachediag(
        "bigkeys",
        "--json",
        "--redis",
        server.url,
        "--max-keys",
        "0",
        "--timeout",
        "1",
        "--sleep",
        "20",
        "--count",
        "1000",
    )
    target = run.json()["targets"][0]
    assert target["status"] == "up", target
    assert target["stop_reason"] == "server-error"
    assert target["error"] and "timed out" in target["error"]["message"]
    assert 0 < target["scan"]["scanned"] < 60_000
    assert target["resume_cursor"] not in (None, "0")
    assert run.code == 3
    staller.join(10)  # DEBUG SLEEP returns before the fixture stops the server
