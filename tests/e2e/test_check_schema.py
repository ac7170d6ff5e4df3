"""The shipped JSON schema of `cachediag check --format json` (cachediag.check/v1).

Real output is validated against it, and so is the shared report with every status;
documents that break the contract are rejected (so the schema can fail a test), and the
schema and the code cannot drift apart silently.
"""

from __future__ import annotations

import copy
import json
from dataclasses import fields
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from test_formats import recorded_facts

from cachediag.checks.checklist import load_checklist
from cachediag.checks.evaluate import Result, evaluate
from cachediag.checks.registry import RULES
from cachediag.render import json_format
from cachediag.schemas import CHECK_SCHEMA_FILE, check_schema_text


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    document = json.loads(check_schema_text())
    jsonschema.Draft202012Validator.check_schema(document)
    return document


def test_the_schema_ships_inside_the_package() -> None:
    shipped = resources.files("cachediag.schemas").joinpath(CHECK_SCHEMA_FILE)
    assert shipped.is_file()
    # Inside the package directory: hatchling's wheel (packages = ["cachediag"]) carries it.
    import cachediag

    package_dir = Path(cachediag.__file__).parent
    assert (package_dir / "schemas" / CHECK_SCHEMA_FILE).is_file()


def test_json_schema_option_prints_the_shipped_file(cachediag: Any, tmp_path: Path) -> None:
    run = cachediag("check", "--json-schema")
    assert run.code == 0 and run.err == ""
    assert run.out == check_schema_text()
    assert json.loads(run.out)["title"] == "cachediag.check/v1"
    out = tmp_path / "schema.json"
    assert cachediag("check", "--json-schema", "-o", str(out)).code == 0
    assert out.read_text(encoding="utf-8") == check_schema_text()


def test_the_shared_report_with_every_status_validates(schema: dict[str, Any]) -> None:
    report = evaluate(load_checklist(), recorded_facts())
    document = json.loads(json_format.render(report))
    jsonschema.validate(document, schema)
    assert {r["status"] for r in document["results"]} == {"pass", "warn", "fail", "skip", "error"}


def test_real_output_validates(
    redis_server: Any,
    memcached_server: Any,
    closed_port: int,
    cachediag: Any,
    schema: dict[str, Any],
) -> None:
    redis_server.cli("SET", "user:1", "x")
    run = cachediag(
        "check",
        "--redis",
        redis_server.url,
        "--redis",
        f"redis://:pw@127.0.0.1:{closed_port}/0",
        "--memcached",
        memcached_server.address,
        "--format",
        "json",
    )
    document = run.json()
    jsonschema.validate(document, schema)
    assert {t["status"] for t in document["targets"]} == {"up", "down"}
    assert document["summary"]["exit_code"] == run.code == 1
    assert {r["target"] for r in document["results"]} >= {"host", "app"}


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("results", 0, "status"), "ok"),
        (("results", 0, "id"), "mysql.hit_rate"),
        (("targets", 0, "kind"), "mysql"),
        (("targets", 0, "status"), "maybe"),
        (("summary", "exit_code"), 2),
        (("schema",), "cachediag.check/v2"),
        (("generated_at",), "yesterday"),
        (("results", 0, "observed"), []),
    ],
)
def test_broken_documents_are_rejected(
    schema: dict[str, Any], path: tuple[Any, ...], value: Any
) -> None:
    report = evaluate(load_checklist(), recorded_facts())
    document = json.loads(json_format.render(report))
    jsonschema.validate(document, schema)
    broken = copy.deepcopy(document)
    node = broken
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


@pytest.mark.parametrize("field", ["summary", "remedy", "thresholds"])
def test_missing_result_fields_are_rejected(schema: dict[str, Any], field: str) -> None:
    document = json.loads(json_format.render(evaluate(load_checklist(), recorded_facts())))
    del document["results"][0][field]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, schema)


def test_schema_and_code_agree(schema: dict[str, Any]) -> None:
    result_def = schema["$defs"]["result"]
    assert set(result_def["required"]) == {f.name for f in fields(Result)}
    validator = jsonschema.Draft202012Validator(result_def["properties"]["id"])
    for check_id in RULES:
        assert validator.is_valid(check_id), check_id
    assert set(schema["$defs"]["status"]["enum"]) == {"pass", "warn", "fail", "skip", "error"}
