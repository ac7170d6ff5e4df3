"""Where diagnose's facts come from: a live collection (check's, and the window), or a file.

`diagnose --facts FILE` reads a `cachediag.facts/v1` document (one `--save-facts` wrote,
or a bundle's facts.json); `diagnose --from BUNDLE` will hand the bundle loader's facts
to the same core.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cachediag.errors import UsageError

if TYPE_CHECKING:
    from cachediag.keyspace.entities import Entities
    from cachediag.probes.app import AppSources
    from cachediag.targets.target import Target

FACTS_SCHEMA = "cachediag.facts/v1"
MAX_FACTS_BYTES = 256 * 1024 * 1024  # a facts document of a 1,000-key sample is ~1 MB


def live_facts(
    targets: list[Target],
    timeout: float,
    sample_keys: int,
    window: float,
    app: AppSources | None,
    entities: Entities | None,
) -> dict[str, Any]:
    """The facts `check` collects (host and application included), over `window` seconds."""
    from cachediag.probes.collect import collect_facts

    facts = collect_facts(
        targets, timeout, sample_keys, host=True, app=app, entities=entities, window=window
    )
    # Through JSON, as a bundle carries it: the core sees the same data live and offline.
    document: dict[str, Any] = json.loads(json.dumps(facts))
    return document


def read_facts_file(path: Path) -> dict[str, Any]:
    """A facts document from a file; one clear sentence for anything that is not one."""
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            raise UsageError(f"facts file {path} is not a regular file")
        with path.open("rb") as handle:
            data = handle.read(MAX_FACTS_BYTES + 1)
    except FileNotFoundError:
        raise UsageError(f"facts file {path} does not exist") from None
    except OSError as exc:
        raise UsageError(f"cannot read facts file {path}: {exc.strerror}") from None
    if len(data) > MAX_FACTS_BYTES:
        raise UsageError(f"facts file {path} is larger than {MAX_FACTS_BYTES // 2**20} MiB")
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"facts file {path} is not JSON: {exc}") from None
    return check_facts(document, str(path))


def check_facts(document: Any, where: str) -> dict[str, Any]:
    """The document, if it is a facts/v1 document diagnose can read."""
    if not isinstance(document, dict):
        raise UsageError(f"{where} is not a facts document (a JSON object)")
    schema = document.get("schema")
    if schema != FACTS_SCHEMA:
        if isinstance(schema, str) and schema.startswith("cachediag.facts/"):
            raise UsageError(f"{where} is a {schema} document; this cachediag reads {FACTS_SCHEMA}")
        raise UsageError(f"{where} is not a {FACTS_SCHEMA} document (schema: {schema!r})")
    targets = document.get("targets")
    if not isinstance(targets, list) or not all(
        isinstance(t, dict) and isinstance(t.get("kind"), str) for t in targets
    ):
        raise UsageError(f"{where}: 'targets' must be a list of target facts")
    for name in ("app", "host"):
        if document.get(name) is not None and not isinstance(document.get(name), dict):
            raise UsageError(f"{where}: '{name}' must be an object or null")
    return document
