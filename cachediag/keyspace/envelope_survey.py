"""What `inspect` reports: one key's anatomy, or the cache-kit health of a sample, by namespace.

The guide's Issue 4 (serialization errors): entries whose magic header is wrong,
entries that cannot be decoded, and namespaces holding several schema versions
(an app expecting one reports "Cache version mismatch"). Pure functions of values
already read; the commands do the reading.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from cachediag.keyspace import envelope
from cachediag.keyspace.envelope import MAGIC, Envelope
from cachediag.safety.textsafe import safe_text

HEX_PREVIEW_BYTES = 32
NAMESPACE_LIMIT = 10_000
OTHER_NAMESPACES = "(other namespaces)"
AFFECTED_SAMPLE = 20  # affected keys kept per namespace

# Classes of a sampled value
VALID = "valid"
INVALID_MAGIC = "invalid_magic"
UNDECODABLE = "undecodable"
NOT_CACHE_KIT = "not_cache_kit"
CLASSES = (VALID, INVALID_MAGIC, UNDECODABLE, NOT_CACHE_KIT)


def near_magic(head: bytes) -> bool:
    """Three of the four magic bytes in place: a damaged header, not another format."""
    if len(head) < len(MAGIC) or head.startswith(MAGIC):
        return False
    return sum(a == b for a, b in zip(head[: len(MAGIC)], MAGIC, strict=True)) == len(MAGIC) - 1


def envelope_dict(head: bytes | None, total_len: int | None) -> dict[str, Any] | None:
    """The envelope of one value, as `inspect KEY` shows it."""
    if head is None:
        return None
    decoded = envelope.decode(head, total_len)
    return {
        "state": decoded.state,
        "magic_valid": decoded.carries_magic,
        "magic_hex": head[: len(MAGIC)].hex(),
        "schema_version": decoded.version,
        "payload_length": decoded.payload_len,
        "reason": decoded.reason or None,
        "hex_preview": head[:HEX_PREVIEW_BYTES].hex(),
        "cache_kit": decoded.carries_magic or near_magic(head),
    }


@dataclass
class _Namespace:
    counts: Counter[str] = field(default_factory=Counter)
    versions: Counter[int] = field(default_factory=Counter)
    non_string: int = 0
    # (key, class-before-namespace-judgement, envelope) of entries that are not valid
    suspects: list[tuple[bytes, Envelope, bool]] = field(default_factory=list)
    suspects_seen: int = 0


class EnvelopeSurvey:
    """Per namespace: valid / invalid magic / undecodable / not cache-kit, and schema versions.

    A value without the magic counts as an invalid magic header when its namespace
    otherwise holds cache-kit entries (or its header is one byte off the magic), and
    as "not cache-kit" when nothing in its namespace is.
    """

    def __init__(self, affected_sample: int = AFFECTED_SAMPLE) -> None:
        self.affected_sample = affected_sample
        self.namespaces: dict[str, _Namespace] = {}
        self.values = 0

    def add(self, key: bytes, namespace: str, head: bytes | None, total_len: int | None) -> None:
        """One sampled entry; `head` None means not a string (no value to decode)."""
        row = self.namespaces.get(namespace)
        if row is None:
            if len(self.namespaces) >= NAMESPACE_LIMIT:  # bounded memory on a full scan
                namespace = OTHER_NAMESPACES
            row = self.namespaces.setdefault(namespace, _Namespace())
        if head is None:
            row.non_string += 1
            return
        self.values += 1
        decoded = envelope.decode(head, total_len)
        if decoded.state == envelope.VALID:
            row.counts[VALID] += 1
            assert decoded.version is not None
            row.versions[decoded.version] += 1
            return
        if decoded.state == envelope.UNDECODABLE:
            row.counts[UNDECODABLE] += 1
        else:
            row.counts["no_magic"] += 1
        row.suspects_seen += 1
        if len(row.suspects) < 10 * self.affected_sample:  # bounded: a sample of the affected
            row.suspects.append((key, decoded, near_magic(head)))

    def _judge(self, row: _Namespace) -> tuple[dict[str, int], list[dict[str, Any]]]:
        cache_kit = bool(row.counts[VALID] or row.counts[UNDECODABLE])
        near = sum(1 for _, _, is_near in row.suspects if is_near)
        no_magic = row.counts["no_magic"]
        if cache_kit:
            invalid, foreign = no_magic, 0
        else:
            invalid, foreign = min(near, no_magic), no_magic - min(near, no_magic)
        counts = {
            VALID: row.counts[VALID],
            INVALID_MAGIC: invalid,
            UNDECODABLE: row.counts[UNDECODABLE],
            NOT_CACHE_KIT: foreign + row.non_string,
        }
        affected = []
        for key, decoded, is_near in row.suspects:
            if decoded.state == envelope.NO_ENVELOPE and not (cache_kit or is_near):
                continue
            state = UNDECODABLE if decoded.state == envelope.UNDECODABLE else INVALID_MAGIC
            affected.append(
                {
                    "key": safe_text(key),
                    "problem": state,
                    "reason": decoded.reason,
                    "schema_version": decoded.version,
                }
            )
            if len(affected) >= self.affected_sample:
                break
        return counts, affected

    def to_dict(self) -> dict[str, Any]:
        rows = []
        versions: Counter[int] = Counter()
        totals: Counter[str] = Counter()
        findings = []
        for namespace, row in sorted(
            self.namespaces.items(),
            key=lambda item: -sum(item[1].counts.values()) - item[1].non_string,
        ):
            counts, affected = self._judge(row)
            totals.update(counts)
            versions.update(row.versions)
            name = safe_text(namespace)
            rows.append(
                {
                    "namespace": name,
                    "entries": sum(counts.values()),
                    **counts,
                    "schema_versions": {str(v): n for v, n in sorted(row.versions.items())},
                    "affected": affected,
                }
            )
            bad = counts[INVALID_MAGIC] + counts[UNDECODABLE]
            if bad:
                parts = []
                if counts[INVALID_MAGIC]:
                    parts.append(f"{counts[INVALID_MAGIC]} with an invalid magic header")
                if counts[UNDECODABLE]:
                    parts.append(f"{counts[UNDECODABLE]} that cannot be decoded")
                example = f" (e.g. {affected[0]['key']})" if affected else ""
                findings.append(
                    {
                        "level": "fail",
                        "text": f"{name}: {' and '.join(parts)}{example}: clear these entries "
                        "(Solution 4A) and find what wrote them",
                        "ref": "Issue 4",
                    }
                )
            if len(row.versions) > 1:
                listed = ", ".join(f"v{v}: {n}" for v, n in sorted(row.versions.items()))
                findings.append(
                    {
                        "level": "warn",
                        "text": f"{name} holds several schema versions ({listed}): an app "
                        "expecting one of them logs 'Cache version mismatch'; bump the key "
                        "prefix or clear the old entries",
                        "ref": "Issue 4",
                    }
                )
        return {
            "values_decoded": self.values,
            "totals": {name: totals[name] for name in CLASSES},
            "schema_versions": {str(v): n for v, n in sorted(versions.items())},
            "namespaces": rows,
            "findings": findings,
        }
