"""JSON schemas (draft 2020-12) of cachediag's machine-readable documents, shipped in the package.

One per `--json` document, named like the command that prints it, `checklist` for
`check --list --json`, `facts` for the facts document (`cachediag.facts/v1`, what a
bundle carries) and `bundle` for a bundle's manifest (`cachediag.bundle/v1`). Each
command prints its own with `cachediag COMMAND --json-schema` (`check --list
--json-schema` the checklist's). A schema's `$id` ends in its file name, so
`facts-v1.json` refers to `logs-v1.json` (the logs scan it embeds) by name: a validator
given every schema here (`schema_documents()`) resolves it.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

# document name -> the file that holds its schema; the title of each is cachediag.<name>/v1.
FILES: dict[str, str] = {
    "check": "check-v1.json",
    "ping": "ping-v1.json",
    "latency": "latency-v1.json",
    "memory": "memory-v1.json",
    "ttl": "ttl-v1.json",
    "eviction-policy": "eviction-policy-v1.json",
    "watch": "watch-v1.json",
    "bigkeys": "bigkeys-v1.json",
    "inspect": "inspect-v1.json",
    "logs": "logs-v1.json",
    "purge": "purge-v1.json",
    "gather": "gather-v1.json",
    "verify": "verify-v1.json",
    "ring": "ring-v1.json",
    "checklist": "checklist-v1.json",
    "diagnose": "diagnose-v1.json",
    "facts": "facts-v1.json",
    "bundle": "bundle-v1.json",
}
NAMES = tuple(FILES)
CHECK_SCHEMA_FILE = FILES["check"]


def schema_text(name: str) -> str:
    """The schema of document `name` (a command's name, or "facts"), as shipped."""
    try:
        file = FILES[name]
    except KeyError:
        raise ValueError(f"no schema named {name!r}; known: {', '.join(NAMES)}") from None
    return resources.files(__name__).joinpath(file).read_text(encoding="utf-8")


def schema(name: str) -> dict[str, Any]:
    """The schema of document `name`, parsed."""
    document: dict[str, Any] = json.loads(schema_text(name))
    return document


def schema_documents() -> dict[str, dict[str, Any]]:
    """Every shipped schema by its `$id`: what a validator's registry needs for cross-references."""
    return {(parsed := schema(name))["$id"]: parsed for name in NAMES}


def check_schema_text() -> str:
    """The JSON schema of `cachediag check --format json` (cachediag.check/v1)."""
    return schema_text("check")
