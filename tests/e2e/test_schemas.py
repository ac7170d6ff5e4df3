"""Every `--json` document and the facts document against the JSON Schema shipped for it.

For each document: the real command, run against real servers and a target that is down
(and, in-process, a default target with nothing listening: skipped), validates against
its schema, in every variant the code emits (Redis and Memcached rows, errors, modes);
a document broken by one wrong type, one unknown status or one missing field is
rejected, so each schema can fail a test; `COMMAND --json-schema` prints the shipped
file. The facts document (`collect_facts`, and the recorded one) validates too, and the
TypedDicts of cachediag/probes/facts.py name the keys the schema names.
`check --format json` has its own file, tests/test_check_schema.py.
"""

from __future__ import annotations

import copy
import gzip
import json
import typing
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import typer
from referencing import Registry, Resource
from test_app_checks import app_server  # noqa: F401 - the fixture: /metrics and /health
from test_formats import envelope
from test_scan import MARKUP_KEY, seed_types

from cachediag import errors
from cachediag.cli.app import COMMANDS, build_app
from cachediag.logscan.patterns import CATEGORY_NAMES
from cachediag.probes import facts as typed
from cachediag.schemas import FILES, NAMES, schema, schema_documents, schema_text
from cachediag.targets.target import Target

DATA = Path(__file__).resolve().parents[1] / "data"
REGISTRY: Registry = Registry().with_resources(
    (uri, Resource.from_contents(document)) for uri, document in schema_documents().items()
)
DELETE = object()  # a `broken` value: take the field out


def validator(name: str, definition: str | None = None) -> jsonschema.Draft202012Validator:
    """The validator of a document, or of one of its $defs (a row, a line), cross-refs resolved."""
    document = schema(name)
    if definition is not None:
        document = {"$ref": f"{document['$id']}#/$defs/{definition}"}
    return jsonschema.Draft202012Validator(document, registry=REGISTRY)


def assert_valid(name: str, document: Any, definition: str | None = None) -> None:
    problems = [
        f"{list(e.absolute_path)}: {e.message[:200]}"
        for e in validator(name, definition).iter_errors(document)
    ]
    assert not problems, "\n".join(problems)


def assert_rejected(name: str, document: Any, definition: str | None = None) -> None:
    assert not validator(name, definition).is_valid(document), json.dumps(document)[:400]


def broken(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    """A deep copy with the field at `path` set to `value` (or taken out: DELETE)."""
    copied = copy.deepcopy(document)
    holder = copied
    for step in path[:-1]:
        holder = holder[step]
    if value is DELETE:
        del holder[path[-1]]
    else:
        holder[path[-1]] = value
    return copied


def index_of(document: dict[str, Any], **wanted: Any) -> int:
    """The index of the first target row with these fields, e.g. kind="redis", status="up"."""
    for index, row in enumerate(document["targets"]):
        if all(row.get(name) == value for name, value in wanted.items()):
            return index
    raise AssertionError(f"no target with {wanted} in {document['targets']}")


def everywhere(redis_url: str, memcached: str, closed_port: int) -> tuple[str, ...]:
    """A Redis and a Memcached that answer, and one of each that is down."""
    return (
        "--redis",
        redis_url,
        "--redis",
        f"redis://:secret@127.0.0.1:{closed_port}/0",
        "--memcached",
        memcached,
        "--memcached",
        f"127.0.0.1:{closed_port}",
    )


def default_target(kind: str, closed_port: int) -> Target:
    """A default target (what runs without flags probe) with nothing listening: `skipped`."""
    return Target(
        kind=kind, name=f"{kind}://127.0.0.1:{closed_port}", source="default",
        host="127.0.0.1", port=closed_port,
    )  # fmt: skip


def seed(redis_server: Any, memcached_server: Any) -> None:
    r = redis_server.client()
    r.set("user:1", envelope(1), ex=3600)
    r.set("user:2", envelope(2))
    r.set("session:9", "x" * 300, ex=60)
    r.set(MARKUP_KEY, "m")
    r.hset("cart:1", mapping={"a": "1", "b": "2"})
    mc = memcached_server.client()
    for i in range(10):
        mc.set(f"page:{i}", envelope(1) + b"x" * i, expire=600 if i % 2 else 0)


# --- the schemas themselves ----------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_every_schema_is_draft_2020_12_and_names_its_document(name: str) -> None:
    document = schema(name)
    jsonschema.Draft202012Validator.check_schema(document)
    assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert document["title"] == f"cachediag.{name}/v1"
    assert document["$id"].endswith("/" + FILES[name])
    assert document["properties"]["schema"] == {"const": f"cachediag.{name}/v1"}
    assert "schema" in document["required"]
    import cachediag

    # Inside the package directory: the wheel (packages = ["cachediag"]) carries it.
    assert (Path(cachediag.__file__).parent / "schemas" / FILES[name]).is_file()


# Commands that print no document of their own: `demo` runs `check` on throwaway servers
# (what it shows is check's table; `check --json` is check's document).
WITHOUT_JSON = {"demo"}


def test_schema_text_names_the_documents_it_knows() -> None:
    assert set(NAMES) == {*COMMANDS, "facts", "checklist", "bundle"} - WITHOUT_JSON
    with pytest.raises(ValueError, match="known: check, ping"):
        schema_text("no-such-document")


def test_error_kinds_are_the_probe_errors_kinds() -> None:
    """A row's error.kind is a ProbeError's: the schemas list every kind the code can raise."""

    def subclasses(cls: type) -> set[type]:
        return {cls, *(s for sub in cls.__subclasses__() for s in subclasses(sub))}

    kinds = {cls.kind for cls in subclasses(errors.ProbeError)}
    for name in ("ping", "latency", "memory", "ttl", "eviction-policy", "watch", "purge", "facts"):
        assert set(schema(name)["$defs"]["error"]["properties"]["kind"]["enum"]) == kinds, name


def json_commands() -> dict[str, Any]:
    """Every command of the app, as click sees it (the options Typer built)."""
    return dict(typer.main.get_command(build_app()).commands)  # type: ignore[attr-defined]


def test_every_command_with_json_has_json_schema() -> None:
    commands = json_commands()
    assert set(commands) >= WITHOUT_JSON
    for name, command in commands.items():
        flags = {flag for param in command.params for flag in param.opts}
        if name in WITHOUT_JSON:
            assert not {"--json", "--json-schema", "--format"} & flags, name
            continue
        assert "--json" in flags, name
        assert "--json-schema" in flags, name
        option = next(p for p in command.params if "--json-schema" in p.opts)
        assert f"(cachediag.{name}/v1)" in (option.help or ""), name


@pytest.mark.parametrize("name", sorted(set(COMMANDS) - WITHOUT_JSON))
def test_json_schema_prints_exactly_the_shipped_file(cachediag: Any, name: str) -> None:
    run = cachediag(name, "--json-schema")
    assert (run.code, run.err) == (0, "")
    assert run.out == schema_text(name)
    assert json.loads(run.out)["title"] == f"cachediag.{name}/v1"


def test_check_list_json_is_the_checklist_document(cachediag: Any, tmp_path: Path) -> None:
    """`check --list --json` prints the checklist, not a report: its own schema, printed
    by `check --list --json-schema`; with thresholds from cachediag.toml applied."""
    run = cachediag("check", "--list", "--json-schema")
    assert (run.code, run.out) == (0, schema_text("checklist"))
    assert cachediag("check", "--json-schema").out == schema_text("check")
    config = tmp_path / "cachediag.toml"
    config.write_text('[thresholds."redis.hit_rate"]\nwarn_below = 0.5\n')
    listed = cachediag("check", "--list", "--json", "--config", str(config))
    document = listed.json()
    assert_valid("checklist", document)
    assert document["schema"] == "cachediag.checklist/v1"
    hit = next(c for c in document["checks"] if c["id"] == "redis.hit_rate")
    assert hit["thresholds"]["warn_below"] == 0.5
    for path, value in (
        (("checks", 0, "id"), "Redis Hit Rate"),
        (("checks", 0, "remedies"), {"saturated": 3}),
        (("checks", 0, "section"), DELETE),
        (("schema",), "cachediag.check/v1"),
    ):
        assert_rejected("checklist", broken(document, path, value))


def test_json_schema_needs_no_target_and_no_required_argument(
    cachediag: Any, closed_port: int
) -> None:
    """Eager like --help: `logs` without FILE, and nothing is probed (a dead target: exit 0)."""
    assert cachediag("logs", "--json-schema").out == schema_text("logs")
    run = cachediag("ping", "--redis", f"127.0.0.1:{closed_port}", "--json-schema")
    assert (run.code, run.out) == (0, schema_text("ping"))


# --- ping ------------------------------------------------------------------------------


def test_ping(redis_server: Any, memcached_server: Any, closed_port: int, cachediag: Any) -> None:
    from cachediag.probes.ping import ping_one

    run = cachediag(
        "ping", *everywhere(redis_server.url, memcached_server.address, closed_port), "--json"
    )
    document = run.json()
    assert_valid("ping", document)
    assert run.code == 1
    # Like every other document (added within v1: a document without them still validates).
    from cachediag import __version__

    assert list(document)[:3] == ["schema", "version", "generated_at"]
    assert document["version"] == __version__
    assert_valid("ping", {k: v for k, v in document.items() if k in ("schema", "targets")})
    rows = document["targets"]
    assert {(r["kind"], r["status"]) for r in rows} == {
        ("redis", "healthy"),
        ("redis", "unhealthy"),
        ("memcached", "healthy"),
        ("memcached", "unhealthy"),
    }
    for kind in ("redis", "memcached"):
        skipped = ping_one(default_target(kind, closed_port), 2.0)
        assert skipped["status"] == "skipped"
        assert_valid("ping", skipped, "target")

    up = index_of(document, kind="redis", status="healthy")
    down = index_of(document, kind="redis", status="unhealthy")
    for path, value in (
        (("targets", up, "status"), "ok"),
        (("targets", up, "latency_us"), "0.2 ms"),
        (("targets", up, "error"), {"kind": "refused", "message": "healthy with an error?"}),
        (("targets", up, "version"), DELETE),
        (("targets", down, "error"), None),
        (("targets", down, "error", "kind"), "nope"),
        (("schema",), "cachediag.ping/v2"),
        (("generated_at",), "yesterday"),
        (("version",), ""),
    ):
        assert_rejected("ping", broken(document, path, value))


# --- latency ---------------------------------------------------------------------------


def test_latency(
    redis_server: Any, memcached_server: Any, closed_port: int, cachediag: Any
) -> None:
    run = cachediag(
        "latency",
        *everywhere(redis_server.url, memcached_server.address, closed_port),
        "--json",
        "--samples",
        "5",
        "--interval",
        "5",
        "--dist",
        "--history",
        "0.1",
    )
    document = run.json()
    assert_valid("latency", document)
    assert run.code == 1  # the down ones
    up = index_of(document, kind="redis", status="up")
    memcached = index_of(document, kind="memcached", status="up")
    down = index_of(document, kind="redis", status="down")
    assert document["targets"][up]["history"] and document["targets"][up]["histogram"]
    assert document["targets"][memcached]["connect"]["command"] in ("mn", "version")
    assert document["targets"][down]["connect"] is None

    plain = cachediag("latency", "--redis", redis_server.url, "--json", "--samples", "3").json()
    assert_valid("latency", plain)
    assert "history" not in plain["targets"][0] and "histogram" not in plain["targets"][0]

    for path, value in (
        (("targets", up, "summary", "p50_us"), "1 ms"),
        (("targets", up, "verdict", "band"), "fine"),
        (("targets", up, "verdict"), None),  # a summary always comes with its verdict
        (("targets", up, "connect"), None),
        (("targets", up, "connect", "command"), "GET"),
        (("targets", up, "history", 0, "at"), DELETE),
        (("targets", down, "error"), None),
        (("targets", down, "summary"), DELETE),
        (("interval_ms",), -1),
    ):
        assert_rejected("latency", broken(document, path, value))


# --- memory ----------------------------------------------------------------------------


def test_memory(redis_server: Any, memcached_server: Any, closed_port: int, cachediag: Any) -> None:
    from cachediag.checks.judge import Judge
    from cachediag.server.memory import build

    seed(redis_server, memcached_server)
    run = cachediag(
        "memory",
        *everywhere(redis_server.url, memcached_server.address, closed_port),
        "--json",
        "--sample-keys",
        "50",
    )
    document = run.json()
    assert_valid("memory", document)
    redis = index_of(document, kind="redis", status="up")
    memcached = index_of(document, kind="memcached", status="up")
    down = index_of(document, kind="memcached", status="down")
    assert document["targets"][memcached]["slabs"], "seeded items fill a slab class"
    assert document["targets"][redis]["databases"][0]["db"] == "db0"
    skipped = build(default_target("redis", closed_port), 2.0, 10, Judge.load())
    assert skipped["status"] == "skipped"
    assert_valid("memory", skipped, "target")

    for path, value in (
        (("targets", redis, "readings"), DELETE),
        (("targets", redis, "memory_stats_all"), DELETE),
        (("targets", redis, "readings", 0, "verdict", "status"), "ok"),
        (("targets", redis, "readings", 0, "value"), [1]),
        (("targets", redis, "databases", 0, "db"), "zero"),
        (("targets", memcached, "slabs"), DELETE),
        (("targets", memcached, "slabs", 0, "full"), "no"),
        (("targets", memcached, "projection"), "5 GB"),
        (("targets", down, "error"), None),
        (("targets", down, "status"), "unknown"),
    ):
        assert_rejected("memory", broken(document, path, value))


# --- ttl -------------------------------------------------------------------------------


def test_ttl_keyspace_and_keys(
    redis_server: Any, memcached_server: Any, closed_port: int, cachediag: Any
) -> None:
    from cachediag.checks.judge import Judge
    from cachediag.keyspace.ttl import keyspace_report

    seed(redis_server, memcached_server)
    targets = everywhere(redis_server.url, memcached_server.address, closed_port)
    keyspace = cachediag("ttl", *targets, "--json").json()
    assert_valid("ttl", keyspace)
    assert keyspace["mode"] == "keyspace"
    redis = index_of(keyspace, kind="redis", status="up")
    memcached = index_of(keyspace, kind="memcached", status="up")
    assert keyspace["targets"][redis]["sampled"] >= 5
    assert keyspace["targets"][memcached]["buckets"]["no expiry"] == 5
    skipped = keyspace_report(default_target("redis", closed_port), 2.0, 10, None, Judge.load())
    assert skipped["status"] == "skipped"
    assert_valid("ttl", skipped, "target")

    # Memcached keys: one that exists, one that does not, one it cannot hold (a space).
    keys = cachediag("ttl", "user:1", "page:1", "nope", "bad key", *targets, "--json").json()
    assert_valid("ttl", keys)
    assert keys["mode"] == "keys"
    by_key = {k["key"]: k for k in keys["targets"][index_of(keys, kind="memcached")]["keys"]}
    assert (by_key["page:1"]["type"], by_key["nope"]["ttl"], by_key["bad key"]["ttl"]) == (
        "item",
        -2,
        None,
    )

    for document, path, value in (
        (keyspace, ("mode",), "all"),
        (keyspace, ("mode",), "keys"),  # the document's mode is its rows' mode
        (keyspace, ("targets", redis, "buckets", "no expiry"), DELETE),
        (keyspace, ("targets", redis, "verdict", "check"), "redis.memory"),
        (keyspace, ("targets", redis, "databases"), DELETE),
        (keyspace, ("targets", memcached, "complete"), "yes"),
        (keys, ("targets", 0, "keys", 0, "ttl"), "3600"),
        (keys, ("targets", 0, "keys"), DELETE),
        (keys, ("targets", 0, "mode"), DELETE),
    ):
        assert_rejected("ttl", broken(document, path, value))


# --- eviction-policy -------------------------------------------------------------------


def test_eviction_policy_read_and_set(
    redis_factory: Any, memcached_server: Any, closed_port: int, cachediag: Any
) -> None:
    from cachediag.checks.judge import Judge
    from cachediag.server.eviction import read

    redis = redis_factory("--maxmemory-policy", "noeviction")
    targets = everywhere(redis.url, memcached_server.address, closed_port)
    shown = cachediag("eviction-policy", *targets, "--json").json()
    assert_valid("eviction-policy", shown)
    up = index_of(shown, kind="redis", status="up")
    memcached = index_of(shown, kind="memcached", status="up")
    assert shown["targets"][up]["fix"], "noeviction and no maxmemory: there is a fix to show"
    assert "set" not in shown
    skipped = read(default_target("memcached", closed_port), 2.0, Judge.load())
    assert skipped["status"] == "skipped"
    assert_valid("eviction-policy", skipped, "target")

    changed = cachediag(
        "eviction-policy", "--redis", redis.url, "--set", "allkeys-lru", "--maxmemory", "64mb",
        "--yes", "--json",
    ).json()  # fmt: skip
    assert_valid("eviction-policy", changed)
    outcome = changed["targets"][0]["outcome"]
    assert outcome["verified"] and outcome["applied"] == ["maxmemory-policy", "maxmemory"]
    assert changed["set"] == {"policy": "allkeys-lru", "maxmemory": 64 * 2**20, "rewrite": False}

    for document, path, value in (
        (shown, ("targets", up, "verdicts", 0, "check"), "redis.hit_rate"),
        (shown, ("targets", up, "maxmemory"), "0"),
        (shown, ("targets", up, "config_available"), DELETE),
        (shown, ("targets", memcached, "restart_flags"), DELETE),
        (shown, ("targets", memcached, "restart_flags", "-M"), "off"),
        (changed, ("set", "policy"), "lru"),
        (changed, ("targets", 0, "outcome", "verified"), "yes"),
        (changed, ("targets", 0, "outcome", "changes", 0, "parameter"), "maxclients"),
    ):
        assert_rejected("eviction-policy", broken(document, path, value))


# --- watch -----------------------------------------------------------------------------


def test_watch_every_line(
    redis_server: Any, memcached_server: Any, closed_port: int, cachediag: Any
) -> None:
    from cachediag.server.watch import Poller

    run = cachediag(
        "watch",
        *everywhere(redis_server.url, memcached_server.address, closed_port),
        "--json",
        "--count",
        "2",
        "--interval",
        "0.2",
    )
    lines = [json.loads(line) for line in run.out.splitlines()]
    assert [line["type"] for line in lines] == ["interval", "interval", "summary"]
    for line in lines:
        assert_valid("watch", line)
    interval, summary = lines[0], lines[-1]
    assert {r["status"] for r in interval["targets"]} == {"up", "down"}
    poller = Poller(Target("redis", redis_server.url, "flag", "127.0.0.1", redis_server.port), 2)
    try:
        priming = poller.poll()  # the first poll after start (or a failure) only primes
    finally:
        poller.close()
    assert priming["status"] == "priming"
    assert_valid("watch", priming, "poll")

    up = index_of(interval, kind="redis", status="up")
    down = index_of(interval, kind="redis", status="down")
    name = interval["targets"][up]["target"]
    for line, path, value in (
        (interval, ("type",), "tick"),
        (interval, ("at",), DELETE),
        (interval, ("targets", up, "status"), "waiting"),
        (interval, ("targets", up, "ops_per_sec"), DELETE),
        (interval, ("targets", up, "hit_rate"), 1.5),
        (interval, ("targets", down, "error"), None),
        (summary, ("targets", name, "failed_polls"), DELETE),
        (summary, ("targets", name, "memory_max"), "1 MB"),
        (summary, ("targets",), []),
    ):
        assert_rejected("watch", broken(line, path, value))


# --- bigkeys and inspect (their schemas predate this file; their own tests hold more) ---


def test_bigkeys(
    redis_server: Any, memcached_server: Any, closed_port: int, cachediag: Any
) -> None:
    seed_types(redis_server)
    seed(redis_server, memcached_server)
    run = cachediag(
        "bigkeys", *everywhere(redis_server.url, memcached_server.address, closed_port), "--json"
    )
    document = run.json()
    assert_valid("bigkeys", document)
    memcached = index_of(document, kind="memcached", status="up")
    down = index_of(document, kind="redis", status="down")
    assert document["targets"][memcached]["slab_classes"]
    for path, value in (
        (("targets", memcached, "slab_classes", 0, "items"), "3"),
        (("targets", memcached, "top", 0, "key"), DELETE),
        (("targets", down, "error"), DELETE),
        (("targets", down, "kind"), "mysql"),
    ):
        assert_rejected("bigkeys", broken(document, path, value))


def test_inspect_sample_and_keys(
    redis_server: Any, memcached_server: Any, closed_port: int, cachediag: Any
) -> None:
    seed(redis_server, memcached_server)
    targets = everywhere(redis_server.url, memcached_server.address, closed_port)
    sample = cachediag("inspect", *targets, "--json").json()
    assert_valid("inspect", sample)
    assert {(r["kind"], r["status"]) for r in sample["targets"]} >= {
        ("redis", "up"),
        ("memcached", "up"),
        ("redis", "down"),
    }
    keys = cachediag("inspect", "user:1", "nope", "--redis", redis_server.url, "--json").json()
    assert_valid("inspect", keys)
    assert [k["exists"] for k in keys["targets"][0]["keys"]] == [True, False]
    redis = index_of(sample, kind="redis", status="up")
    for document, path, value in (
        (sample, ("mode",), "all"),
        (sample, ("targets", redis, "totals"), DELETE),
        (keys, ("targets", 0, "keys", 0, "exists"), "yes"),
        (keys, ("targets", 0, "keys", 0, "envelope", "state"), "broken"),
    ):
        assert_rejected("inspect", broken(document, path, value))


# --- logs ------------------------------------------------------------------------------

LOG = (
    "2024-01-15T10:00:00Z GET user:1 Cache MISS\n"
    "2024-01-15T10:00:00.250Z serialization failed for user:2: invalid magic header\n"
    "2024-01-15T10:01:00Z Backend error: connection refused (user:3)\n"
    "2024-01-15T10:01:01Z using fallback for user:3\n"
    "no timestamp: pool exhausted for session:9\n"
    "2024-01-15T10:02:00Z FLUSHDB by admin\n"
)


def test_logs(cachediag: Any, tmp_path: Path) -> None:
    plain = tmp_path / "app.log"
    plain.write_text(LOG)
    packed = tmp_path / "app.log.1.gz"
    packed.write_bytes(gzip.compress(LOG.encode()))
    run = cachediag("logs", str(plain), str(packed), "-", "--json", input=LOG)
    document = run.json()
    assert_valid("logs", document)
    assert [s["kind"] for s in document["sources"]] == ["file", "gzip", "stdin"]
    assert set(document["categories"]) == set(CATEGORY_NAMES)
    assert document["categories"]["serialization"]["samples"][0]["time"].endswith(".250Z")
    windowed = cachediag("logs", str(plain), "--since", "2024-01-15T10:01:00Z", "--json").json()
    assert_valid("logs", windowed)
    assert windowed["window"]["since"] == "2024-01-15T10:01:00Z"

    for path, value in (
        (("categories", "hit"), DELETE),
        (("counts", "miss"), DELETE),
        (("categories", "miss", "severity"), "debug"),
        (("categories", "miss", "histogram"), {"10:00": 1}),
        (("categories", "serialization", "samples", 0, "offset"), "0"),
        (("sources", 0, "kind"), "zip"),
        (("generated_at",), "now"),
        (("engine", "search"), "grep"),
        (("fallback_proximity",), DELETE),
    ):
        assert_rejected("logs", broken(document, path, value))


# --- refusals, in every document -------------------------------------------------------


@pytest.fixture
def refusing(redis_factory: Any, memcached_factory: Any) -> tuple[str, ...]:
    """Targets that answer but refuse: a password not given (auth), a user without CONFIG,
    SCAN, MEMORY and GETRANGE (ACL), a Memcached without its LRU crawler."""
    locked = redis_factory(password="s3cret")
    limited = redis_factory()
    limited.cli(
        "ACL", "SETUSER", "limited", "on", ">pw", "~*", "+@all",
        "-config", "-scan", "-memory", "-getrange",
    )  # fmt: skip
    limited.cli("SET", "user:1", "v")
    crawlerless = memcached_factory("-o", "no_lru_crawler")
    return (
        "--redis", f"redis://127.0.0.1:{locked.port}/0",
        "--redis", f"redis://limited:pw@127.0.0.1:{limited.port}/0",
        "--memcached", crawlerless.address,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("command", "extra"),
    [
        ("ping", ()),
        ("latency", ("--samples", "3")),
        ("memory", ()),
        ("ttl", ()),
        ("ttl", ("user:1",)),
        ("eviction-policy", ()),
        ("eviction-policy", ("--set", "allkeys-lru", "--yes")),
        ("bigkeys", ()),
        ("inspect", ()),
        ("watch", ("--count", "1", "--interval", "0.2")),
    ],
)
def test_refusals_validate(
    refusing: tuple[str, ...], cachediag: Any, command: str, extra: tuple[str, ...]
) -> None:
    run = cachediag(command, *refusing, *extra, "--json")
    lines = run.out.splitlines() if command == "watch" else [run.out]
    for line in lines:
        assert_valid(command, json.loads(line))
    first = json.loads(lines[0])["targets"]
    assert first[0]["error"]["kind"] == "auth", first[0]


def test_refusals_in_the_facts(refusing: tuple[str, ...]) -> None:
    from cachediag.probes.collect import collect_facts
    from cachediag.targets.parse import TargetRequest, resolve_targets

    targets = resolve_targets(
        TargetRequest(redis_flags=refusing[1:4:2], memcached_flags=(refusing[5],))
    )
    facts = json.loads(json.dumps(collect_facts(targets, 2.0, 100, host=False)))
    assert_valid("facts", facts)
    locked, limited, crawlerless = facts["targets"]
    assert (locked["status"], locked["ping"]["error"]["kind"]) == ("down", "auth")
    assert limited["config"]["available"] is False and "NOPERM" in limited["sample"]["error"]
    assert crawlerless["sample"]["crawler"] is False and crawlerless["sample"]["error"]


# --- the facts document ----------------------------------------------------------------


@pytest.fixture
def real_facts(
    redis_server: Any,
    memcached_server: Any,
    closed_port: int,
    silent_server: Any,
    app_server: str,  # noqa: F811 - the fixture imported above
    tmp_path: Path,
) -> dict[str, Any]:
    """collect_facts over every kind of target, the host and every application source."""
    from cachediag.probes.app import AppSources
    from cachediag.probes.collect import collect_facts
    from cachediag.targets.parse import TargetRequest, resolve_targets

    seed(redis_server, memcached_server)
    log = tmp_path / "app.log"
    log.write_text(LOG)
    targets = resolve_targets(
        TargetRequest(
            redis_flags=(
                redis_server.url,
                f"redis://:secret@127.0.0.1:{closed_port}/0",
                f"127.0.0.1:{silent_server.port}",
            ),
            memcached_flags=(memcached_server.address, f"127.0.0.1:{closed_port}"),
        )
    )
    sources = AppSources(
        logs=(str(log),),
        metrics_url=f"{app_server}/ok/metrics",
        health_url=f"{app_server}/healthy/health",
    )
    facts = collect_facts(targets, 0.5, 100, host=True, app=sources)
    return json.loads(json.dumps(facts))  # as a bundle would carry it


def test_collect_facts_real_output_validates(real_facts: dict[str, Any]) -> None:
    assert_valid("facts", real_facts)
    rows = real_facts["targets"]
    assert {(t["kind"], t["status"]) for t in rows} == {
        ("redis", "up"),
        ("redis", "down"),
        ("memcached", "up"),
        ("memcached", "down"),
    }
    assert {t["ping"]["error"]["kind"] for t in rows if t["status"] == "down"} == {
        "refused",
        "timeout",
    }
    redis = rows[index_of(real_facts, kind="redis", status="up")]
    memcached = rows[index_of(real_facts, kind="memcached", status="up")]
    assert redis["sample"]["keys"] and memcached["sample"]["keys"]
    app = real_facts["app"]
    assert app["metrics"]["ok"] and app["health"]["body_status"] == "healthy"
    assert app["logs"]["scan"]["schema"] == "cachediag.logs/v1"
    assert app["schema_versions"]["entries"] >= 2


def test_facts_of_a_skipped_target_and_of_no_host_or_app(closed_port: int) -> None:
    from cachediag.probes.collect import collect_facts, probe_target

    for kind in ("redis", "memcached"):
        row = probe_target(default_target(kind, closed_port), 0.5, 10)
        assert row["status"] == "skipped"
        assert_valid("facts", row, "target")
    bare = collect_facts([], 0.5, host=False)
    assert_valid("facts", json.loads(json.dumps(bare)))
    assert (bare["host"], bare["app"], bare["targets"]) == (None, None, [])


def test_the_recorded_facts_validate() -> None:
    recorded = json.loads((DATA / "recorded_noeviction_facts.json").read_text())
    assert_valid("facts", recorded)


def test_broken_facts_are_rejected(real_facts: dict[str, Any]) -> None:
    redis = index_of(real_facts, kind="redis", status="up")
    memcached = index_of(real_facts, kind="memcached", status="up")
    down = index_of(real_facts, kind="redis", status="down")
    # A probe that broke off half-way (errors.probe) may leave out what it had not read yet.
    half = broken(real_facts, ("targets", redis, "errors"), {"probe": "connection lost"})
    assert_valid("facts", broken(half, ("targets", redis, "info"), DELETE))
    for path, value in (
        (("schema",), "cachediag.facts/v2"),
        (("host",), DELETE),
        (("targets", redis, "status"), "maybe"),
        (("targets", redis, "info"), DELETE),
        (("targets", redis, "info", "server"), DELETE),
        (("targets", redis, "ping", "ok"), False),
        (("targets", redis, "sample", "keys", 0, "ttl_ms"), "3600"),
        (("targets", redis, "sample", "keys", 0, "head_hex"), "not hex"),
        (("targets", redis, "config", "values", "maxmemory"), 67108864),
        (("targets", memcached, "sample", "crawler"), DELETE),
        (("targets", memcached, "sample", "keys", 0, "size"), "1k"),
        (("targets", memcached, "stats"), DELETE),
        (("targets", down, "ping", "error"), None),
        (("targets", down, "connect", "error", "kind"), "gone"),
        (("host", "cpu", "percent"), "high"),
        (("host", "memory", "total_bytes"), DELETE),
        (("host", "jitter", 0, "p99_us"), 1.5),
        (("app", "metrics", "ok"), "yes"),
        (("app", "health", "error"), {"kind": "refused"}),
        (("app", "logs", "scan", "categories"), DELETE),  # checked by logs-v1.json
        (("app", "schema_versions", "namespaces"), []),
    ):
        assert_rejected("facts", broken(real_facts, path, value))


# --- the typed facts name what the schema names ---------------------------------------


def keys_of(typed_dict: Any) -> tuple[set[str], set[str]]:
    return set(typed_dict.__required_keys__), set(typed_dict.__optional_keys__)


def test_the_typed_facts_and_the_schema_agree() -> None:
    defs = schema("facts")["$defs"]
    target, host, app = defs["target"], defs["host"], defs["app"]
    endpoint = defs["endpoint"]

    def object_of(node: dict[str, Any]) -> dict[str, Any]:
        """The object branch of a `null or object` node."""
        for branch in node.get("oneOf", [node]):
            if branch.get("type") != "null":
                return branch
        raise AssertionError(node)

    metrics = object_of(app["properties"]["metrics"])
    health = object_of(app["properties"]["health"])
    pairs: list[tuple[Any, dict[str, Any], set[str]]] = [
        (typed.FactsDocument, schema("facts"), set()),
        (typed.ErrorFacts, defs["error"], set()),
        (typed.ConnectFacts, target["properties"]["connect"], set()),
        (typed.PingFacts, target["properties"]["ping"], set()),
        (typed.ConfigFacts, defs["redis"]["properties"]["config"], set()),
        (typed.RedisSample, defs["redis"]["properties"]["sample"], set()),
        (
            typed.RedisKeySample,
            defs["redis"]["properties"]["sample"]["properties"]["keys"]["items"],
            set(),
        ),
        (typed.MemcachedSample, defs["memcached"]["properties"]["sample"], set()),
        (
            typed.MemcachedKeySample,
            defs["memcached"]["properties"]["sample"]["properties"]["keys"]["items"],
            set(),
        ),
        (typed.SystemFacts, target["properties"]["system"], set()),
        (typed.SystemDocument, schema("facts")["properties"]["systems"]["items"], set()),
        (
            typed.SentinelAnswer,
            schema("facts")["properties"]["systems"]["items"]["properties"]["sentinels"]["items"],
            set(),
        ),
        (typed.ClusterFacts, defs["redis"]["properties"]["cluster"], set()),
        (
            typed.ClusterNodeFacts,
            defs["redis"]["properties"]["cluster"]["properties"]["nodes"]["items"],
            set(),
        ),
        (typed.HostFacts, host, set()),
        (typed.LogsFacts, object_of(app["properties"]["logs"]), set()),
        (typed.SchemaVersions, app["properties"]["schema_versions"], set()),
        (typed.AppFacts, app, set()),
        (typed.MetricsFacts, metrics, set(endpoint["required"])),
        (typed.HealthFacts, health, set(endpoint["required"])),
    ]
    for name in ("cpu", "memory", "load", "oom", "net", "tcp", "kernel"):
        hint = typing.get_type_hints(typed.HostFacts)[name]
        pairs.append((hint, host["properties"][name], set()))
    for name, item in (("disks", "DiskFacts"), ("local_redis", "LocalRedis"), ("jitter", None)):
        td = getattr(typed, item) if item else typed.JitterFacts
        pairs.append((td, host["properties"][name]["items"], set()))
    for td, node, inherited in pairs:
        required, optional = keys_of(td)
        shown = set(node.get("required", [])) | inherited
        assert required == shown, (td.__name__, required ^ shown)
        properties = set(node.get("properties", {}))
        if inherited:
            properties |= set(endpoint["properties"])
        assert required | optional == properties, (td.__name__, (required | optional) ^ properties)

    common = set(target["required"])
    for td, kind in ((typed.RedisFacts, "redis"), (typed.MemcachedFacts, "memcached")):
        required, optional = keys_of(td)
        assert required == common, td.__name__
        kind_only = set(defs[kind]["properties"])
        assert optional == kind_only | (set(target["properties"]) - common), td.__name__
        # Keys added within v1 are not required: a bundle written before them lacks them.
        added = (
            {"window", "stalls", "memory_doctor", "memory_stats", "cluster"}
            if kind == "redis"
            else set()
        )
        assert set(defs[kind]["then"]["required"]) == kind_only - added, td.__name__
