"""`cachediag verify`: every file of a bundle against its manifest, and optionally a secret.

Exit 0 intact; 1 altered (a checksum, a size, a missing or extra file, a manifest that
breaks its schema) or leaking (the secret of --secret-env, in any form, in any file);
2 not a bundle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cachediag.bundle.manifest import MANIFEST, manifest_problems
from cachediag.bundle.read import Bundle, check_versions, open_bundle
from cachediag.safety.redact import secret_forms


@dataclass
class Verdict:
    bundle: str
    files: int = 0
    altered: list[str] = field(default_factory=list)
    leaking: list[str] = field(default_factory=list)
    secret_checked: bool = False
    manifest_sha256: str = ""

    @property
    def exit_code(self) -> int:
        return 1 if self.altered or self.leaking else 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "bundle": self.bundle,
            "status": "intact" if not self.exit_code else "altered" if self.altered else "leaking",
            "files": self.files,
            "altered": self.altered,
            "leaking": self.leaking,
            "secret_checked": self.secret_checked,
            "manifest_sha256": self.manifest_sha256,
        }


def verify(path: str, secret: str | None = None) -> Verdict:
    forms = tuple(f.encode("utf-8", "surrogateescape") for f in secret_forms(secret or ""))
    bundle = open_bundle(path, (MANIFEST,), forms if secret else ())
    manifest = check_versions(bundle)
    verdict = Verdict(str(path), manifest_sha256=bundle.members[MANIFEST].sha256)
    verdict.altered += [f"manifest.json: {p}" for p in manifest_problems(manifest)]
    files = manifest.get("files")
    entries: list[Any] = files if isinstance(files, list) else []
    listed: set[str] = set()
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
            continue
        listed.add(entry["path"])
        verdict.altered += _check_entry(bundle, entry)
    verdict.files = len(listed)
    for extra in sorted(set(bundle.members) - listed - {MANIFEST}):
        verdict.altered.append(f"{extra}: not in the manifest")
    for odd in bundle.irregular:
        verdict.altered.append(f"{odd}: not a regular file")
    if secret:
        verdict.secret_checked = True
        verdict.leaking += sorted(n for n, m in bundle.members.items() if m.holds_secret)
    return verdict


def _check_entry(bundle: Bundle, entry: dict[str, Any]) -> list[str]:
    path = entry["path"]
    member = bundle.members.get(path)
    if entry.get("sha256") is None:  # not collected: there must be no such file
        return [f"{path}: present, but the manifest says it was not collected"] if member else []
    if member is None:
        return [f"{path}: missing"]
    problems = []
    if member.size != entry.get("bytes"):
        problems.append(f"{path}: {member.size} bytes, the manifest says {entry.get('bytes')}")
    if member.sha256 != entry["sha256"]:
        problems.append(f"{path}: sha256 does not match the manifest")
    return problems
