"""Issue 10, case 8: stalls inside Redis are named, not blamed on the network.

A real Redis stalling on slow commands (DEBUG SLEEP 0.03 in a loop from another
client), a slow SET carrying a secret value, and a truly slow network (a delaying
proxy) for contrast.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from servers import RedisServer, Staller, start_stalling_redis
from test_latency import DelayingProxy
from test_schemas import assert_valid

from cachediag.probes.stalls import command_name, mask_entry


@pytest.fixture
def stalling_redis(tmp_path: Path) -> Iterator[Callable[..., RedisServer]]:
    started: list[RedisServer] = []

    def start(*args: str) -> RedisServer:
        started.append(start_stalling_redis(tmp_path / f"stall{len(started)}", *args))
        return started[-1]

    yield start
    for server in started:
        server.stop()


def results(run) -> dict:  # type: ignore[no-untyped-def]
    return {r["id"]: r for r in run.json()["results"]}


def test_check_names_the_slow_commands_instead_of_the_network(cachediag, stalling_redis) -> None:
    server = stalling_redis()
    with Staller(server):
        run = cachediag(
            "check",
            "--json",
            "--redis",
            server.url,
            "--only",
            "redis.latency,redis.slow_commands,host.congestion",
        )
    found = results(run)
    latency, slow = found["redis.latency"], found["redis.slow_commands"]
    # The round trips' jitter is Redis's own stalls: not read as a congested network.
    congestion = found["host.congestion"]
    assert not congestion["observed"]["jittery"], congestion
    jitter = congestion["observed"]["jitter"][server.url]["jitter_us"]
    if jitter > 10_000:
        assert congestion["observed"]["jitter_from_server_stalls"], congestion
    assert latency["status"] in ("warn", "fail"), latency
    assert latency["observed"]["cause"] == "server"
    assert "server-side" in latency["summary"] and "DEBUG SLEEP" in latency["summary"]
    assert "not on the network" in latency["summary"]
    assert "slow commands" in latency["remedy"] or "redis.slow_commands" in latency["remedy"]
    assert slow["status"] == "warn", slow
    assert "DEBUG SLEEP" in slow["summary"] and "blocks every client" in slow["summary"]
    assert slow["observed"]["slow_commands"][0]["command"] == "DEBUG SLEEP"
    assert slow["observed"]["slow_commands"][0]["max_us"] >= 25_000
    assert "latency-monitor-threshold 0" in slow["summary"]  # the monitor is off here
    assert "SCAN" in slow["remedy"] and "Solution 3B" in slow["remedy"]
    failed = "fail" in (latency["status"], congestion["status"])
    assert run.code == (1 if failed else 0)


def test_latency_calls_it_server_stalls(cachediag, stalling_redis) -> None:
    server = stalling_redis()
    with Staller(server):
        run = cachediag("latency", "--redis", server.url, "--samples", "40", "--json")
        text = cachediag("latency", "--redis", server.url, "--samples", "40")
    assert_valid("latency", run.json())
    (row,) = run.json()["targets"]
    verdict = row["verdict"]
    assert verdict["band"] == "server stalls", verdict
    assert verdict["cause"] == "server" and verdict["status"] == "warn"
    assert verdict["slow_commands"][0]["command"] == "DEBUG SLEEP"
    assert "slow network" not in verdict["text"] and "DEBUG SLEEP" in verdict["text"]
    assert run.code == 0
    assert "server stalls" in text.out and "slow network" not in text.out


def test_latency_events_are_read_when_the_monitor_is_on(cachediag, stalling_redis) -> None:
    server = stalling_redis("--latency-monitor-threshold", "10")
    with Staller(server):
        run = cachediag("check", "--json", "--redis", server.url, "--only", "redis.slow_commands")
    slow = results(run)["redis.slow_commands"]
    assert slow["status"] == "warn"
    assert "latency events command" in slow["summary"], slow["summary"]
    assert slow["observed"]["latency_monitor_threshold_ms"] == 10
    assert "latency-monitor-threshold 0" not in slow["summary"]


def test_a_quiet_server_passes_and_a_slow_network_is_still_the_network(
    cachediag, redis_server
) -> None:
    quiet = cachediag(
        "check", "--json", "--redis", redis_server.url, "--only", "redis.slow_commands"
    )
    assert results(quiet)["redis.slow_commands"]["status"] == "pass"
    assert quiet.code == 0
    proxy = DelayingProxy(redis_server.port, 0.02)
    try:
        url = f"redis://127.0.0.1:{proxy.port}"
        run = cachediag("check", "--json", "--redis", url, "--only", "redis.latency")
        latency = cachediag("latency", "--redis", url, "--samples", "5", "--json")
    finally:
        proxy.close()
    result = results(run)["redis.latency"]
    assert result["status"] == "warn" and result["observed"]["cause"] == "network-or-host"
    assert "no command slower than" in result["summary"]
    (row,) = latency.json()["targets"]
    assert row["verdict"]["band"] == "slow network" and row["verdict"]["cause"] == "network-or-host"


def test_slow_commands_are_masked(cachediag, redis_factory) -> None:
    server = redis_factory("--slowlog-log-slower-than", "0")
    client = server.client()
    client.set("session:42", "TOPSECRET-VALUE-1")
    client.execute_command("CONFIG", "SET", "slowlog-max-len", "128")
    run = cachediag("latency", "--redis", server.url, "--samples", "3", "--json")
    check = cachediag("check", "--json", "--redis", server.url, "--only", "redis.*")
    memory = cachediag("memory", "--redis", server.url, "--json")
    for output in (run, check, memory):
        assert "TOPSECRET" not in output.out + output.err
    (row,) = run.json()["targets"]
    entries = row["stalls"]["slowlog"]["entries"]
    (entry,) = [e for e in entries if e["command"] == "SET"]
    assert (entry["keys"], entry["args"], entry["masked"]) == (1, 2, "SET <key> <arg>")
    config = [e for e in entries if e["command"] == "CONFIG SET"]
    assert config and config[0]["masked"] == "CONFIG SET <arg> <arg>"
    # cachediag's own commands on its own connection are left out.
    assert not [e for e in entries if e["command"] in ("SLOWLOG GET", "LATENCY LATEST")]


def test_memory_shows_the_stalls_with_their_verdict(cachediag, stalling_redis) -> None:
    server = stalling_redis()
    with Staller(server):
        run = cachediag("memory", "--redis", server.url, "--json")
        text = cachediag("memory", "--redis", server.url)
    assert_valid("memory", run.json())
    (row,) = run.json()["targets"]
    readings = {r["name"]: r for r in row["readings"]}
    assert readings["slow_commands"]["verdict"]["status"] == "warn"
    assert "DEBUG SLEEP" in readings["slow_commands"]["display"]
    assert "latest_fork_usec" in readings
    assert "slow_commands" in text.out and "DEBUG SLEEP" in text.out


def test_slowlog_is_only_read(cachediag, stalling_redis) -> None:
    server = stalling_redis()
    with Staller(server):
        cachediag("check", "--json", "--redis", server.url, "--only", "redis.slow_commands")
        cachediag("latency", "--redis", server.url, "--samples", "3", "--json")
    stats = server.client().info("commandstats")
    assert "cmdstat_slowlog|get" in stats
    assert "cmdstat_slowlog|reset" not in stats and "cmdstat_latency|reset" not in stats
    assert server.client().execute_command("SLOWLOG", "LEN") > 0  # nothing was cleared


# -- masking, pure ------------------------------------------------------------------------


SET_SPEC = (1, 1, 1, False)


@pytest.mark.parametrize(
    ("argv", "spec", "expected"),
    [
        ([b"SET", b"k", b"secret"], SET_SPEC, ("SET", 2, 1, "SET <key> <arg>")),
        (
            [b"debug", b"sleep", b"0.03"],
            (0, 0, 0, False),
            ("DEBUG SLEEP", 1, 0, "DEBUG SLEEP <arg>"),
        ),
        (
            [b"MSET", b"a", b"1", b"b", b"2"],
            (1, -1, 2, False),
            ("MSET", 4, 2, "MSET <key> <arg> <key> <arg>"),
        ),
        (
            [b"EVAL", b"return 1", b"2", b"k1", b"k2", b"arg"],
            (0, 0, 0, True),
            ("EVAL", 5, 2, "EVAL <arg> <arg> <key> <key> <arg>"),
        ),
        ([b"HGETALL", b"big"], None, ("HGETALL", 1, None, "HGETALL <arg>")),
        (
            [b"RPUSH", b"q", *[b"v"] * 30, b"... (68 more arguments)"],
            (1, 1, 1, False),
            ("RPUSH", 99, 1, "RPUSH <key> <arg> <arg> <arg> <arg> <arg> … (93 more)"),
        ),
    ],
)
def test_mask_entry(argv: list[bytes], spec, expected) -> None:  # type: ignore[no-untyped-def]
    masked = mask_entry(argv, spec)
    assert (masked["command"], masked["args"], masked["keys"], masked["masked"]) == expected
    for secret in (b"secret", b"return 1"):
        if secret in argv:
            assert secret.decode() not in str(masked)


def test_a_subcommand_is_kept_only_when_it_is_a_word() -> None:
    assert command_name([b"CONFIG", b"set", b"x"]) == b"CONFIG SET"
    assert command_name([b"CONFIG", b"pass word"]) == b"CONFIG"
    assert command_name([b"GET", b"k"]) == b"GET"


def test_the_facts_carry_the_window_and_the_stalls_and_validate(stalling_redis) -> None:
    from cachediag.probes.collect import collect_facts
    from cachediag.targets.parse import parse_redis

    server = stalling_redis("--latency-monitor-threshold", "10")
    server.client().set("session:1", "TOPSECRET-VALUE-2")
    with Staller(server):
        facts = collect_facts([parse_redis(server.url, "flag")], 5, 100, host=True, window=0.5)
    assert_valid("facts", facts)
    (target,) = facts["targets"]
    assert target["window"]["seconds"] >= 0.5 and target["window"]["first"]["stats"]
    assert target["stalls"]["slowlog"]["entries"] and target["stalls"]["latency"]["events"]
    assert target["sample"]["lookups_added"]["hits"] > 0
    assert facts["host"]["jitter"][0]["server_stalls"] is None or (
        "DEBUG SLEEP" in facts["host"]["jitter"][0]["server_stalls"]
    )
    assert "TOPSECRET" not in str(facts)
