"""JSON schemas of cachediag's machine-readable outputs, shipped inside the package."""

from __future__ import annotations

from importlib import resources

CHECK_SCHEMA_FILE = "check-v1.json"


def check_schema_text() -> str:
    """The JSON schema of `cachediag check --format json` (cachediag.check/v1)."""
    return resources.files(__name__).joinpath(CHECK_SCHEMA_FILE).read_text(encoding="utf-8")
