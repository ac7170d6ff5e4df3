"""Servers that claim too much or never finish (issue 11, cases 4, 5, 7 and 13).

Scripted fakes (tests/servers.py) answer what no real server can be made to: a bulk of
10^13 bytes to PING, a 50-million-element SCAN, a cursor that never comes back to 0, a
dump dripped a byte at a time. Each case runs the installed command and asserts its exit
code, its sentence, its time (within --timeout plus MARGIN_S, or the documented
deadline) and its peak memory (under PEAK_MB).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from servers import FAKE_INFO, ScriptedMemcached, ScriptedRedis, dripped, endless

TIMEOUT = 1.0
# Start-up (imports, a few connections) and the rest of a run, on a loaded 2-core machine.
MARGIN_S = 2.5
PEAK_MB = 150


@pytest.fixture
def scripted():
    servers: list[Any] = []

    def start(kind: str, answers: dict[str, Any], **options: Any) -> Any:
        server = (ScriptedRedis if kind == "redis" else ScriptedMemcached)(answers, **options)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def _flag(server: Any) -> list[str]:
    kind = "--redis" if isinstance(server, ScriptedRedis) else "--memcached"
    return [kind, f"127.0.0.1:{server.port}", "--timeout", str(TIMEOUT)]


def _assert_bounded(run: Any, seconds: float = TIMEOUT + MARGIN_S) -> None:
    assert "Traceback" not in run.err and "internal error" not in run.err, run.err
    assert run.seconds < seconds, run.seconds
    assert run.peak_mb < PEAK_MB, run.peak_mb


# --- case 5: every reply has a bound that fits what was asked ---------------------------

HUGE_BULK = b"$10000000000000\r\n"  # 10^13 bytes claimed, then bytes for as long as read


@pytest.mark.parametrize(
    ("command", "answers", "said"),
    [
        (["ping"], {"PING": lambda _: endless(HUGE_BULK)}, "PING claims 10,000,000,000,000"),
        (
            ["bigkeys"],
            {"SCAN": lambda _: endless(HUGE_BULK)},
            "SCAN COUNT 1,000 claims 10,000,000,000,000 bytes, past its bound of 8 MiB",
        ),
        (
            ["bigkeys"],
            {"SCAN": lambda _: endless(b"*2\r\n$1\r\n5\r\n*50000000\r\n", b"$1\r\na\r\n" * 4096)},
            "claims 50,000,000 elements, past its bound of 16,064",
        ),
        (
            ["memory"],
            {"INFO": lambda _: endless(b"$50000000\r\n")},
            "the reply to INFO claims 50,000,000 bytes, past its bound of 8 MiB",
        ),
        (
            # An INFO that does not say how long it is up front: cut at its bound all the same.
            ["ping"],
            {"INFO": lambda _: endless(b"*1\r\n$50000000\r\n")},
            "past its bound",
        ),
    ],
)
def test_a_reply_past_its_bound_is_refused_from_its_header(
    cachediag_measured, scripted, command: list[str], answers: dict[str, Any], said: str
) -> None:
    server = scripted("redis", answers)
    run = cachediag_measured(*command, *_flag(server), timeout=30)
    _assert_bounded(run)
    assert run.code in (1, 3), (run.code, run.out, run.err)
    assert said in run.out + run.err, run.out + run.err


def test_getrange_0_63_gets_64_bytes_at_most(cachediag_measured, scripted) -> None:
    """inspect asks for a value's first 64 bytes: a gigabyte in answer is cut at the bound."""
    server = scripted(
        "redis",
        {
            "TYPE": b"+string\r\n",
            "PTTL": b":-1\r\n",
            "STRLEN": b":5\r\n",
            "MEMORY USAGE": b":50\r\n",
            "OBJECT ENCODING": b"$3\r\nraw\r\n",
            "GETRANGE": lambda _: endless(b"$1000000000\r\n"),
        },
    )
    run = cachediag_measured("inspect", "user:1", *_flag(server), timeout=30)
    _assert_bounded(run)
    assert run.code != 0
    assert "GETRANGE 0 63" in run.out and "past" in run.out, run.out


def test_the_check_sample_holds_value_heads_to_64_bytes(cachediag_measured, scripted) -> None:
    head = b"x" * 800  # fits what any reply of the batch may hold, not GETRANGE 0 63's
    server = scripted(
        "redis",
        {
            "SCAN": b"*2\r\n$1\r\n0\r\n*1\r\n$6\r\nuser:1\r\n",
            "STRLEN": b":5\r\n",
            "PTTL": b":-1\r\n",
            "MEMORY USAGE": b":50\r\n",
            "GETRANGE": b"$%d\r\n%b\r\n" % (len(head), head),
        },
    )
    run = cachediag_measured(
        "check", "--json", "--only", "redis.serialization", *_flag(server), timeout=30
    )
    _assert_bounded(run, 10)
    (result,) = run.json()["results"]
    assert result["status"] == "error", result
    assert "GETRANGE 0 63 claims 800 bytes, past its bound of 64 bytes" in result["summary"]


def test_a_memcached_value_claiming_10_to_the_11_bytes_is_refused(
    cachediag_measured, scripted
) -> None:
    server = scripted("memcached", {"MG": lambda _: endless(b"VA 100000000000 t-1 f0\r\n")})
    run = cachediag_measured("inspect", "user:1", *_flag(server), timeout=30)
    _assert_bounded(run)
    assert run.code == 1
    assert "the reply to mg claims 100,000,000,000 bytes, past its bound of 1 MiB" in run.out


def test_endless_memcached_stats_are_cut_at_their_bound(cachediag_measured, scripted) -> None:
    server = scripted("memcached", {"STATS": lambda _: endless(b"", b"STAT x 1\r\n" * 4096)})
    run = cachediag_measured("watch", "--count", "1", *_flag(server), timeout=30)
    _assert_bounded(run)
    assert run.code != 0
    assert "the reply to stats ran past its bound of 20,000 lines" in run.out + run.err


def test_memcached_stats_past_4_mib_are_cut_at_their_bound(cachediag_measured, scripted) -> None:
    line = b"STAT x " + b"1" * 1000 + b"\r\n"
    server = scripted("memcached", {"STATS": lambda _: endless(b"", line * 64)})
    run = cachediag_measured("watch", "--count", "1", *_flag(server), timeout=30)
    _assert_bounded(run)
    assert "the reply to stats ran past its bound of 4 MiB" in run.out + run.err


# --- case 4: scans and dumps that never end ---------------------------------------------

NO_KEYS_FOREVER = b"*2\r\n$2\r\n17\r\n*0\r\n"
SAME_KEYS_FOREVER = b"*2\r\n$2\r\n17\r\n*2\r\n$6\r\nuser:1\r\n$6\r\nuser:2\r\n"
PER_KEY = {"PTTL": b":-1\r\n", "STRLEN": b":5\r\n", "MEMORY USAGE": b":50\r\n"}


@pytest.mark.parametrize("reply", [NO_KEYS_FOREVER, SAME_KEYS_FOREVER], ids=["empty", "same"])
@pytest.mark.parametrize(
    "command", [["bigkeys"], ["memory"], ["check", "--json"], ["ttl"]], ids=lambda c: c[0]
)
def test_a_scan_that_never_ends_is_ended(
    cachediag_measured, scripted, reply: bytes, command: list[str]
) -> None:
    server = scripted("redis", {"SCAN": reply, **PER_KEY})
    run = cachediag_measured(*command, *_flag(server), timeout=60)
    _assert_bounded(run, 10)
    said = run.out + run.err
    if (reply == SAME_KEYS_FOREVER and command[0] in ("memory", "check")) or command[0] == "ttl":
        # Their sample stops at its key (or, for ttl, SCAN call) budget first, bounded,
        # with what it has; the guard below is what ends the scans without such a budget.
        return
    assert "SCAN does not progress" in said, said
    if command[0] == "check":
        sample = [
            r
            for r in run.json()["results"]
            if r["id"].startswith("redis.") and "no key sample" in r["summary"]
        ]
        assert sample and all(r["status"] == "error" for r in sample), sample
        assert run.code in (1, 3)  # the fake's other readings may fail a check too
    else:
        assert run.code in (1, 3), (run.code, said)


METADUMP = b"key=user%3A1 exp=-1 la=1700000000 cas=1 fetch=no cls=1 size=60\n" * 100 + b"END\r\n"


@pytest.mark.parametrize("command", [["bigkeys"], ["ttl"]], ids=lambda c: c[0])
def test_a_dripped_metadump_ends_within_the_timeout(
    cachediag_measured, scripted, command: list[str]
) -> None:
    """One byte every 0.3 s: each byte would restart a per-read wait; a line's does not."""
    server = scripted("memcached", {"LRU_CRAWLER METADUMP": lambda _: dripped(METADUMP)})
    run = cachediag_measured(*command, *_flag(server), timeout=60)
    _assert_bounded(run)
    assert run.code == 1
    assert "lru_crawler metadump sent no whole line within 1s" in run.out + run.err


# --- case 7: one deadline for a target's whole probe -----------------------------------


@pytest.mark.parametrize("kind", ["redis", "memcached"])
def test_a_server_answering_just_inside_the_timeout_is_cut_at_the_probe_deadline(
    cachediag_measured, scripted, redis_server, kind: str
) -> None:
    """Every command answered in 0.8 s with --timeout 1: each round trip is in time, the
    whole probe is not. It ends at PROBE_TIMEOUTS x --timeout (+ the check's 2 s window),
    its unread checks are errors saying so, and the other target is judged in full."""
    from cachediag.clients.probe_deadline import PROBE_TIMEOUTS

    slow = scripted(kind, {}, delay=0.8)
    flag = "--redis" if kind == "redis" else "--memcached"
    run = cachediag_measured(
        "check",
        "--json",
        flag,
        f"127.0.0.1:{slow.port}",
        "--redis",
        redis_server.url,
        "--timeout",
        "1",
        timeout=60,
    )
    deadline = PROBE_TIMEOUTS * 1 + 2
    _assert_bounded(run, deadline + MARGIN_S)
    document = run.json()
    assert document["duration_ms"] < (deadline + 1) * 1000
    slow_name = next(t["name"] for t in document["targets"] if str(slow.port) in t["name"])
    results = [r for r in document["results"] if r["target"] == slow_name]
    running = next(r for r in results if r["id"].endswith(".running"))
    assert running["status"] == "pass"  # it answers: up, just too slow to read in full
    cut = [r for r in results if "ran past its deadline of 7s" in r["summary"]]
    assert len(cut) >= 5 and all(r["status"] == "error" for r in cut), results
    healthy = [r for r in document["results"] if r["target"] == redis_server.url]
    assert not [r for r in healthy if "deadline" in r["summary"]]
    assert next(r for r in healthy if r["id"] == "redis.hit_rate")["status"] != "error"
    assert run.code in (1, 3)


def test_memory_is_cut_at_the_probe_deadline(cachediag_measured, scripted) -> None:
    from cachediag.clients.probe_deadline import PROBE_TIMEOUTS

    slow = scripted("redis", {}, delay=0.8)
    run = cachediag_measured("memory", *_flag(slow), timeout=60)
    _assert_bounded(run, PROBE_TIMEOUTS * TIMEOUT + MARGIN_S)
    assert run.code == 3
    assert "ran past its deadline of 5s (5 x --timeout 1s)" in run.out


# --- cases 11 (rules) and 13: malformed readings are named, never judged or crashed on ---

NAN_INFO = (
    b"# Server\r\nredis_version:7.0.15\r\nuptime_in_seconds:nan\r\n"
    b"# Clients\r\nconnected_clients:nan\r\nmaxclients:10000\r\n"
    b"# Memory\r\nused_memory:nan\r\nmaxmemory:inf\r\nmaxmemory_policy:allkeys-lru\r\n"
    b"mem_fragmentation_ratio:nan\r\n"
    b"# Stats\r\nkeyspace_hits:nan\r\nkeyspace_misses:inf\r\nevicted_keys:nan\r\n"
    b"expired_keys:inf\r\ntotal_commands_processed:nan\r\n"
    b"# Replication\r\nrole:master\r\n# Keyspace\r\ndb0:keys=nan,expires=inf,avg_ttl=nan\r\n"
)
OVERFLOW_INFO = NAN_INFO.replace(b":nan", b":1e400").replace(b":inf", b":99999999999999999999999")
OVERFLOW_INFO = OVERFLOW_INFO.replace(b"=nan", b"=1e400").replace(b"=inf", b"=1e999")


@pytest.mark.parametrize("info", [NAN_INFO, OVERFLOW_INFO], ids=["nan", "overflow"])
def test_non_finite_info_readings_are_errors_saying_what_was_sent(
    cachediag_measured, scripted, info: bytes
) -> None:
    server = scripted("redis", {}, info=info)
    run = cachediag_measured("check", "--json", *_flag(server), timeout=60)
    _assert_bounded(run, 15)
    assert "NaN" not in run.out and "Infinity" not in run.out
    results = {r["id"]: r for r in run.json()["results"]}
    for check_id, field in [
        ("redis.hit_rate", "keyspace_hits:"),
        ("redis.memory", "used_memory:"),
        ("redis.evictions", "evicted_keys:"),
        ("redis.fragmentation", "mem_fragmentation_ratio:"),
        ("redis.restarts", "uptime_in_seconds:"),
        ("redis.ttl", "keys:"),
    ]:
        result = results[check_id]
        assert result["status"] == "error", result
        assert f"the server sent {field}" in result["summary"], result["summary"]
        assert "not a finite number" in result["summary"]
    assert run.code in (1, 3)


@pytest.mark.parametrize("info", [NAN_INFO, OVERFLOW_INFO], ids=["nan", "overflow"])
@pytest.mark.parametrize(
    "command",
    [["watch", "--count", "1", "--interval", "0.2"], ["ttl"], ["eviction-policy"], ["memory"]],
    ids=lambda c: c[0],
)
def test_info_garbage_is_a_protocol_error_in_every_command(
    cachediag_measured, scripted, info: bytes, command: list[str]
) -> None:
    server = scripted("redis", {}, info=info)
    run = cachediag_measured(*command, *_flag(server), timeout=60)
    _assert_bounded(run, 10)
    said = run.out + run.err
    assert run.code in (1, 3), (run.code, said)
    assert "not a finite number" in said or "not a whole number" in said, said
    assert "unexpected (" not in said  # named, not a Python exception's words


MEMCACHED_GARBAGE = {
    "nan": b"STAT uptime inf\r\nSTAT time nan\r\nSTAT curr_items nan\r\nSTAT get_hits inf\r\n"
    b"STAT get_misses nan\r\nSTAT evictions 1e400\r\nSTAT bytes nan\r\nSTAT limit_maxbytes inf\r\n"
    b"STAT curr_connections nan\r\nEND\r\n",
    "no value": b"STAT pid 1\r\nSTAT uptime\r\nEND\r\n",
    "junk": b"STAT time abc\r\nSTAT curr_items 99999999999999999999999999999\r\nEND\r\n",
}


@pytest.mark.parametrize("stats", list(MEMCACHED_GARBAGE))
@pytest.mark.parametrize(
    "command",
    [["watch", "--count", "1", "--interval", "0.2"], ["bigkeys"], ["inspect", "user:1"]],
    ids=lambda c: c[0],
)
def test_memcached_stats_garbage_is_a_protocol_error(
    cachediag_measured, scripted, stats: str, command: list[str]
) -> None:
    server = scripted(
        "memcached",
        {"STATS": MEMCACHED_GARBAGE[stats], "MG": b"VA 2 t-1 f0\r\nab\r\n"},
    )
    run = cachediag_measured(*command, *_flag(server), timeout=60)
    _assert_bounded(run, 10)
    said = run.out + run.err
    assert "unexpected (" not in said, said
    if command[0] == "inspect" and stats != "no value":
        # inspect reads the item, not the counters: garbage it never reads is no error.
        assert run.code in (0, 3), (run.code, said)
        return
    assert run.code in (1, 3), (run.code, said)
    named = ("not a finite number", "not a whole number", "without a name and value")
    assert any(words in said for words in named), said


@pytest.mark.parametrize(
    ("answers", "said"),
    [
        ({"MG": b"VA abc tq fz\r\nxx\r\n"}, "mg answered a malformed line: 'VA abc tq fz'"),
        ({"MG": b"VA 2 tq fz\r\nxx\r\n"}, "mg answered a malformed line: 'VA 2 tq fz'"),
    ],
)
def test_a_malformed_mg_reply_is_named(cachediag_measured, scripted, answers, said) -> None:
    server = scripted("memcached", answers)
    run = cachediag_measured("inspect", "user:1", *_flag(server), timeout=30)
    _assert_bounded(run)
    assert run.code == 1 and said in run.out, run.out


def test_a_nested_array_in_a_scan_reply_is_named(cachediag_measured, scripted) -> None:
    server = scripted("redis", {"SCAN": b"*2\r\n$1\r\n0\r\n*2\r\n$1\r\na\r\n*1\r\n:1\r\n"})
    run = cachediag_measured("bigkeys", *_flag(server), timeout=30)
    _assert_bounded(run)
    assert run.code == 3
    assert "SCAN answered a key that is not a string (a nested array)" in run.out + run.err


# --- case 8 (tables): server-sent strings reach no output raw ---------------------------

ESCAPES = b"\x1b[2J\x1b]0;PWN\x07\xc2\x9b31m\xe2\x80\xae"
RAW = ["\x1b", "\x07", "\x9b", "\u202e"]


def _no_raw_controls(text: str) -> None:
    assert not [c for c in RAW if c in text], [hex(ord(c)) for c in RAW if c in text]


@pytest.mark.parametrize("fmt", [[], ["--json"]], ids=["table", "json"])
@pytest.mark.parametrize("case", ["inspect-encoding", "bigkeys-scan-error", "memcached-evictions"])
def test_server_strings_are_escaped_in_tables_and_json(
    cachediag_measured, scripted, case: str, fmt: list[str]
) -> None:
    if case == "inspect-encoding":
        server = scripted(
            "redis",
            {
                **PER_KEY,
                "TYPE": b"+string\r\n",
                "OBJECT ENCODING": b"$%d\r\n%b\r\n" % (len(ESCAPES), ESCAPES),
                "GETRANGE": b"$5\r\nhello\r\n",
            },
        )
        command, shown = ["inspect", "user:1"], "[2J"
    elif case == "bigkeys-scan-error":
        server = scripted("redis", {"SCAN": b"-ERR " + ESCAPES + b"\r\n"})
        command, shown = ["bigkeys"], "SCAN failed: ERR \\x1b[2J"
    else:
        settings = b"STAT evictions " + ESCAPES + b"\r\nSTAT lru_crawler yes\r\nEND\r\n"
        server = scripted("memcached", {"STATS SETTINGS": settings})
        command, shown = ["eviction-policy"], "[2J"
    run = cachediag_measured(*command, *fmt, *_flag(server), timeout=30)
    _assert_bounded(run)
    _no_raw_controls(run.out + run.err)
    said = run.out + run.err
    if fmt:  # the document's strings, as a consumer reads them
        said = "\n".join(_strings(json.loads(run.out)))
    assert shown in said or shown.lower() in said, said


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


# --- case 16: short passwords echoed by a server are masked, numbers left alone ---------


@pytest.mark.parametrize("password", ["ab", "7"])
@pytest.mark.parametrize("fmt", ["table", "json"])
def test_a_short_password_echoed_by_the_server_is_masked(
    cachediag_measured, scripted, tmp_path, password: str, fmt: str
) -> None:
    info = FAKE_INFO.replace(b"redis_version:7.0.15", b"redis_version:7.0.15-" + password.encode())
    server = scripted(
        "redis",
        # A server without AUTH echoes its arguments, the password among them.
        {
            "AUTH": b"-ERR unknown command 'AUTH', with args beginning with: '%b'\r\n"
            % password.encode()
        },
        info=info,
    )
    url = f"redis://:{password}@127.0.0.1:{server.port}"
    out = tmp_path / f"report.{fmt}"
    args = ["--redis", url, "--timeout", "1", "--format", fmt, "--only", "redis.running"]
    run = cachediag_measured("check", *args, "-o", str(out), timeout=30)
    written = out.read_text(encoding="utf-8")
    assert f"-{password}" not in written + run.out + run.err
    assert f"'{password}'" not in written + run.out + run.err
    assert "7.0.15-***" in written or "authentication failed" in written, written
    if fmt == "json":
        document = json.loads(written)
        assert isinstance(document["duration_ms"], int)  # numbers untouched, never ***
        assert document["summary"]["exit_code"] in (0, 1, 3)


# --- case 15: a 1 MiB key name, shortened once with its length ---------------------------


def test_a_one_mib_key_name_is_shortened_with_its_length(cachediag_measured, redis_server) -> None:
    """A real Redis holding a 1 MiB key name: every output stays small, says how long the
    name is, and the JSON flags the shortened name (schemas still valid)."""
    from test_schemas import assert_valid

    from cachediag.safety.textsafe import KEY_TEXT_BYTES

    client = redis_server.client()
    name = b"user:" + b"x" * (1 << 20)
    client.set(name, b"v" * 100)
    client.set("small:1", "v")
    length = f"({len(name):,} bytes)"
    for command, schema in [
        (["bigkeys", "--json"], "bigkeys"),
        (["inspect", "--json"], "inspect"),
        (["check", "--json"], "check"),
        (["bigkeys"], None),
        (["check"], None),
        (["ttl"], None),
        (["memory"], None),
    ]:
        run = cachediag_measured(*command, "--redis", redis_server.url, timeout=60)
        assert run.code in (0, 1), (command, run.err)
        assert len(run.out) < 64 * 1024, (command, len(run.out))  # it printed 10 MB
        assert "x" * (KEY_TEXT_BYTES + 1) not in run.out
        if schema is None:
            # Where the key itself is shown (memory and ttl show namespaces), with its length.
            assert length in run.out or command[0] in ("memory", "ttl"), command
            continue
        document = run.json()
        assert_valid(schema, document)
        if schema == "bigkeys":
            (top,) = [e for e in document["targets"][0]["top"] if e["key"].startswith("user:")]
            assert top["key_truncated"] is True and top["key_bytes"] == len(name)
            assert top["key"].endswith(f"… {length}")
            assert len(top["namespace"]) < 300


def test_a_keyspace_that_grows_while_scanned_is_not_cut_by_the_progress_guard(
    cachediag_measured, scripted
) -> None:
    """DBSIZE said 10 when the scan began; the cache filled up to a million keys while it
    ran: the guard reads DBSIZE again before it ends anything, and the scan completes."""
    import itertools

    sizes = itertools.chain([b":10\r\n"], itertools.repeat(b":1000000\r\n"))
    calls = itertools.count(1)

    def scan(_: list[bytes]) -> bytes:
        return NO_KEYS_FOREVER if next(calls) < 3000 else b"*2\r\n$1\r\n0\r\n*0\r\n"

    server = scripted("redis", {"SCAN": scan, "DBSIZE": lambda _: next(sizes)})
    run = cachediag_measured("bigkeys", "--json", *_flag(server), timeout=60)
    _assert_bounded(run, 30)
    assert run.code == 0, run.out
    scan_facts = run.json()["targets"][0]["scan"]
    assert scan_facts["complete"] is True and scan_facts["batches"] >= 2999
