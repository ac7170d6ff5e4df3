"""Reading a bundle back: a .tar.gz or its unpacked folder, for `check --from`, `verify`,
`memory --from`, `ttl --from` (and any other offline reader: `load_facts(path)`).

Nothing is extracted to disk: members are read from the archive, bounded in size, and
only regular files under the one top folder count (a link or a `../` path is refused,
not followed).
"""

from __future__ import annotations

import json
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cachediag.bundle.manifest import BUNDLE_SCHEMA, MANIFEST
from cachediag.errors import CachediagError

FACTS_SCHEMA = "cachediag.facts/v1"
# A bundle is capped by --max-size at write time; a reader still bounds what it holds in memory.
MAX_MEMBER_BYTES = 512 * 1024 * 1024
MAX_MEMBERS = 10_000


class NotABundle(CachediagError):
    """The path is not a cachediag bundle (or not one this version reads): exit 2."""


@dataclass
class Bundle:
    source: Path
    top: str
    files: dict[str, bytes]  # path inside the top folder -> content
    irregular: list[str]  # members that are not regular files (links, devices...)

    def text(self, path: str) -> str:
        return self.files[path].decode("utf-8", "replace")

    def json(self, path: str) -> Any:
        if path not in self.files:
            raise NotABundle(f"{self.source} has no {path}: not a cachediag bundle")
        try:
            return json.loads(self.files[path])
        except ValueError as exc:
            raise NotABundle(f"{self.source}: {path} is not JSON ({exc})") from None


def _split(name: str) -> tuple[str, str] | None:
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if len(parts) < 2 or ".." in parts or name.startswith("/"):
        return None
    return parts[0], "/".join(parts[1:])


def _from_tar(path: Path) -> Bundle:
    try:
        tar = tarfile.open(path, mode="r:*")  # noqa: SIM115 - closed by the with below
    except (tarfile.TarError, OSError) as exc:
        why = "not a .tar.gz" if isinstance(exc, tarfile.TarError) else exc.strerror or str(exc)
        raise NotABundle(f"{path} is not a bundle: {why}") from None
    files: dict[str, bytes] = {}
    irregular: list[str] = []
    tops: set[str] = set()
    with tar:
        try:
            for count, member in enumerate(tar):
                if count >= MAX_MEMBERS:
                    raise NotABundle(f"{path} holds more than {MAX_MEMBERS} files: not a bundle")
                if member.isdir():
                    continue
                split = _split(member.name)
                if split is None:
                    raise NotABundle(f"{path}: {member.name!r} is outside a top folder")
                tops.add(split[0])
                if not member.isfile():
                    irregular.append(split[1])
                    continue
                if member.size > MAX_MEMBER_BYTES:
                    raise NotABundle(f"{path}: {member.name} is too large for a bundle file")
                handle = tar.extractfile(member)
                files[split[1]] = handle.read() if handle is not None else b""
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise NotABundle(f"{path} is not a bundle: the archive is damaged ({exc})") from None
    if len(tops) != 1:
        raise NotABundle(f"{path} is not a bundle: expected one top folder, found {len(tops)}")
    return Bundle(path, tops.pop(), files, irregular)


def _from_folder(path: Path) -> Bundle:
    root = path
    if not (root / MANIFEST).is_file():
        inner = [p for p in path.iterdir() if p.is_dir() and (p / MANIFEST).is_file()]
        if len(inner) != 1:
            raise NotABundle(f"{path} is not a bundle: no {MANIFEST} in it")
        root = inner[0]
    files: dict[str, bytes] = {}
    irregular: list[str] = []
    for item in sorted(root.rglob("*")):
        relative = item.relative_to(root).as_posix()
        if item.is_symlink() or (not item.is_file() and not item.is_dir()):
            irregular.append(relative)
        elif item.is_file():
            if len(files) >= MAX_MEMBERS or item.stat().st_size > MAX_MEMBER_BYTES:
                raise NotABundle(f"{path} is too large to be a bundle")
            files[relative] = item.read_bytes()
    return Bundle(path, root.name, files, irregular)


def open_bundle(path: str | Path) -> Bundle:
    """A bundle's files, from a .tar.gz or an unpacked folder; NotABundle (exit 2) otherwise."""
    source = Path(path)
    if source.is_dir():
        return _from_folder(source)
    if not source.exists():
        raise NotABundle(f"{source}: no such file or folder")
    return _from_tar(source)


def check_versions(bundle: Bundle) -> dict[str, Any]:
    """The manifest, once its schema is one this cachediag reads; one sentence otherwise."""
    manifest = bundle.json(MANIFEST)
    version = manifest.get("schema") if isinstance(manifest, dict) else None
    if version != BUNDLE_SCHEMA:
        if isinstance(version, str) and version.startswith("cachediag.bundle/"):
            raise NotABundle(
                f"{bundle.source} is a {version} bundle; this cachediag reads {BUNDLE_SCHEMA} "
                "(a newer cachediag may read it)"
            )
        raise NotABundle(f"{bundle.source} is not a cachediag bundle (no {BUNDLE_SCHEMA} manifest)")
    return manifest


def facts_of(bundle: Bundle) -> dict[str, Any]:
    check_versions(bundle)
    facts = bundle.json("facts.json")
    version = facts.get("schema") if isinstance(facts, dict) else None
    if version != FACTS_SCHEMA:
        raise NotABundle(
            f"{bundle.source} holds facts of schema {version or 'unknown'}; this cachediag "
            f"reads {FACTS_SCHEMA}"
        )
    if not isinstance(facts.get("targets"), list):
        raise NotABundle(f"{bundle.source}: facts.json has no targets list")
    return facts


def load_facts(path: str | Path) -> dict[str, Any]:
    """The facts document (`cachediag.facts/v1`) a bundle carries: what `check` judged.

    NotABundle (a CachediagError, exit 2, one sentence) for anything that is not a bundle
    or holds a schema version this cachediag does not read.
    """
    return facts_of(open_bundle(path))
