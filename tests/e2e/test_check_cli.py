"""`cachediag check` and `cachediag ping` end to end: the installed command against real servers."""

from __future__ import annotations

import socket
import time

import pytest
from servers import LoopbackServer

from cachediag.checks.checklist import load_checklist

ALL_IDS = load_checklist().ids
CKIT_V1 = bytes.fromhex("434b4954012a05416c69636511616c696365406578616d706c652e636f6d")
CKIT_V2 = b"CKIT\x02" + b"\x2a\x05Alice\x00"


def results_by_id(document: dict) -> dict[str, dict]:
    return {(r["id"], r["target"]): r for r in document["results"]} | {
        r["id"]: r for r in document["results"]
    }


def test_healthy_servers_report_every_id(cachediag, redis_server, memcached_server) -> None:
    run = cachediag(
        "check", "--json", "--redis", redis_server.url, "--memcached", memcached_server.address
    )
    assert run.code in (0, 1), run.err
    document = run.json()
    assert document["schema"] == "cachediag.check/v1"
    assert {r["id"] for r in document["results"]} == set(ALL_IDS)
    assert [t["status"] for t in document["targets"]] == ["up", "up"]
    assert [t["source"] for t in document["targets"]] == ["flag", "flag"]
    results = results_by_id(document)
    assert results["redis.running"]["status"] == "pass"
    assert results["memcached.running"]["status"] == "pass"
    assert results["redis.eviction_policy"]["status"] == "pass"  # allkeys-lru in the fixture
    assert results["redis.memory"]["status"] == "pass"
    latency = results["redis.latency"]["observed"]
    assert latency["samples"] >= 20 and latency["p50_us"] > 0
    summary = document["summary"]
    assert sum(summary[s] for s in ("pass", "warn", "fail", "skip", "error")) == len(
        document["results"]
    )
    assert summary["exit_code"] == run.code
    assert run.err == ""


def test_redis_scenarios(cachediag, redis_factory) -> None:
    server = redis_factory("--maxmemory-policy", "noeviction")
    client = server.client()
    for i in range(20):
        client.set(f"user:{i}", CKIT_V1)  # no TTL
    client.set("user:100", CKIT_V2, ex=600)
    client.set("user:101", b"garbage value", ex=600)
    client.set(f"session:7:{int(time.time())}", b"x", ex=600)
    for i in range(200):
        client.get(f"missing:{i}")
    run = cachediag("check", "--json", "--redis", server.url, "--only", "redis.*")
    assert run.code == 1
    results = results_by_id(run.json())
    assert results["redis.eviction_policy"]["status"] == "fail"
    assert results["redis.memory"]["status"] == "warn"  # no maxmemory
    assert results["redis.hit_rate"]["status"] == "fail"
    assert results["redis.ttl"]["status"] == "fail"
    assert "user:*" in results["redis.ttl"]["summary"]
    assert results["redis.serialization"]["status"] == "fail"
    assert "user:*" in results["redis.serialization"]["summary"]
    assert results["redis.serialization"]["observed"]["namespaces"]["user:*"]["invalid_magic"] == 1
    assert results["redis.key_determinism"]["status"] == "warn"
    assert "session:*:*" in results["redis.key_determinism"]["summary"]
    assert results["redis.eviction_policy"]["remedy"]  # a failing check says what to do


def test_check_is_read_only(cachediag, redis_server) -> None:
    client = redis_server.client()
    for i in range(300):
        client.set(f"k:{i}", "v", ex=100)
    client.config_resetstat()
    run = cachediag("check", "--json", "--redis", redis_server.url, "--only", "redis.*")
    assert run.code in (0, 1)
    called = {name.removeprefix("cmdstat_").split("|")[0] for name in client.info("commandstats")}
    allowed = {
        "ping",
        "info",
        "config",
        "dbsize",
        "scan",
        "type",
        "pttl",
        "memory",
        "strlen",
        "getrange",
        # server stalls: SLOWLOG GET/LEN, LATENCY LATEST, TIME, COMMAND INFO (key counts)
        "slowlog",
        "latency",
        "time",
        "command",
    }
    assert called - {"info", "config"} <= allowed, called  # the INFO/CONFIG here are our own
    stats = client.info("commandstats")
    subcommands = {n.removeprefix("cmdstat_") for n in stats if n.startswith("cmdstat_slowlog|")}
    subcommands |= {n.removeprefix("cmdstat_") for n in stats if n.startswith("cmdstat_latency|")}
    assert subcommands <= {"slowlog|get", "slowlog|len", "latency|latest"}, subcommands
    assert "keys" not in called and not called & {"set", "del", "flushall", "flushdb", "unlink"}
    config_calls = client.info("commandstats").get("cmdstat_config|get") or client.info(
        "commandstats"
    ).get("cmdstat_config")
    assert config_calls is not None and "cmdstat_config|set" not in client.info("commandstats")


def test_password_is_required_and_never_shown(cachediag, redis_factory) -> None:
    server = redis_factory(password="s3cret-pw")
    wrong = cachediag(
        "check",
        "--json",
        "--redis",
        f"redis://:nope-pw@127.0.0.1:{server.port}",
        "--only",
        "redis.running",
    )
    assert wrong.code == 1
    running = wrong.json()["results"][0]
    assert running["status"] == "fail" and "authentication failed" in running["summary"]
    missing = cachediag(
        "check", "--json", "--redis", f"redis://127.0.0.1:{server.port}", "--only", "redis.running"
    )
    assert "authentication failed" in missing.json()["results"][0]["summary"]
    good = cachediag("check", "--redis", server.url, "--only", "redis.*")
    assert "redis://:***@127.0.0.1" in good.out
    for run in (wrong, missing, good):
        assert "s3cret-pw" not in run.out + run.err and "nope-pw" not in run.out + run.err
    via_env = cachediag(
        "check",
        "--json",
        "--redis",
        f"127.0.0.1:{server.port}",
        "--only",
        "redis.running",
        env={"REDISCLI_AUTH": "s3cret-pw"},
    )
    assert via_env.json()["results"][0]["status"] == "pass"
    assert "s3cret-pw" not in via_env.out


def test_acl_user_without_config(cachediag, redis_factory) -> None:
    server = redis_factory()
    server.cli("ACL", "SETUSER", "diag", "on", ">diag-pw", "~*", "+@all", "-config", "-memory")
    run = cachediag(
        "check",
        "--json",
        "--redis",
        f"redis://diag:diag-pw@127.0.0.1:{server.port}",
        "--only",
        "redis.*",
    )
    results = results_by_id(run.json())
    assert results["redis.running"]["status"] == "pass"
    assert all(r["status"] != "error" for r in run.json()["results"])
    assert "diag-pw" not in run.out


def test_tls_with_a_test_ca(cachediag, redis_factory) -> None:
    server = redis_factory(tls=True)
    ca = str(server.workdir / "ca.crt")
    ok = cachediag(
        "check",
        "--json",
        "--redis",
        server.url,
        "--tls-ca",
        ca,
        "--only",
        "redis.running,redis.connectivity",
    )
    results = results_by_id(ok.json())
    assert results["redis.running"]["status"] == "pass"
    assert results["redis.connectivity"]["observed"]["tls_handshake_us"] > 0
    untrusted = cachediag("check", "--json", "--redis", server.url, "--only", "redis.running")
    summary = untrusted.json()["results"][0]["summary"]
    assert "TLS failed" in summary and "certificate" in summary
    plain = cachediag(
        "check",
        "--json",
        "--redis",
        f"redis://127.0.0.1:{server.port}",
        "--only",
        "redis.running",
        "--timeout",
        "1",
    )
    assert plain.json()["results"][0]["status"] == "fail"


def test_memcached_scenarios(cachediag, memcached_factory) -> None:
    server = memcached_factory("-M", "-m", "8")
    client = server.client()
    for i in range(20):
        client.set(f"user:{i}", CKIT_V1)  # no expiry
    client.set("user:99", b"not an envelope", expire=600)
    run = cachediag("check", "--json", "--memcached", server.address, "--only", "memcached.*")
    results = results_by_id(run.json())
    assert results["memcached.eviction_policy"]["status"] == "fail"
    assert results["memcached.ttl"]["status"] == "fail"
    assert results["memcached.serialization"]["status"] == "fail"
    crawlerless = memcached_factory("-o", "no_lru_crawler")
    run = cachediag(
        "check", "--json", "--memcached", crawlerless.address, "--only", "memcached.ttl"
    )
    assert run.json()["results"][0]["status"] == "skip"
    assert "crawler" in run.json()["results"][0]["summary"]


def test_hung_server_finishes_within_the_timeout(cachediag, silent_server) -> None:
    started = time.monotonic()
    run = cachediag(
        "check",
        "--json",
        "--redis",
        f"127.0.0.1:{silent_server.port}",
        "--memcached",
        f"127.0.0.1:{silent_server.port}",
        "--timeout",
        "1",
        "--only",
        "Cache Issues",
    )
    elapsed = time.monotonic() - started
    assert elapsed < 6, elapsed  # both targets probed at once, each bounded by 1 s
    assert run.code == 1
    results = results_by_id(run.json())
    assert "timed out" in results["redis.running"]["summary"]
    assert "timed out" in results["memcached.running"]["summary"]
    assert results["redis.connectivity"]["status"] == "pass"  # TCP itself connected


def test_closed_port_and_wrong_protocols(
    cachediag, closed_port, memcached_server, redis_server, http_port
) -> None:
    run = cachediag(
        "check",
        "--json",
        "--only",
        "redis.running,memcached.running,redis.firewall",
        "--redis",
        f"127.0.0.1:{closed_port}",
        "--redis",
        f"127.0.0.1:{memcached_server.port}",
        "--redis",
        f"127.0.0.1:{http_port}",
        "--memcached",
        redis_server.address,
        "--memcached",
        f"127.0.0.1:{http_port}",
    )
    assert run.code == 1
    summaries = {(r["id"], r["target"]): r["summary"] for r in run.json()["results"]}
    assert "refused" in summaries[("redis.running", f"redis://127.0.0.1:{closed_port}/0")]
    assert "refused" in summaries[("redis.firewall", f"redis://127.0.0.1:{closed_port}/0")]
    assert (
        "like Memcached"
        in summaries[("redis.running", f"redis://127.0.0.1:{memcached_server.port}/0")]
    )
    assert "like an HTTP server" in summaries[("redis.running", f"redis://127.0.0.1:{http_port}/0")]
    assert "like Redis" in summaries[("memcached.running", f"memcached://{redis_server.address}")]
    assert (
        "not a Memcached server"
        in summaries[("memcached.running", f"memcached://127.0.0.1:{http_port}")]
    )


class _HalfReply(LoopbackServer):
    """Answers the first command with half a reply, then closes: a server dying mid-reply."""

    def handle(self, conn: socket.socket) -> None:
        conn.recv(100)
        conn.sendall(b"$10\r\nPON")
        conn.close()


def test_server_closing_mid_reply(cachediag) -> None:
    server = _HalfReply()
    run = cachediag(
        "check", "--json", "--redis", f"127.0.0.1:{server.port}", "--only", "redis.running"
    )
    assert run.code == 1
    assert "closed the connection" in run.json()["results"][0]["summary"]
    server.close()


def test_default_targets_with_nothing_listening_are_skipped(cachediag) -> None:
    for port in (6379, 11211):
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                pytest.skip(f"something listens on the default port {port} here")
    run = cachediag("check", "--json", "--only", "redis.*,memcached.*")
    assert run.code == 0, run.out
    document = run.json()
    assert [(t["source"], t["status"]) for t in document["targets"]] == [("default", "skipped")] * 2
    assert {r["status"] for r in document["results"]} == {"skip"}
    running = results_by_id(document)["redis.running"]
    assert running["summary"] == "nothing listening at the default address; name one with --redis"


def test_named_target_that_is_down_fails(cachediag, closed_port) -> None:
    run = cachediag("check", "--json", "--redis", f"127.0.0.1:{closed_port}", "--only", "redis.*")
    assert run.code == 1
    assert run.json()["targets"][0]["status"] == "down"


def test_fail_on_warn_and_exit_codes(cachediag, redis_factory) -> None:
    server = redis_factory("--maxmemory-policy", "allkeys-lru")  # no maxmemory: memory warns
    plain = cachediag("check", "--json", "--redis", server.url, "--only", "redis.memory")
    assert plain.json()["results"][0]["status"] == "warn" and plain.code == 0
    strict = cachediag(
        "check", "--json", "--redis", server.url, "--only", "redis.memory", "--fail-on", "warn"
    )
    assert strict.code == 1 and strict.json()["summary"]["exit_code"] == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--redis", "redis://h:99999"), "port must be a number"),
        (("--redis", "ftp://x"), "unknown scheme"),
        (("--memcached", "h:abc"), "port must be"),
        (("--only", "redis.nonsense"), "unknown check id"),
        (("--checklist", "/nonexistent.toml"), "does not exist"),
        (("--config", "/nonexistent.toml"), "does not exist"),
        (("--redis", "redis://:leak-me@h:0"), "port must be"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(cachediag, args, message) -> None:
    run = cachediag("check", *args)
    assert run.code == 2
    assert message in run.err
    assert "Traceback" not in run.err and len(run.err.strip().splitlines()) == 1
    assert "leak-me" not in run.err
    assert run.out == ""


def test_invalid_config_files(cachediag, tmp_path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("redis = [\n")
    run = cachediag("check", "--config", str(broken))
    assert run.code == 2 and "not valid TOML" in run.err
    typo = tmp_path / "typo.toml"
    typo.write_text('rediss = ["x"]\n')
    run = cachediag("check", "--config", str(typo))
    assert run.code == 2 and "unknown key 'rediss'" in run.err
    bad_threshold = tmp_path / "th.toml"
    bad_threshold.write_text('[thresholds."redis.hit_rate"]\nwarn_bellow = 0.5\n')
    run = cachediag("check", "--config", str(bad_threshold))
    assert run.code == 2 and "unknown threshold warn_bellow" in run.err


def test_config_file_targets_thresholds_and_disabled(cachediag, redis_server, tmp_path) -> None:
    config = tmp_path / "cwd" / "cachediag.toml"
    config.parent.mkdir(exist_ok=True)
    config.write_text(
        f'redis = ["{redis_server.url}"]\n'
        'disabled = ["redis.fragmentation"]\n'
        '[thresholds."redis.latency"]\nwarn_p99_us = 1\n'
    )
    run = cachediag("check", "--json", "--only", "redis.*")
    document = run.json()
    assert document["targets"][0]["source"] == "config"
    ids = {r["id"] for r in document["results"]}
    assert "redis.fragmentation" not in ids
    latency = results_by_id(document)["redis.latency"]
    assert latency["status"] == "warn" and latency["thresholds"]["warn_p99_us"] == 1


def test_hostile_key_names_never_reach_the_terminal_raw(cachediag, redis_factory) -> None:
    server = redis_factory()
    client = server.client()
    client.set(b"evil:\x1b]0;pwned\x07:[bold red]x[/]", b"v")
    client.set(b"bin:\xff\xfe", b"v")
    run = cachediag("check", "--redis", server.url, "--only", "redis.ttl")
    assert "\x1b" not in run.out and "\x07" not in run.out
    assert "\\x1b" in run.out
    as_json = cachediag("check", "--json", "--redis", server.url, "--only", "redis.ttl")
    assert "\\\\x1b" in as_json.out  # escaped once by safe_text, once more by JSON


def test_piped_output_is_plain_and_uncropped(cachediag, redis_server) -> None:
    run = cachediag("check", "--redis", redis_server.url, "--only", "redis.*")
    assert "\x1b[" not in run.out
    assert "redis.eviction_policy" in run.out  # not cropped to 80 columns
    assert run.out.rstrip().splitlines()[-1].startswith(tuple("0123456789"))


def test_list_shows_thresholds_in_force(cachediag, tmp_path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[thresholds."redis.hit_rate"]\nwarn_below = 0.55\n')
    run = cachediag("check", "--list", "--config", str(config))
    assert run.code == 0
    assert "warn_below=0.55" in run.out and "host.kernel" in run.out


def test_ping(cachediag, redis_server, memcached_server, closed_port) -> None:
    run = cachediag(
        "ping", "--json", "--redis", redis_server.url, "--memcached", memcached_server.address
    )
    assert run.code == 0
    rows = run.json()["targets"]
    assert [r["status"] for r in rows] == ["healthy", "healthy"]
    assert rows[0]["version"].startswith("7.") and rows[0]["role"] == "master"
    assert rows[1]["version"].startswith("1.6")
    down = cachediag("ping", "--redis", redis_server.url, "--redis", f"127.0.0.1:{closed_port}")
    assert down.code == 1
    assert "unhealthy" in down.out and "healthy" in down.out


def test_version_and_help(cachediag) -> None:
    assert cachediag("--version").out.strip() == "cachediag 0.1.0"
    for command in ("check", "ping"):
        run = cachediag(command, "--help")
        assert run.code == 0 and "Example" in run.out


def test_help_imports_neither_redis_nor_psutil() -> None:
    import subprocess
    import sys

    code = (
        "import sys\nfrom cachediag.cli.app import app\n"
        "try:\n    app(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('redis', 'hiredis', 'psutil') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    ).stdout
    assert "HEAVY []" in out


def test_unix_socket_target(cachediag, redis_factory) -> None:
    server = redis_factory(unix_socket=True)
    run = cachediag(
        "check",
        "--json",
        "--redis",
        f"unix://{server.unix_socket}?db=0",
        "--only",
        "redis.running,redis.latency",
    )
    results = results_by_id(run.json())
    assert results["redis.running"]["status"] == "pass"
    assert results["redis.latency"]["observed"]["samples"] >= 20


def test_dns_failure_is_named(cachediag) -> None:
    run = cachediag(
        "check",
        "--json",
        "--redis",
        "redis://no-such-host.invalid:6379",
        "--timeout",
        "1",
        "--only",
        "redis.running,redis.connectivity",
    )
    results = results_by_id(run.json())
    assert run.code == 1
    assert "DNS" in results["redis.connectivity"]["summary"]


def test_kernel_checks_judge_a_local_redis_without_config(cachediag, redis_factory) -> None:
    server = redis_factory()
    server.cli("ACL", "SETUSER", "noconf", "on", ">pw", "~*", "+@all", "-config")
    run = cachediag(
        "check",
        "--json",
        "--redis",
        f"redis://noconf:pw@127.0.0.1:{server.port}",
        "--only",
        "host.kernel",
    )
    kernel = run.json()["results"][0]
    assert kernel["status"] in ("pass", "warn"), kernel
    assert kernel["summary"] != "no local Redis"
