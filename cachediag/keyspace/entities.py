"""Entity layouts from cachediag.toml, and the full decode of a cache-kit entry against one.

    [entities."user"]                       # keys user:<id> (the CacheKeyBuilder prefix)
    fields = ["id: u64", "name: string", "email: string"]

    [entities."product"]
    versions = { 1 = ["string", "string", "f64", "bool"], 2 = ["string", "string", "i64", "bool"] }

An entity is named by its key prefix (keys `<prefix>:<id>`, longest prefix wins) or by a
namespace as cachediag prints it (`user:*:*`). `fields` describes every schema version,
`versions` one each (and wins over `fields` for its version). A field is a postcard type,
optionally named (`"name: string"`) so a failure names it. This is the guide's Issue 4
Step 3 ("check entity definition") done by the tool: an entry that the app would fail
to deserialize is found, and the first field that does not decode is named.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from cachediag.errors import UsageError
from cachediag.keyspace import envelope, postcard
from cachediag.keyspace.postcard import PType, TypeSyntaxError

# A value is read whole for a full decode only up to this size (STRLEN first, then a
# GETRANGE bounded by it: never an unbounded GET).
WHOLE_VALUE_LIMIT = 64 * 1024
# Per target and run, at most this many values are read whole, and this many bytes.
MAX_WHOLE_READS = 1000
MAX_WHOLE_BYTES = 16 * 1024 * 1024

_NAMED_FIELD = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*:(?!:)\s*(.+)$")
_ENTITY_KEYS = ("fields", "versions")
USAGE = '[entities."user"] fields = ["u64", "string", "string"]'

# Outcome states of a full decode
OK = "ok"  # every field decodes and nothing is left over
BROKEN = "broken"  # a field does not decode: the app fails to deserialize this entry
TRAILING = "trailing"  # every field decodes, bytes are left over (postcard ignores them)
NO_LAYOUT = "no_layout"  # the entity has no layout for this entry's schema version
NOT_READ = "not_read"  # the value was not read whole (too large, over the budget)


@dataclass(frozen=True)
class Field:
    name: str | None
    type: PType

    def label(self, index: int) -> str:
        """'field 2 name (string)': 1-based, as a person counts a struct's fields."""
        name = f" {self.name}" if self.name else ""
        return f"field {index + 1}{name} ({self.type})"

    def spec(self) -> str:
        return f"{self.name}: {self.type}" if self.name else str(self.type)


Layout = tuple[Field, ...]


@dataclass(frozen=True)
class Entity:
    name: str
    fields: Layout | None = None
    versions: Mapping[int, Layout] = field(default_factory=dict)

    def layout_for(self, version: int | None) -> Layout | None:
        if version is not None and version in self.versions:
            return self.versions[version]
        return self.fields

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.fields is not None:
            out["fields"] = [f.spec() for f in self.fields]
        if self.versions:
            out["versions"] = {
                str(v): [f.spec() for f in layout] for v, layout in sorted(self.versions.items())
            }
        return out


class Entities:
    """The configured layouts, and which one a key belongs to."""

    def __init__(self, entities: Mapping[str, Entity] | None = None) -> None:
        self._by_name = dict(entities or {})
        # Longest prefix first, so `user:settings` beats `user` for user:settings:1.
        self._prefixes = sorted(
            (name for name in self._by_name if "*" not in name), key=len, reverse=True
        )

    def __bool__(self) -> bool:
        return bool(self._by_name)

    def __iter__(self) -> Iterator[Entity]:
        return iter(self._by_name.values())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Entities) and self._by_name == other._by_name

    __hash__ = None  # type: ignore[assignment]

    def match(self, key: str, namespace: str, delimiter: str = ":") -> Entity | None:
        if namespace in self._by_name:
            return self._by_name[namespace]
        for prefix in self._prefixes:
            if key.startswith(prefix + delimiter):
                return self._by_name[prefix]
        return None

    def describe(self) -> dict[str, Any]:
        return {name: entity.describe() for name, entity in sorted(self._by_name.items())}


# -- reading the config -------------------------------------------------------------------


def parse_entities(table: Any, where: str) -> Entities:
    """cachediag.toml's `entities` table -> Entities; a usage error (exit 2) names what is wrong."""
    if table is None:
        return Entities()
    if not isinstance(table, dict):
        raise UsageError(f"{where}: 'entities' must be tables like {USAGE}")
    entities = {}
    for name, spec in table.items():
        label = f'{where}: entities."{name}"'
        if not name or not name.strip():
            raise UsageError(f"{where}: an entity needs a key prefix as its name, like {USAGE}")
        if not isinstance(spec, dict):
            raise UsageError(f"{label} must be a table with fields = [...], like {USAGE}")
        unknown = sorted(set(spec) - set(_ENTITY_KEYS))
        if unknown:
            raise UsageError(
                f"{label}: unknown key '{unknown[0]}' (known: {', '.join(_ENTITY_KEYS)})"
            )
        if not spec:
            raise UsageError(f"{label} needs fields = [...] or versions = {{ 1 = [...] }}")
        fields = _layout(spec["fields"], label) if "fields" in spec else None
        versions = {}
        raw_versions = spec.get("versions", {})
        if not isinstance(raw_versions, dict):
            raise UsageError(f"{label}: 'versions' must be a table like {{ 1 = [\"u64\"] }}")
        for version, layout in raw_versions.items():
            if not version.isdigit() or not version.isascii() or int(version) > 0xFFFFFFFF:
                raise UsageError(
                    f"{label}: version '{version}' is not a schema version (0 to 4294967295)"
                )
            versions[int(version)] = _layout(layout, f"{label} version {version}")
        entities[name] = Entity(name, fields, versions)
    return Entities(entities)


def _layout(value: Any, label: str) -> Layout:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise UsageError(f"{label}: fields must be a list of postcard type names, like {USAGE}")
    if not value:
        raise UsageError(f"{label}: fields is empty; list the entity's field types in order")
    layout = []
    for index, text in enumerate(value):
        named = _NAMED_FIELD.match(text)
        name, type_text = (named.group(1), named.group(2)) if named else (None, text)
        try:
            layout.append(Field(name, postcard.parse_type(type_text)))
        except TypeSyntaxError as error:
            raise UsageError(f"{label} field {index + 1}: {error}") from None
    return tuple(layout)


# -- decoding an entry --------------------------------------------------------------------


def decode_entry(entity: Entity, value: bytes) -> dict[str, Any]:
    """The full decode of one whole value: envelope, then every field of the layout.

    A JSON-ready outcome: `state` (ok, broken, trailing, no_layout), the entity, the
    schema version; for a broken entry the field (1-based), its name and type, the
    byte offset in the value where it starts and where the error is, and why.
    """
    header = envelope.decode(value, len(value))
    out: dict[str, Any] = {"entity": entity.name, "version": header.version}
    if header.state != envelope.VALID or header.version is None:
        # Not a header-valid entry: that is the envelope's verdict, not the payload's.
        return {**out, "state": NO_LAYOUT, "reason": "the header itself is not valid"}
    layout = entity.layout_for(header.version)
    if layout is None:
        listed = ", ".join(f"v{v}" for v in sorted(entity.versions))
        return {**out, "state": NO_LAYOUT, "reason": f"the layout covers {listed} only"}
    start = len(value) - (header.payload_len or 0)
    result = postcard.decode_fields([f.type for f in layout], value, start)
    out["fields"] = len(layout)
    if not result.ok:
        assert result.failed is not None
        failed = layout[result.failed]
        return {
            **out,
            "state": BROKEN,
            "field": result.failed + 1,
            "field_name": failed.name,
            "field_type": str(failed.type),
            "offset": result.field_start,
            "at": result.at,
            "reason": result.reason,
        }
    if result.trailing:
        return {**out, "state": TRAILING, "trailing_bytes": result.trailing, "offset": result.end}
    return {**out, "state": OK}


def byte_count(count: Any) -> str:
    return "1 byte" if count == 1 else f"{count} bytes"


def not_read(entity: Entity, why: str) -> dict[str, Any]:
    return {"entity": entity.name, "state": NOT_READ, "reason": why}


def describe_outcome(outcome: dict[str, Any]) -> str:
    """One phrase for an outcome: what a person reads in a summary or a table cell."""
    state = outcome.get("state")
    entity = outcome.get("entity")
    if state == OK:
        return f"payload decodes as {entity} ({outcome.get('fields')} fields)"
    if state == BROKEN:
        name = f" {outcome['field_name']}" if outcome.get("field_name") else ""
        return (
            f"payload does not decode as {entity}: field {outcome.get('field')}{name} "
            f"({outcome.get('field_type')}) at byte {outcome.get('offset')}: "
            f"{outcome.get('reason')}"
        )
    if state == TRAILING:
        return (
            f"payload decodes as {entity} ({outcome.get('fields')} fields) but "
            f"{byte_count(outcome.get('trailing_bytes'))} left after the last field"
        )
    return f"payload not decoded as {entity}: {outcome.get('reason')}"
