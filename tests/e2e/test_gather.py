"""`cachediag gather`, `verify` and `check --from` end to end, against real servers."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import subprocess
import tarfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import jsonschema
import pytest
from servers import SilentServer, free_port, require
from test_schemas import assert_valid

from cachediag.schemas import schema

# Secrets planted in the servers, the URL and the log: no byte of any may reach the bundle.
REDIS_PASSWORD = "Pw@s3cr/t+9"  # percent-encoded in the URL: Pw%40s3cr%2Ft%2B9
MASTERAUTH = "masterAuthS3cret"
ACL_PASSWORD = "aclUserS3cret"
SLOW_VALUE = "sessionValueS3cret"
LOG_PASSWORD = "logPasswordS3cret"
LOG_TOKEN = "bearerTokenS3cret"
TLS_PASSPHRASE = "tlsKeyPassS3cret"
SECRETS = (REDIS_PASSWORD, MASTERAUTH, ACL_PASSWORD, SLOW_VALUE, LOG_PASSWORD, LOG_TOKEN)


def forms(secret: str) -> set[bytes]:
    return {s.encode() for s in (secret, quote(secret, safe=""), quote_plus(secret), quote(secret))}


def unpack(bundle: Path, into: Path) -> Path:
    with tarfile.open(bundle) as tar:
        names = tar.getnames()
        tops = {name.split("/", 1)[0] for name in names}
        assert len(tops) == 1, tops  # one top folder
        tar.extractall(into, filter="data")
    return into / tops.pop()


def files_of(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def bundle_url(server: Any) -> str:
    return f"redis://:{quote(REDIS_PASSWORD, safe='')}@127.0.0.1:{server.port}/0"


def plant(redis_factory: Any) -> Any:
    server = redis_factory(
        "--masterauth", MASTERAUTH, "--masteruser", "replicator", password=REDIS_PASSWORD
    )
    server.cli("ACL", "SETUSER", "alice", "on", f">{ACL_PASSWORD}", "~*", "+@all")
    # A build without TLS has no such setting: the other secrets still hold the test.
    with contextlib.suppress(subprocess.CalledProcessError):
        server.cli("CONFIG", "SET", "tls-key-file-pass", TLS_PASSPHRASE)
    client = server.client()
    # A slow SET carrying a secret value: every command is slow at 0 µs; then only the
    # really slow ones again, so that the probe's own commands leave it in the newest 128.
    server.cli("CONFIG", "SET", "slowlog-log-slower-than", "0")
    client.set("session:1", SLOW_VALUE, ex=600)
    server.cli("CONFIG", "SET", "slowlog-log-slower-than", "1000000")
    for i in range(20):
        client.set(f"user:{i}", b"CKIT\x01" + b"x" * 40)
    for i in range(10):
        client.get(f"user:{i}")
        client.get(f"missing:{i}")
    return server


def write_log(path: Path) -> Path:
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    path.write_text(
        f"2001-01-01T00:00:00Z cache miss old:1 (before --since)\n"
        f"{now} ERROR cache backend unavailable user:42 password={LOG_PASSWORD}\n"
        f"{now} WARN cache GET failed Authorization: Bearer {LOG_TOKEN}\n"
        f"{now} INFO request served without touching anything\n"
        f"{now} ERROR cache serialization failed for user:7\n"
    )
    return path


@pytest.fixture
def gathered(cachediag: Any, redis_factory: Any, memcached_server: Any, tmp_path: Path) -> Any:
    server = plant(redis_factory)
    log = write_log(tmp_path / "app.log")
    out = tmp_path / "out"
    out.mkdir()
    started = time.monotonic()
    run = cachediag(
        "gather",
        "--redis",
        bundle_url(server),
        "--memcached",
        memcached_server.address,
        "--log",
        str(log),
        "-o",
        str(out),
    )
    elapsed = time.monotonic() - started
    assert run.code == 0, run.err
    bundles = list(out.glob("cachediag-*.tar.gz"))
    assert len(bundles) == 1, list(out.iterdir())
    return run, bundles[0], server, elapsed


def test_bundle_holds_every_file_and_no_secret(gathered: Any, tmp_path: Path) -> None:
    run, bundle, server, elapsed = gathered
    assert elapsed < 10  # every target up on this machine
    assert stat.S_IMODE(bundle.stat().st_mode) == 0o600
    assert str(bundle) in run.out and "bytes" in run.out and "pass" in run.out
    root = unpack(bundle, tmp_path / "unpacked")
    files = files_of(root)
    folder = f"redis/127.0.0.1_{server.port}"
    for expected in (
        "README.md",
        "check.json",
        "facts.json",
        "manifest.json",
        "redactions.json",
        f"{folder}/info-1.txt",
        f"{folder}/info-2.txt",
        f"{folder}/config.txt",
        f"{folder}/slowlog.json",
        f"{folder}/acl-list.txt",
        f"{folder}/client-list.txt",
        f"{folder}/memory-stats.json",
        f"{folder}/role.json",
        "host/processes.txt",
        "host/sysctl.txt",
        "logs/app.log",
    ):
        assert expected in files, expected
    assert any(p.startswith("memcached/") and p.endswith("stats-slabs.txt") for p in files)
    # No byte of any planted secret, in any encoding, in any file or file name.
    for secret in (*SECRETS, TLS_PASSPHRASE):
        for form in forms(secret):
            for name, data in files.items():
                assert form not in data, (secret, name)
                assert form not in name.encode()
    # ...and the readings are still there, redacted where they held one.
    config = files[f"{folder}/config.txt"].decode()
    assert "requirepass ***" in config and "masterauth ***" in config
    assert "masteruser replicator" in config
    acl = files[f"{folder}/acl-list.txt"].decode()
    assert "user alice on #***" in acl and "user default on #***" in acl
    slowlog = json.loads(files[f"{folder}/slowlog.json"])
    assert any(e["command"] == "SET" and e["masked"].startswith("SET <arg>") for e in slowlog)
    log = files["logs/app.log"].decode()
    assert "password=***" in log and "Authorization: Bearer ***" in log
    assert "old:1" not in log  # before --since (2h)
    assert "without touching" not in log  # no "cache" in the line
    redactions = json.loads(files["redactions.json"])
    for kind in ("config_secret", "acl_hash", "slowlog_argument", "authorization", "key_value"):
        assert redactions["by_kind"].get(kind), kind
    # The command line is recorded with the password out of it.
    manifest = json.loads(files["manifest.json"])
    assert "--redis redis://:***@127.0.0.1" in manifest["command"]


def test_manifest_checksums_and_schema(cachediag: Any, gathered: Any, tmp_path: Path) -> None:
    run, bundle, _, _ = gathered
    root = unpack(bundle, tmp_path / "unpacked")
    files = files_of(root)
    # The manifest's own checksum, printed by gather (it cannot list itself) and by verify.
    printed = hashlib.sha256(files["manifest.json"]).hexdigest()
    assert f"manifest sha256 {printed}\n" in run.out
    assert cachediag("verify", str(bundle), "--json").json()["manifest_sha256"] == printed
    manifest = json.loads(files.pop("manifest.json"))
    jsonschema.validate(manifest, schema("bundle"))
    listed = {entry["path"]: entry for entry in manifest["files"]}
    assert set(files) == {p for p, e in listed.items() if e["sha256"] is not None}
    for path, data in files.items():
        assert listed[path]["bytes"] == len(data)
        assert listed[path]["sha256"] == hashlib.sha256(data).hexdigest()
        assert listed[path]["producer"]
    assert listed["check.json"]["truncated"] is False
    facts = json.loads(files["facts.json"])
    assert_valid("facts", facts)  # the facts schema, memory_doctor and memory_stats included
    assert "memory_stats" in next(t for t in facts["targets"] if t["kind"] == "redis")
    assert json.loads(files["check.json"])["schema"] == "cachediag.check/v1"
    readme = files["README.md"].decode()
    assert "cachediag check --from" in readme and "## Checklist results" in readme
    assert "| `facts.json` |" in readme


def test_verify_intact_then_one_changed_byte(cachediag: Any, gathered: Any, tmp_path: Path) -> None:
    _, bundle, _, _ = gathered
    assert cachediag("verify", str(bundle)).code == 0
    root = unpack(bundle, tmp_path / "unpacked")
    ok = cachediag("verify", str(root), "--json")
    assert ok.code == 0, ok.out
    document = ok.json()
    jsonschema.validate(document, schema("verify"))
    assert document["status"] == "intact" and document["files"] > 10
    target = next(root.glob("redis/*/dbsize.txt"))
    data = bytearray(target.read_bytes())
    data[0] ^= 0x01
    target.write_bytes(bytes(data))
    changed = cachediag("verify", str(root))
    assert changed.code == 1
    assert "dbsize.txt: sha256 does not match" in changed.out
    # A file slipped in, and one taken out, are alterations too.
    target.write_bytes(bytes(data[:-1]) if len(data) > 1 else b"")
    (root / "extra.txt").write_text("x")
    (root / "host" / "sysctl.txt").unlink()
    worse = cachediag("verify", str(root), "--json").json()
    assert any("extra.txt: not in the manifest" in p for p in worse["altered"])
    assert any("host/sysctl.txt: missing" in p for p in worse["altered"])


def test_verify_secret_env_finds_a_leak(cachediag: Any, gathered: Any, tmp_path: Path) -> None:
    _, bundle, _, _ = gathered
    clean = cachediag("verify", str(bundle), "--secret-env", "PW", env={"PW": REDIS_PASSWORD})
    assert clean.code == 0, clean.out
    assert "secret not found" in clean.out
    root = unpack(bundle, tmp_path / "unpacked")
    readme = root / "README.md"
    readme.write_text(readme.read_text() + quote(REDIS_PASSWORD, safe=""))
    leaking = cachediag("verify", str(root), "--secret-env", "PW", env={"PW": REDIS_PASSWORD})
    assert leaking.code == 1
    assert "README.md: holds the secret" in leaking.out
    assert REDIS_PASSWORD not in leaking.out + leaking.err
    unset = cachediag("verify", str(root), "--secret-env", "NOPE")
    assert unset.code == 2 and "NOPE" in unset.err


def test_verify_refuses_what_is_not_a_bundle(cachediag: Any, tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    other = tmp_path / "other.tar.gz"
    with tarfile.open(other, "w:gz") as tar:
        tar.add(text, arcname="folder/notes.txt")
    for path in (text, other, tmp_path / "missing.tar.gz", tmp_path):
        run = cachediag("verify", str(path))
        assert run.code == 2, (path, run.out, run.err)
        assert "Traceback" not in run.err and run.err.count("\n") == 1


FORMATS = ("table", "json", "markdown", "junit", "nagios", "prometheus")


def test_check_from_gives_the_results_the_live_check_recorded(
    cachediag: Any, gathered: Any, tmp_path: Path
) -> None:
    _, bundle, _, _ = gathered
    root = unpack(bundle, tmp_path / "unpacked")
    recorded = json.loads((root / "check.json").read_text())

    def triples(document: dict[str, Any]) -> list[tuple[str, str, str, str]]:
        return [(r["id"], r["target"], r["status"], r["summary"]) for r in document["results"]]

    for source in (bundle, root):
        run = cachediag("check", "--from", str(source), "--json")
        assert run.code == recorded["summary"]["exit_code"], run.err
        offline = run.json()
        jsonschema.validate(offline, schema("check"))
        assert triples(offline) == triples(recorded)
        assert offline["targets"] == recorded["targets"]
    for fmt in FORMATS:
        run = cachediag("check", "--from", str(bundle), "--format", fmt)
        assert run.code in (0, 1, 2, 3), (fmt, run.err)
        assert run.out and "Traceback" not in run.err, fmt
    # Other thresholds, offline: the same facts, another verdict (20 of 21 keys lack a TTL).
    ttl = next(r for r in recorded["results"] if r["id"] == "redis.ttl")
    assert ttl["status"] == "fail"
    config = tmp_path / "cwd" / "cachediag.toml"
    config.write_text('[thresholds."redis.ttl"]\nwarn_above = 0.98\nfail_above = 0.99\n')
    only = cachediag("check", "--from", str(bundle), "--only", "redis.ttl", "--json")
    assert only.code == 0, only.err
    assert [r["status"] for r in only.json()["results"]] == ["pass"]
    # Facts edited after gather are judged, with a warning.
    facts_file = root / "facts.json"
    facts_file.write_text(facts_file.read_text().replace('"noeviction"', '"allkeys-lru"'))
    edited = cachediag("check", "--from", str(root), "--only", "redis.eviction_policy", "--json")
    assert "warning: facts.json does not match the bundle's manifest" in edited.err
    assert [r["status"] for r in edited.json()["results"]] == ["pass"]
    # Nothing is probed: target flags are refused.
    mixed = cachediag("check", "--from", str(bundle), "--redis", "127.0.0.1:1")
    assert mixed.code == 2 and "--from" in mixed.err


def test_memory_and_ttl_from_a_bundle(cachediag: Any, gathered: Any) -> None:
    _, bundle, _, _ = gathered
    memory = cachediag("memory", "--from", str(bundle), "--json")
    assert memory.code in (0, 1), memory.err
    document = memory.json()
    jsonschema.validate(document, schema("memory"))
    redis_row = next(row for row in document["targets"] if row["kind"] == "redis")
    assert redis_row["status"] == "up"
    assert redis_row["memory_stats"]["total.allocated"] > 0 and redis_row["memory_doctor"]
    assert cachediag("memory", "--from", str(bundle)).code == memory.code
    ttl = cachediag("ttl", "--from", str(bundle), "--json")
    assert ttl.code in (0, 1), ttl.err
    ttl_document = ttl.json()
    jsonschema.validate(ttl_document, schema("ttl"))
    redis_ttl = next(row for row in ttl_document["targets"] if row["kind"] == "redis")
    assert redis_ttl["sampled"] == 21  # user:0..19 and session:1
    assert redis_ttl["buckets"]["no expiry"] == 20 and redis_ttl["buckets"]["< 1 h"] == 1
    keyed = cachediag("ttl", "user:1", "--from", str(bundle))
    assert keyed.code == 2 and "--from" in keyed.err
    pattern = cachediag("ttl", "--from", str(bundle), "--pattern", "session:*", "--json").json()
    assert next(r for r in pattern["targets"] if r["kind"] == "redis")["sampled"] == 1


def test_gather_sends_nothing_that_writes_and_never_keys(
    cachediag: Any, redis_factory: Any, tmp_path: Path
) -> None:
    server = redis_factory("--slowlog-log-slower-than", "0", "--slowlog-max-len", "10000")
    server.client().set("user:1", "x")
    monitor = subprocess.Popen(
        [require("redis-cli"), "-p", str(server.port), "MONITOR"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(0.3)
        run = cachediag("gather", "--redis", server.url, "-o", str(tmp_path))
        assert run.code == 0, run.err
        time.sleep(0.3)
    finally:
        monitor.terminate()
    seen = monitor.communicate(timeout=10)[0]
    commands = set()
    for line in seen.splitlines():
        if "] " not in line:
            continue
        words = [w.strip('"').upper() for w in line.split("] ", 1)[1].split()]
        commands.add(tuple(words[:2]))
    names = {c[0] for c in commands}
    # MONITOR leaves administrative commands (CONFIG, ACL, SLOWLOG...) out: the collector's
    # own list of them is held read-only in tests/unit/bundle.
    assert "KEYS" not in names and "INFO" in names and "DBSIZE" in names
    client = server.client()
    for name in names:
        info = client.execute_command("COMMAND", "INFO", name)[name.lower()]
        assert "write" not in info["flags"], name
    read_only_subcommands = {
        "CONFIG": {"GET"},
        "SLOWLOG": {"GET", "LEN"},
        "LATENCY": {"LATEST", "DOCTOR"},
        "MEMORY": {"DOCTOR", "STATS", "USAGE"},
        "CLIENT": {"LIST"},
        "ACL": {"LIST"},
        "CLUSTER": {"INFO", "NODES"},
        "COMMAND": {"INFO"},
    }
    for command in commands:
        if command[0] in read_only_subcommands:
            assert command[1] in read_only_subcommands[command[0]], command
    # The bundle's own readings wait for the probe: none is sent while it measures, where
    # SLOWLOG would show it as a stall of the server's (slowlog-log-slower-than 0 here).
    log = {
        entry["id"]: b" ".join(entry["command"].split()[:3]) for entry in client.slowlog_get(10_000)
    }
    probe_read = max(i for i, c in log.items() if c == b"SLOWLOG GET 32")
    ours = [i for i, c in log.items() if c in (b"CLIENT LIST", b"ACL LIST", b"LATENCY DOCTOR")]
    assert ours and min(ours) > probe_read, (probe_read, ours)


def test_down_and_hung_targets_still_yield_a_bundle(
    cachediag: Any,
    redis_server: Any,
    silent_server: Any,
    closed_port: int,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    timeout = 1.0
    hung_redis = SilentServer()  # accepts, never answers: a hung Redis
    request.addfinalizer(hung_redis.close)
    started = time.monotonic()
    run = cachediag(
        "gather",
        "--redis",
        redis_server.url,
        "--redis",
        f"redis://127.0.0.1:{closed_port}",
        "--redis",
        f"redis://127.0.0.1:{hung_redis.port}",
        "--memcached",
        f"127.0.0.1:{silent_server.port}",
        "--timeout",
        str(timeout),
        "-o",
        str(tmp_path),
        timeout=60,
    )
    elapsed = time.monotonic() - started
    assert run.code == 0, run.err
    assert elapsed < 10 + timeout
    bundle = next(tmp_path.glob("cachediag-*.tar.gz"))
    root = unpack(bundle, tmp_path / "unpacked")
    manifest = json.loads((root / "manifest.json").read_text())
    errors = {e["path"]: e["error"] for e in manifest["files"] if e["error"]}
    assert any(
        p.startswith(f"redis/127.0.0.1_{closed_port}/") and "refused" in e
        for p, e in errors.items()
    )
    hung = {
        p: e
        for p, e in errors.items()
        if p.startswith(f"memcached/127.0.0.1_{silent_server.port}/")
    }
    assert hung and any("timed out after 1s" in e for e in hung.values()), hung
    up = [
        e
        for e in manifest["files"]
        if e["path"].startswith(f"redis/127.0.0.1_{redis_server.port}/")
    ]
    assert up and all(e["error"] is None for e in up if not e["path"].endswith(("acl-list.txt",)))
    statuses = {t["name"]: t["status"] for t in manifest["targets"]}
    assert sorted(statuses.values()) == ["down", "down", "down", "up"]
    hung_files = [
        e for e in manifest["files"] if e["path"].startswith(f"redis/127.0.0.1_{hung_redis.port}/")
    ]
    assert hung_files[0]["error"] == "waiting for the reply timed out after 1s"
    assert all(e["error"].startswith("not sent: ") for e in hung_files[1:]), hung_files
    assert cachediag("verify", str(bundle)).code == 0


def test_size_cap_truncates_and_says_so(cachediag: Any, redis_server: Any, tmp_path: Path) -> None:
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    log = tmp_path / "big.log"
    line = f"{now} WARN cache miss for user:12345 while loading the profile page {'x' * 80}\n"
    log.write_text(line * 6000)  # ~700 KB of cache lines: more than the tail keeps, too
    run = cachediag(
        "gather", "--redis", redis_server.url, "--log", str(log), "--max-size", "200KB",
        "-o", str(tmp_path), "--json",
    )  # fmt: skip
    assert run.code == 0, run.err
    document = run.json()
    jsonschema.validate(document, schema("gather"))
    assert "logs/big.log" in document["truncated"]
    root = unpack(Path(document["bundle"]), tmp_path / "unpacked")
    manifest = json.loads((root / "manifest.json").read_text())
    entry = next(e for e in manifest["files"] if e["path"] == "logs/big.log")
    assert entry["truncated"] is True
    assert (
        (root / "logs" / "big.log")
        .read_text()
        .endswith("[truncated by cachediag gather: size cap]\n")
    )
    total = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    assert total <= 200 * 1024
    assert cachediag("verify", document["bundle"]).code == 0


def test_refuses_a_destination_it_cannot_write(
    cachediag: Any, redis_server: Any, tmp_path: Path
) -> None:
    if os.geteuid() == 0:
        destination = Path("/sys/kernel")  # sysfs: even root cannot create a file there
        before = set(os.listdir(destination))
    else:
        destination = tmp_path / "readonly"
        destination.mkdir()
        destination.chmod(0o500)
        before = set()
    run = cachediag("gather", "--redis", redis_server.url, "-o", str(destination))
    assert run.code == 2
    assert "cannot write the bundle" in run.err and run.err.count("\n") == 1
    assert set(os.listdir(destination)) == before
    missing = cachediag(
        "gather", "--redis", redis_server.url, "-o", str(tmp_path / "no" / "x.tar.gz")
    )
    assert missing.code == 2 and "not a directory" in missing.err


def test_redact_keys_hashes_every_key_name(
    cachediag: Any, redis_factory: Any, tmp_path: Path
) -> None:
    server = redis_factory()
    client = server.client()
    for i in range(5):
        client.set(f"customer:{1000 + i}", "v")
    log = tmp_path / "app.log"
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    log.write_text(f"{now} ERROR cache serialization failed for customer:1002\n")
    run = cachediag(
        "gather", "--redis", server.url, "--log", str(log), "--redact-keys", "-o", str(tmp_path),
    )  # fmt: skip
    assert run.code == 0, run.err
    bundle = next(tmp_path.glob("cachediag-*.tar.gz"))
    root = unpack(bundle, tmp_path / "unpacked")
    files = files_of(root)
    for i in range(5):
        for name, data in files.items():
            assert f"customer:{1000 + i}".encode() not in data, name
    digest = hashlib.sha256(b"customer:1002").hexdigest()[:6]
    assert f"customer:<h:{digest}>".encode() in files["facts.json"]
    assert f"customer:<h:{digest}>".encode() in files["logs/app.log"]
    assert json.loads(files["manifest.json"])["redact_keys"] is True
    offline = cachediag("check", "--from", str(bundle), "--json")
    recorded = json.loads(files["check.json"])
    assert [(r["id"], r["status"]) for r in offline.json()["results"]] == [
        (r["id"], r["status"]) for r in recorded["results"]
    ]


def test_bad_input_is_one_sentence_and_exit_2(
    cachediag: Any, closed_port: int, tmp_path: Path
) -> None:
    target = ("--redis", f"127.0.0.1:{closed_port}")
    existing = tmp_path / "old.tar.gz"
    existing.write_bytes(b"keep me")
    cases = [
        (("gather", *target, "-o", str(existing)), "exists already"),
        (("gather", *target, "-o", str(tmp_path / "bundle.zip")), "a bundle is a .tar.gz"),
        (("gather", *target, "--log", "-", "-o", str(tmp_path)), "not standard input"),
        (("gather", *target, "-o", f"{tmp_path / 'nowhere'}/"), "nowhere: not a directory"),
        (("gather", *target, "--log", str(tmp_path / "nope.log")), "no such file"),
        (("gather", *target, "--max-size", "huge"), "expected a size"),
        (("gather", *target, "--since", "yesterday-ish"), "invalid --since"),
        (("check", "--from", str(existing)), "is not a bundle"),
        (("memory", "--from", str(tmp_path / "missing")), "no such file or folder"),
    ]
    for args, message in cases:
        run = cachediag(*args)
        assert run.code == 2, (args, run.out, run.err)
        assert message in run.err and run.err.count("\n") == 1, (args, run.err)
        assert "Traceback" not in run.err
    assert existing.read_bytes() == b"keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cwd", "old.tar.gz"]
    # As a monitoring plugin, a bundle that is not one is UNKNOWN, said on stdout.
    nagios = cachediag("check", "--from", str(existing), "--format", "nagios")
    assert nagios.code == 3 and nagios.out.startswith("CACHEDIAG UNKNOWN - ")


def test_refused_commands_are_recorded_and_the_rest_collected(
    cachediag: Any, redis_factory: Any, tmp_path: Path
) -> None:
    """An ACL user without CONFIG and ACL: those files name the refusal; a cluster node
    adds CLUSTER INFO and NODES."""
    # The cluster bus on a free port of its own: port + 10000 may be another test's.
    server = redis_factory(
        "--cluster-enabled", "yes", "--cluster-config-file", str(tmp_path / "nodes.conf"),
        "--cluster-port", str(free_port()),
    )  # fmt: skip
    for attempt in range(50):  # a cluster node may answer LOADING for its first moments
        try:
            server.cli("ACL", "SETUSER", "reader", "on", ">readerPw1", "~*", "+@all", "-@admin")
            break
        except subprocess.CalledProcessError:
            if attempt == 49:
                raise
            time.sleep(0.1)
    url = f"redis://reader:readerPw1@127.0.0.1:{server.port}/0"
    run = cachediag("gather", "--redis", url, "-o", str(tmp_path))
    assert run.code == 0, run.err
    root = unpack(next(tmp_path.glob("cachediag-*.tar.gz")), tmp_path / "unpacked")
    manifest = json.loads((root / "manifest.json").read_text())
    by_name = {e["path"].rsplit("/", 1)[-1]: e for e in manifest["files"]}
    for refused in ("config.txt", "acl-list.txt", "slowlog.json"):
        assert by_name[refused]["sha256"] is None, refused
        assert "refused: NOPERM" in by_name[refused]["error"], by_name[refused]
    for kept in ("info-1.txt", "info-2.txt", "dbsize.txt", "cluster-info.txt", "cluster-nodes.txt"):
        assert by_name[kept]["error"] is None and by_name[kept]["bytes"] > 0, kept
    assert "cluster_enabled:1" in (root / by_name["info-1.txt"]["path"]).read_text()
    files = files_of(root)
    assert not any(b"readerPw1" in data for data in files.values())
    readme = files["README.md"].decode()
    assert "not collected: CONFIG GET * refused: NOPERM" in readme
    assert cachediag("verify", str(root)).code == 0
