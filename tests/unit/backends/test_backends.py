"""One backend per kind: the cores never compare a kind, and a kind of many nodes needs no core."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from cachediag import backends
from cachediag.backends import BACKENDS, Backend, backend_for, expand
from cachediag.backends.redis import RedisBackend
from cachediag.errors import UsageError
from cachediag.targets.parse import parse_memcached, parse_redis
from cachediag.targets.target import Target

PACKAGE = Path(backends.__file__).resolve().parent.parent
# The command cores: they ask backend_for(target) and never decide by kind themselves.
CORES = [
    *sorted((PACKAGE / "keyspace").glob("*.py")),
    *sorted((PACKAGE / "server").glob("*.py")),
    *sorted((PACKAGE / "purge").glob("*.py")),
    PACKAGE / "probes" / "collect.py",
    PACKAGE / "probes" / "ping.py",
]
KINDS = {"redis", "memcached"}


def kind_comparisons(source: str) -> list[int]:
    """Lines comparing anything to a kind name ("redis", "memcached"), alone or in a tuple."""

    def constants(node: ast.expr) -> set[object]:
        if isinstance(node, ast.Constant):
            return {node.value}
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            return {e.value for e in node.elts if isinstance(e, ast.Constant)}
        return set()

    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            if any(constants(side) & KINDS for side in (node.left, *node.comparators)):
                lines.append(node.lineno)
        elif isinstance(node, ast.MatchValue) and constants(node.value) & KINDS:
            lines.append(node.lineno)
    return lines


def test_the_checker_sees_every_form_of_a_kind_branch() -> None:
    branches = (
        'if target.kind == "redis": pass\n'
        'if "memcached" != facts["kind"]: pass\n'
        'x = kind in ("redis", "other")\n'
        'match kind:\n    case "memcached": pass\n'
    )
    assert kind_comparisons(branches) == [1, 2, 3, 5]
    assert kind_comparisons('judge(f"{backend.kind}.ttl")\nrows = {"redis": 1}\n') == []


@pytest.mark.parametrize("path", CORES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_no_core_branches_on_kind(path: Path) -> None:
    assert kind_comparisons(path.read_text()) == [], (
        f"{path.name} decides by kind: ask backends.backend_for(target) instead"
    )


def test_every_kind_has_its_backend() -> None:
    assert set(BACKENDS) == KINDS
    for kind, backend in BACKENDS.items():
        assert isinstance(backend, Backend) and backend.kind == kind
    redis = parse_redis("redis://127.0.0.1:6379/0", "flag")
    memcached = parse_memcached("127.0.0.1:11211", "flag")
    assert backend_for(redis).kind == "redis" and backend_for("memcached").kind == "memcached"
    assert expand([redis, memcached]) == [redis, memcached]  # a single server is its own node
    with pytest.raises(ValueError, match="no backend"):
        backend_for("couchbase")


def test_key_names_are_checked_by_the_kind_that_carries_them() -> None:
    backend_for("redis").check_keys([b"a key\r\nflush_all"])  # Redis carries any bytes
    with pytest.raises(UsageError, match="not a valid Memcached key"):
        backend_for("memcached").check_keys([b"user:1", b"a key\r\nflush_all"])


class PairBackend(RedisBackend):
    """A kind of several nodes, as a cluster or a pool will be: here, two real servers."""

    def __init__(self, second: Target) -> None:
        self.second = second

    def nodes(self, target: Target, timeout: float) -> list[Target]:
        return [target, self.second]


def test_a_kind_of_several_nodes_needs_no_core_to_change(
    monkeypatch: pytest.MonkeyPatch, redis_factory: Any
) -> None:
    """Each node of an expanded target is read by the unchanged cores, through the CLI."""
    from cachediag.cli.commands.bigkeys import bigkeys
    from cachediag.cli.commands.ping import ping

    first, second = redis_factory(), redis_factory()
    first.client().set("only:on:first", "x")
    second.client().mset({"second:1": "x", "second:2": "y"})
    monkeypatch.setitem(
        BACKENDS,  # type: ignore[arg-type]
        "redis",
        PairBackend(parse_redis(second.url, "flag")),
    )
    app = typer.Typer()
    app.command()(ping)
    app.command()(bigkeys)
    runner = CliRunner()

    pinged = runner.invoke(app, ["ping", "--redis", first.url, "--json"])
    assert pinged.exit_code == 0, pinged.output
    rows = json.loads(pinged.stdout)["targets"]
    assert [row["target"] for row in rows] == [
        f"redis://127.0.0.1:{first.port}/0",
        f"redis://127.0.0.1:{second.port}/0",
    ]
    assert {row["status"] for row in rows} == {"healthy"}

    scanned = runner.invoke(app, ["bigkeys", "--redis", first.url, "--json", "--no-progress"])
    assert scanned.exit_code == 0, scanned.output
    keys = [row["totals"]["keys"] for row in json.loads(scanned.stdout)["targets"]]
    assert keys == [1, 2]
