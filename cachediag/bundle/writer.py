"""Files -> the bundle: the redaction pass, the budgets, checksums, the manifest, the
tar.gz (mode 0600, one top folder), and the re-read that proves no credential is left.

The archive is written under a temporary name beside its destination and renamed into
place only once the re-read passed: a bundle that leaks, or one cut short by a full disk,
is never left where someone would attach it to an issue.
"""

from __future__ import annotations

import io
import os
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cachediag.bundle import budget
from cachediag.bundle.files import BundleFile
from cachediag.bundle.keys import KeyRedactor
from cachediag.bundle.manifest import BUNDLE_SCHEMA, MANIFEST, sha256
from cachediag.errors import CachediagError
from cachediag.safety.redact import Redactions, redact_bundle_text, secret_forms

REDACTIONS = "redactions.json"
README = "README.md"
# Room kept for README.md, redactions.json and manifest.json inside --max-size.
RESERVED_BYTES = 48 * 1024


class CredentialLeft(CachediagError):
    """The re-read found a credential in the bundle: deleted, exit 1."""

    exit_code = 1


@dataclass
class Written:
    path: Path
    bytes: int
    manifest: dict[str, Any]
    # The manifest cannot list its own checksum: printed by gather (and by verify), it is
    # what tells a manifest rewritten to match altered files from the one gather wrote.
    manifest_sha256: str = ""


def scrub(files: list[BundleFile], credentials: tuple[str, ...], keys: KeyRedactor | None) -> None:
    """The one redaction pass, over every file's text; what it hid is added to the file's."""
    for file in files:
        if file.text is None:
            continue
        tally = Redactions()
        for kind, count in file.redactions.items():
            tally.add(kind, count)
        file.text = redact_bundle_text(file.text, credentials, tally, patterns=file.patterns)
        if (
            keys is not None and file.patterns != "none"
        ):  # documents were walked as data (gather.py)
            file.text, count = keys.text(file.text)
            tally.add("key_name", count)
        file.redactions = tally.counts


def apply_budget(files: list[BundleFile], max_size: int) -> None:
    """Each file within its cap, and all of them within `max_size` (the facts and the check
    results first: they are what `check --from` needs); what was cut says so."""
    left = (
        max_size
        - RESERVED_BYTES
        - sum(len(f.text.encode("utf-8")) for f in files if f.essential and f.text is not None)
    )
    for file in files:
        if file.text is None or file.essential:
            continue
        text, cut = budget.cap(file.text, budget.PER_FILE_CAP)
        size = len(text.encode("utf-8"))
        if size > max(left, 0):
            text, _ = budget.cap(text, max(left, 0))
            cut = True
            size = len(text.encode("utf-8"))
        file.text, file.truncated = text, file.truncated or cut
        left -= size


def _entry(file: BundleFile, data: bytes | None) -> dict[str, Any]:
    return {
        "path": file.path,
        "producer": file.producer,
        "bytes": len(data) if data is not None else 0,
        "sha256": sha256(data) if data is not None else None,
        "duration_ms": file.duration_ms,
        "truncated": file.truncated,
        "redactions": dict(sorted(file.redactions.items())),
        "error": file.error,
    }


def redactions_document(entries: list[dict[str, Any]]) -> dict[str, Any]:
    by_kind: dict[str, int] = {}
    for entry in entries:
        for kind, count in entry["redactions"].items():
            by_kind[kind] = by_kind.get(kind, 0) + count
    return {
        "total": sum(by_kind.values()),
        "by_kind": dict(sorted(by_kind.items())),
        "files": [
            {"path": e["path"], "redactions": e["redactions"]} for e in entries if e["redactions"]
        ],
    }


def write_bundle(
    files: list[BundleFile],
    destination: Path,
    top: str,
    credentials: tuple[str, ...],
    header: dict[str, Any],
    readme: Callable[[list[dict[str, Any]]], str],
) -> Written:
    """Write the bundle to `destination` (a .tar.gz path) and prove it holds no credential."""
    payloads: dict[str, bytes] = {}
    entries: list[dict[str, Any]] = []
    for file in files:
        data = file.text.encode("utf-8") if file.text is not None else None
        if data is not None:
            payloads[file.path] = data
        entries.append(_entry(file, data))

    def add(path: str, producer: str, text: str) -> None:
        extra = BundleFile(path, producer, text, patterns="none")
        scrub([extra], credentials, None)
        data = (extra.text or "").encode("utf-8")
        payloads[path] = data
        entries.append(_entry(extra, data))

    add(
        REDACTIONS,
        "gather (what the redaction pass hid, by file)",
        _json(redactions_document(entries)),
    )
    add(README, "gather", readme(entries))
    manifest = {"schema": BUNDLE_SCHEMA, **header, "top": top, "files": entries}
    manifest_text = redact_bundle_text(_json(manifest), credentials, Redactions(), patterns="none")
    payloads[MANIFEST] = manifest_text.encode("utf-8")

    descriptor, temporary = tempfile.mkstemp(
        prefix=f".{destination.name}.", suffix=".part", dir=destination.parent
    )
    try:
        with os.fdopen(descriptor, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
            now = time.time()
            for path, data in payloads.items():
                info = tarfile.TarInfo(f"{top}/{path}")
                info.size, info.mode, info.mtime = len(data), 0o600, now
                tar.addfile(info, io.BytesIO(data))
        os.chmod(temporary, 0o600)
        leak = find_credential(Path(temporary), credentials)
        if leak is not None:
            raise CredentialLeft(
                f"a credential cachediag was given is still in {leak} after redaction: "
                "the bundle was deleted (please report this)"
            )
        os.replace(temporary, destination)
    except OSError as exc:
        Path(temporary).unlink(missing_ok=True)
        raise CachediagError(f"cannot write {destination}: {exc.strerror or exc}") from None
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return Written(destination, destination.stat().st_size, manifest, sha256(payloads[MANIFEST]))


def _json(document: Any) -> str:
    from cachediag.render.json_text import to_json

    return to_json(document) + "\n"


def find_credential(archive: Path, credentials: tuple[str, ...]) -> str | None:
    """The first file of the archive holding any form of any credential, or None."""
    forms = [f.encode("utf-8", "surrogateescape") for c in credentials for f in secret_forms(c)]
    if not forms:
        return None
    with tarfile.open(archive, mode="r:gz") as tar:
        for member in tar:
            handle = tar.extractfile(member) if member.isfile() else None
            data = handle.read() if handle is not None else b""
            if any(form in data or form in member.name.encode() for form in forms):
                return member.name
    return None
