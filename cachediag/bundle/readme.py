"""The bundle's README.md: what it is, how it was made, the checklist results, the files."""

from __future__ import annotations

from typing import Any

from cachediag import __version__

ABOUT = """\
A diagnostics bundle written by `cachediag gather`: what cachediag saw of the caches and
this host, for a maintainer to read, verify and re-run. Nothing in it was written to any
server; credentials were redacted before it was written (`redactions.json` says what
and where, never the values), and it was re-read afterwards to prove none is left.

- Verify it: `cachediag verify BUNDLE` (every file against manifest.json's sha256).
- Re-run the checklist on it offline: `cachediag check --from BUNDLE` (any --format,
  newer rules or other thresholds); `cachediag memory --from BUNDLE`, `ttl --from BUNDLE`.
"""

WHAT = {
    "check.json": "the checklist results (cachediag.check/v1)",
    "facts.json": "the facts those results were computed from (cachediag.facts/v1)",
    "manifest.json": "every file: producer, bytes, sha256, duration, truncation, redactions",
    "redactions.json": "what was redacted in which file (kinds and counts, never values)",
    "README.md": "this file",
}


def _what(path: str) -> str:
    if path in WHAT:
        return WHAT[path]
    folder = path.split("/", 1)[0]
    return {
        "redis": "a Redis reading",
        "memcached": "a Memcached reading",
        "host": "this host",
        "logs": "cache lines of an application log",
    }.get(folder, "")


def render(header: dict[str, Any], results_markdown: str, entries: list[dict[str, Any]]) -> str:
    lines = [
        f"# cachediag bundle {header['top']}\n\n",
        ABOUT,
        "\n## How it was made\n\n",
        f"- when: {header['created_at']} (UTC)\n",
        f"- host: {header['host']}\n",
        f"- tool: cachediag {__version__}\n",
        f"- command (secrets removed): `{header['command']}`\n",
        f"- size cap: {header['max_size']} bytes; key names "
        f"{'hashed (--redact-keys)' if header['redact_keys'] else 'as the servers hold them'}\n",
        "\n## Checklist results\n\n",
        results_markdown.strip() + "\n",
        "\n## Files\n\n| file | what | produced by | bytes | note |\n",
        "| --- | --- | --- | --- | --- |\n",
    ]
    listed = [
        *entries,
        {"path": "README.md", "producer": "gather", "bytes": None},
        {"path": "manifest.json", "producer": "gather", "bytes": None},
    ]
    for entry in listed:
        notes = []
        if entry.get("error"):
            notes.append(f"not collected: {entry['error']}")
        if entry.get("truncated"):
            notes.append("truncated")
        if entry.get("redactions"):
            notes.append(f"{sum(entry['redactions'].values())} redacted")
        size = "" if entry.get("bytes") is None else str(entry["bytes"])
        cell = "; ".join(notes).replace("|", "/")
        lines.append(
            f"| `{entry['path']}` | {_what(entry['path'])} | {entry['producer'].replace('|', '/')} "
            f"| {size} | {cell} |\n"
        )
    return "".join(lines)
