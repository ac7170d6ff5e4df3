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
from cachediag.keyspace.classify import (
    CLASSES,
    INVALID_MAGIC,
    NOT_CACHE_KIT,
    UNDECODABLE,
    VALID,
    classify,
    near_magic,
)
from cachediag.keyspace.entities import byte_count, describe_outcome
from cachediag.keyspace.envelope import MAGIC, Envelope
from cachediag.keyspace.payload_survey import PayloadSurvey
from cachediag.safety.textsafe import safe_text

HEX_PREVIEW_BYTES = 32
NAMESPACE_LIMIT = 10_000
OTHER_NAMESPACES = "(other namespaces)"
AFFECTED_SAMPLE = 20  # affected keys kept per namespace

__all__ = ["CLASSES", "INVALID_MAGIC", "NOT_CACHE_KIT", "UNDECODABLE", "VALID", "near_magic"]


def envelope_dict(head: bytes | None, total_len: int | None) -> dict[str, Any] | None:
    """The envelope of one value, as `inspect KEY` shows it."""
    if head is None:
        return None
    decoded = envelope.decode(head, total_len)
    near = near_magic(head)
    return {
        "state": decoded.state,
        "magic_valid": decoded.carries_magic,
        "magic_hex": head[: len(MAGIC)].hex(),
        "schema_version": decoded.version,
        "payload_length": decoded.payload_len,
        "reason": decoded.reason or None,
        "hex_preview": head[:HEX_PREVIEW_BYTES].hex(),
        "cache_kit": decoded.carries_magic or near,
        # The value alone; `inspect KEY` then looks at its namespace (keyspace.key_evidence).
        "verdict": classify(decoded, near, False),
    }


@dataclass
class _Namespace:
    counts: Counter[str] = field(default_factory=Counter)
    versions: Counter[int] = field(default_factory=Counter)
    non_string: int = 0
    # (key, envelope, header one byte off the magic, node it was read on: a cluster's) of
    # entries that are not valid
    suspects: list[tuple[bytes, Envelope, bool, str | None]] = field(default_factory=list)
    suspects_seen: int = 0


class EnvelopeSurvey:
    """Per namespace: valid / invalid magic / undecodable / not cache-kit, and schema versions.

    A value without the magic counts as an invalid magic header when its namespace
    otherwise holds cache-kit entries (or its header is one byte off the magic), and
    as "not cache-kit" when nothing in its namespace is.
    """

    def __init__(
        self, affected_sample: int = AFFECTED_SAMPLE, payloads: PayloadSurvey | None = None
    ) -> None:
        self.affected_sample = affected_sample
        self.namespaces: dict[str, _Namespace] = {}
        self.values = 0
        # With entity layouts configured: the full decode of header-valid entries.
        self.payloads = payloads

    def add(
        self,
        key: bytes,
        namespace: str,
        head: bytes | None,
        total_len: int | None,
        value: bytes | None = None,
    ) -> None:
        """One sampled entry; `head` None means not a string (no value to decode).

        `value`: the whole value when the caller has it (Memcached reads values whole).
        """
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
            if self.payloads is not None:
                self.payloads.add(key, namespace, head, total_len, value)
            return
        if decoded.state == envelope.UNDECODABLE:
            row.counts[UNDECODABLE] += 1
        else:
            row.counts["no_magic"] += 1
        row.suspects_seen += 1
        if len(row.suspects) < 10 * self.affected_sample:  # bounded: a sample of the affected
            row.suspects.append((key, decoded, near_magic(head), None))

    def merge(self, other: EnvelopeSurvey, node: str) -> None:
        """Add what `other` surveyed on `node` (a cluster's primary): counts, schema versions
        and payload states summed per namespace, its affected keys each named by `node`."""
        self.values += other.values
        for namespace, theirs in other.namespaces.items():
            row = self.namespaces.get(namespace)
            if row is None:
                if len(self.namespaces) >= NAMESPACE_LIMIT:  # the same bound as add()
                    namespace = OTHER_NAMESPACES
                row = self.namespaces.setdefault(namespace, _Namespace())
            row.counts.update(theirs.counts)
            row.versions.update(theirs.versions)
            row.non_string += theirs.non_string
            row.suspects_seen += theirs.suspects_seen
            room = max(0, 10 * self.affected_sample - len(row.suspects))
            row.suspects += [
                (key, decoded, near, seen_on or node)
                for key, decoded, near, seen_on in theirs.suspects[:room]
            ]
        if other.payloads is not None:
            if self.payloads is None:
                self.payloads = other.payloads.empty_like()
            self.payloads.merge(other.payloads, node)

    def _judge(
        self, namespace: str, row: _Namespace
    ) -> tuple[dict[str, int], list[dict[str, Any]]]:
        # Values carrying the magic (valid or not) make the namespace a cache-kit one.
        cache_kit = bool(row.counts[VALID] or row.counts[UNDECODABLE])
        near = sum(1 for _, _, is_near, _ in row.suspects if is_near)
        no_magic = row.counts["no_magic"]
        if cache_kit:
            invalid, foreign = no_magic, 0
        else:
            invalid, foreign = min(near, no_magic), no_magic - min(near, no_magic)
        # Header-valid entries whose payload does not decode are entries the app cannot read.
        broken = self.payloads.broken(namespace) if self.payloads is not None else 0
        counts = {
            VALID: row.counts[VALID] - broken,
            INVALID_MAGIC: invalid,
            UNDECODABLE: row.counts[UNDECODABLE] + broken,
            NOT_CACHE_KIT: foreign + row.non_string,
        }
        affected: list[dict[str, Any]] = []
        for key, decoded, is_near, node in row.suspects:
            state = classify(decoded, is_near, cache_kit)
            if state == NOT_CACHE_KIT:
                continue
            affected.append(
                {
                    "key": safe_text(key),
                    "problem": state,
                    "reason": decoded.reason,
                    "schema_version": decoded.version,
                    **({"node": node} if node is not None else {}),
                }
            )
            if len(affected) >= self.affected_sample:
                break
        if self.payloads is not None:
            for failure in self.payloads.failures(namespace):
                if len(affected) >= self.affected_sample:
                    break
                if failure["state"] != "broken":
                    continue
                affected.append(
                    {
                        "key": failure["key"],
                        "problem": UNDECODABLE,
                        "reason": describe_outcome(failure),
                        "schema_version": failure.get("version"),
                        "payload": {k: v for k, v in failure.items() if k not in ("key", "node")},
                        **({"node": failure["node"]} if "node" in failure else {}),
                    }
                )
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
            counts, affected = self._judge(namespace, row)
            totals.update(counts)
            versions.update(row.versions)
            name = safe_text(namespace)
            payload = self.payloads.namespace_dict(namespace) if self.payloads else None
            rows.append(
                {
                    "namespace": name,
                    "entries": sum(counts.values()),
                    **counts,
                    "schema_versions": {str(v): n for v, n in sorted(row.versions.items())},
                    "affected": affected,
                    **({"payload": payload} if payload is not None else {}),
                }
            )
            broken = payload["broken"] if payload else 0
            bad = counts[INVALID_MAGIC] + counts[UNDECODABLE]
            if bad:
                parts = []
                if counts[INVALID_MAGIC]:
                    parts.append(f"{counts[INVALID_MAGIC]} with an invalid magic header")
                if counts[UNDECODABLE] - broken:
                    parts.append(f"{counts[UNDECODABLE] - broken} that cannot be decoded")
                if broken and payload:
                    parts.append(f"{broken} whose payload does not decode as {payload['entity']}")
                example = f" (e.g. {affected[0]['key']})" if affected else ""
                findings.append(
                    {
                        "level": "fail",
                        "text": f"{name}: {' and '.join(parts)}{example}: clear these entries "
                        "(Solution 4A) and find what wrote them",
                        "ref": "Issue 4",
                    }
                )
            if payload and payload["trailing"] and self.payloads:
                findings.append(_trailing_finding(name, payload, self.payloads.failures(namespace)))
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
            **({"payloads": self.payloads.to_dict()} if self.payloads is not None else {}),
        }


def _trailing_finding(
    name: str, payload: dict[str, Any], failures: list[dict[str, Any]]
) -> dict[str, str]:
    """Bytes after the last field: postcard ignores them, so the app reads these entries,
    but the entity holds more than its layout says (a field added without a version bump
    is how an older reader ends up with a truncated view, and a newer one fails)."""
    example = next((f for f in failures if f["state"] == "trailing"), None)
    detail = f" (e.g. {example['key']}: {byte_count(example['trailing_bytes'])})" if example else ""
    count = payload["trailing"]
    hold = "entry holds" if count == 1 else "entries hold"
    return {
        "level": "warn",
        "text": f"{name}: {count} {hold} bytes past the last field of the {payload['entity']} "
        f"layout{detail}: a field was added without a schema-version bump, or the layout in "
        "cachediag.toml is out of date",
        "ref": "Issue 4",
    }
