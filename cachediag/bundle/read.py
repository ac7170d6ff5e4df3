"""Reading a bundle back: a .tar.gz or its unpacked folder, for `check --from`, `verify`,
`memory --from`, `ttl --from` (and any other offline reader: `load_facts(path)`).

Nothing is extracted to disk: members are streamed from the archive, and only regular
files under the one top folder count (a link is reported, a `../` path refused; neither
is followed).
"""

from __future__ import annotations

import hashlib
import json
import re
import tarfile
import zlib
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cachediag.bundle.manifest import BUNDLE_SCHEMA, MANIFEST
from cachediag.errors import CachediagError
from cachediag.safety.textsafe import safe_text

FACTS_SCHEMA = "cachediag.facts/v1"
# A reader bounds what it holds: only the documents it asked for are kept in memory (each
# under MAX_KEPT_BYTES); every other member is streamed through its checksum and the
# secret scan, and a bundle of more than MAX_MEMBERS files or MAX_TOTAL_BYTES is refused.
MAX_KEPT_BYTES = 512 * 1024 * 1024
MAX_TOTAL_BYTES = 8 * 1024**3
MAX_MEMBERS = 10_000
CHUNK = 1 << 20


class NotABundle(CachediagError):
    """The path is not a cachediag bundle (or not one this version reads): exit 2."""


@dataclass
class Member:
    size: int
    sha256: str
    holds_secret: bool = False


@dataclass
class Bundle:
    source: Path
    top: str
    members: dict[str, Member]  # every regular file, by its path inside the top folder
    files: dict[str, bytes]  # the content of the ones asked for
    irregular: list[str]  # members that are not regular files (links, devices...)

    def json(self, path: str) -> Any:
        if path not in self.files:
            raise NotABundle(f"{self.source} has no {path}: not a cachediag bundle")
        try:
            return json.loads(self.files[path])
        except ValueError as exc:
            raise NotABundle(f"{self.source}: {path} is not JSON ({exc})") from None


class _Reader:
    """One member's bytes as they stream by: size, sha256, the secret scan, kept if wanted."""

    def __init__(self, source: Path, keep: bool, forms: tuple[bytes, ...]) -> None:
        self.source, self.keep, self.forms = source, keep, forms
        self.digest = hashlib.sha256()
        self.size = 0
        self.kept: list[bytes] = []
        self.found = False
        self._tail = b""
        self._overlap = max((len(f) for f in forms), default=1) - 1

    def feed(self, chunk: bytes, name: str) -> None:
        self.size += len(chunk)
        self.digest.update(chunk)
        if self.keep:
            if self.size > MAX_KEPT_BYTES:
                raise NotABundle(f"{self.source}: {name} is too large for a bundle file")
            self.kept.append(chunk)
        if self.forms and not self.found:
            window = self._tail + chunk
            self.found = any(form in window for form in self.forms)
            self._tail = window[-self._overlap :] if self._overlap else b""

    def member(self) -> Member:
        return Member(self.size, self.digest.hexdigest(), self.found)


def _split(name: str) -> tuple[str, str] | None:
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if len(parts) < 2 or ".." in parts or name.startswith("/"):
        return None
    return parts[0], "/".join(parts[1:])


def _from_tar(path: Path, wanted: Collection[str], forms: tuple[bytes, ...]) -> Bundle:
    try:
        tar = tarfile.open(path, mode="r:*")  # noqa: SIM115 - closed by the with below
    except (tarfile.TarError, OSError) as exc:
        why = "not a .tar.gz" if isinstance(exc, tarfile.TarError) else exc.strerror or str(exc)
        raise NotABundle(f"{path} is not a bundle: {why}") from None
    bundle = Bundle(path, "", {}, {}, [])
    tops: set[str] = set()
    total = 0
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
                    bundle.irregular.append(split[1])
                    continue
                total += member.size
                if total > MAX_TOTAL_BYTES:
                    raise NotABundle(f"{path} is too large to be a bundle")
                reader = _Reader(path, split[1] in wanted, forms)
                handle = tar.extractfile(member)
                while handle is not None and (chunk := handle.read(CHUNK)):
                    reader.feed(chunk, member.name)
                _keep(bundle, split[1], reader)
        except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
            raise NotABundle(f"{path} is not a bundle: the archive is damaged ({exc})") from None
    if len(tops) != 1:
        raise NotABundle(f"{path} is not a bundle: expected one top folder, found {len(tops)}")
    bundle.top = tops.pop()
    return bundle


def _keep(bundle: Bundle, name: str, reader: _Reader) -> None:
    bundle.members[name] = reader.member()
    if reader.keep:
        bundle.files[name] = b"".join(reader.kept)


def _from_folder(path: Path, wanted: Collection[str], forms: tuple[bytes, ...]) -> Bundle:
    root = path
    if not (root / MANIFEST).is_file():
        inner = [p for p in path.iterdir() if p.is_dir() and (p / MANIFEST).is_file()]
        if len(inner) != 1:
            raise NotABundle(f"{path} is not a bundle: no {MANIFEST} in it")
        root = inner[0]
    bundle = Bundle(path, root.name, {}, {}, [])
    total = 0
    for count, item in enumerate(sorted(root.rglob("*"))):
        if count >= MAX_MEMBERS:
            raise NotABundle(f"{path} holds more than {MAX_MEMBERS} files: not a bundle")
        relative = item.relative_to(root).as_posix()
        if item.is_symlink() or (not item.is_file() and not item.is_dir()):
            bundle.irregular.append(relative)
        elif item.is_file():
            total += item.stat().st_size
            if total > MAX_TOTAL_BYTES:
                raise NotABundle(f"{path} is too large to be a bundle")
            reader = _Reader(path, relative in wanted, forms)
            with item.open("rb") as handle:
                while chunk := handle.read(CHUNK):
                    reader.feed(chunk, relative)
            _keep(bundle, relative, reader)
    return bundle


DOCUMENTS = (MANIFEST, "facts.json")


def open_bundle(
    path: str | Path, wanted: Collection[str] = DOCUMENTS, forms: tuple[bytes, ...] = ()
) -> Bundle:
    """A bundle from a .tar.gz or its unpacked folder: every file's size and sha256 (and
    whether it holds one of `forms`), the content of the `wanted` ones; NotABundle (exit 2)
    for anything else."""
    source = Path(path)
    if source.is_dir():
        return _from_folder(source, wanted, forms)
    if not source.exists():
        raise NotABundle(f"{source}: no such file or folder")
    return _from_tar(source, wanted, forms)


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
    from cachediag.bundle.manifest import schema_problems
    from cachediag.schemas import schema

    shipped = schema("facts")
    problems = schema_problems(facts, shipped, shipped)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise NotABundle(
            f"{bundle.source}: facts.json does not match {FACTS_SCHEMA}: {problems[0]}{more}"
        )
    return escaped(facts)


# Printable ASCII needs no escaping: nearly every string of a facts document.
_PLAIN = re.compile(r"[\x20-\x7e]*")


def escaped(value: Any) -> Any:
    """Every string of a document read back (keys too) made terminal-safe.

    A probe escapes key names and server text when it collects them; a bundle is a file
    anyone can edit, so what it says is escaped again before a rule or a renderer sees it.
    safe_text is idempotent: the facts gather wrote come back unchanged, and judge the same.
    """
    if isinstance(value, str):  # line by line: MEMORY DOCTOR's text keeps its lines
        return value if _PLAIN.fullmatch(value) else "\n".join(map(safe_text, value.split("\n")))
    if isinstance(value, dict):
        return {escaped(k) if isinstance(k, str) else k: escaped(v) for k, v in value.items()}
    if isinstance(value, list):
        return [escaped(item) for item in value]
    return value


def altered_documents(bundle: Bundle) -> list[str]:
    """The documents read (facts.json...) whose bytes are not what the manifest says."""
    manifest = bundle.json(MANIFEST)
    entries = manifest.get("files") if isinstance(manifest, dict) else None
    listed = {e.get("path"): e.get("sha256") for e in entries or [] if isinstance(e, dict)}
    return [
        name
        for name in bundle.files
        if name != MANIFEST and listed.get(name) != bundle.members[name].sha256
    ]


def load_facts(path: str | Path) -> dict[str, Any]:
    """The facts document (`cachediag.facts/v1`) a bundle carries: what `check` judged.

    NotABundle (a CachediagError, exit 2, one sentence) for anything that is not a bundle
    or holds a schema version this cachediag does not read.
    """
    return facts_of(open_bundle(path))
