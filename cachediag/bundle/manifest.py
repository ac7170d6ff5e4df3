"""The bundle's manifest (`cachediag.bundle/v1`): every file with its checksum, and a small
validator of documents against the shipped schema (jsonschema is a development tool
only; `verify` must run wherever cachediag does)."""

from __future__ import annotations

import hashlib
from typing import Any

BUNDLE_SCHEMA = "cachediag.bundle/v1"
MANIFEST = "manifest.json"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}


def _is(value: Any, name: str) -> bool:
    if name in ("integer", "number") and isinstance(value, bool):
        return False
    return isinstance(value, _TYPES[name])


def schema_problems(
    value: Any, schema: dict[str, Any], root: dict[str, Any], at: str = ""
) -> list[str]:
    """Where `value` breaks `schema`: the subset of JSON Schema the bundle schema uses
    (type, const, enum, required, properties, additionalProperties, items, minimum, $ref
    within the document). Other keywords (oneOf, allOf, if/then) are not checked: this is
    a reader's guard against documents it would trip on, not a full validator."""
    where = at or "the manifest"
    if "$ref" in schema:
        if not schema["$ref"].startswith("#/"):
            return []  # another document's schema (logs-v1.json): not followed here
        target: Any = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        return schema_problems(value, target, root, at)
    problems: list[str] = []
    types = schema.get("type")
    if types is not None:
        names = [types] if isinstance(types, str) else types
        if not any(_is(value, name) for name in names):
            return [f"{where}: expected {' or '.join(names)}"]
    if "const" in schema and value != schema["const"]:
        problems.append(f"{where}: expected {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{where}: not one of {schema['enum']}")
    if "minimum" in schema and _is(value, "number") and value < schema["minimum"]:
        problems.append(f"{where}: below {schema['minimum']}")
    if isinstance(value, dict):
        for name in schema.get("required", []):
            if name not in value:
                problems.append(f"{where}: {name} is missing")
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for name, item in value.items():
            if name in properties:
                problems += schema_problems(
                    item, properties[name], root, f"{at}.{name}".lstrip(".")
                )
            elif extra is False:
                problems.append(f"{where}: unexpected field {name}")
            elif isinstance(extra, dict):
                problems += schema_problems(item, extra, root, f"{at}.{name}".lstrip("."))
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            problems += schema_problems(item, schema["items"], root, f"{at}[{index}]")
    return problems


def manifest_problems(document: Any) -> list[str]:
    from cachediag.schemas import schema

    shipped = schema("bundle")
    return schema_problems(document, shipped, shipped)
