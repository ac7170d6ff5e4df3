"""`gather` and `verify` as text and as their JSON documents."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cachediag import __version__
from cachediag.render.units import human_bytes, utc_stamp
from cachediag.safety.textsafe import safe_text

if TYPE_CHECKING:
    from cachediag.bundle.gather import Gathered
    from cachediag.bundle.verify import Verdict

GATHER_SCHEMA = "cachediag.gather/v1"
VERIFY_SCHEMA = "cachediag.verify/v1"


def _files(gathered: Gathered) -> list[dict[str, Any]]:
    files: list[dict[str, Any]] = gathered.written.manifest["files"]
    return files


def document(gathered: Gathered) -> dict[str, Any]:
    files = _files(gathered)
    return {
        "schema": GATHER_SCHEMA,
        "version": __version__,
        "generated_at": utc_stamp(),
        "duration_ms": gathered.duration_ms,
        "bundle": str(gathered.written.path),
        "bytes": gathered.written.bytes,
        "files": len(files) + 1,  # and the manifest
        "truncated": [f["path"] for f in files if f["truncated"]],
        "failed": [f["path"] for f in files if f["error"]],
        "redactions": sum(sum(f["redactions"].values()) for f in files),
        "manifest_sha256": gathered.written.manifest_sha256,
        "summary": gathered.written.manifest["summary"],
    }


def text(gathered: Gathered) -> str:
    doc = document(gathered)
    summary = doc["summary"]
    counts = ", ".join(f"{summary[s]} {s}" for s in ("fail", "error", "warn", "pass", "skip"))
    lines = [
        f"bundle   {safe_text(doc['bundle'])}\n",
        f"size     {human_bytes(doc['bytes'])} ({doc['bytes']:,} bytes), {doc['files']} files, "
        f"{doc['redactions']} values redacted\n",
        f"checks   {counts} · check exit {summary['exit_code']}\n",
    ]
    lines.append(f"manifest sha256 {doc['manifest_sha256']}\n")
    for target in gathered.written.manifest["targets"]:
        lines.append(
            f"target   {target['kind']:<9} {safe_text(target['name'])}  {target['status']}\n"
        )
    if doc["failed"]:
        lines.append(f"not collected ({len(doc['failed'])}, see manifest.json):\n")
        lines += [f"  {safe_text(path)}\n" for path in doc["failed"][:20]]
    if doc["truncated"]:
        lines.append(f"truncated by a cap: {', '.join(map(safe_text, doc['truncated'][:20]))}\n")
    bundle = safe_text(doc["bundle"])
    lines.append(f"took     {doc['duration_ms']} ms · verify it: cachediag verify {bundle}\n")
    return "".join(lines)


def verify_document(verdict: Verdict) -> dict[str, Any]:
    return {
        "schema": VERIFY_SCHEMA,
        "version": __version__,
        "generated_at": utc_stamp(),
        **verdict.to_dict(),
    }


def verify_text(verdict: Verdict) -> str:
    doc = verdict.to_dict()
    lines = []
    for problem in doc["altered"]:
        lines.append(f"altered  {safe_text(problem)}\n")
    for path in doc["leaking"]:
        lines.append(f"leaking  {safe_text(path)}: holds the secret\n")
    scanned = ", secret not found" if doc["secret_checked"] and not doc["leaking"] else ""
    lines.append(f"{doc['status']}: {safe_text(doc['bundle'])} ({doc['files']} files{scanned})\n")
    lines.append(f"manifest sha256 {doc['manifest_sha256']}\n")
    return "".join(lines)
