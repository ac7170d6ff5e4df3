"""redis.serialization / memcached.serialization over the sample: the guide's Issue 4, pure.

What is verified is said exactly. Without an entity layout, only the header is: the
magic b"CKIT" and a u32 schema version followed by some payload; a truncated payload
passes that. With `[entities]` layouts in cachediag.toml the probe decoded the payloads
of those namespaces field by field (probes.payloads), and an entry whose payload does
not decode is counted with the undecodable ones, naming its first failing field.

Values are classified as everywhere else (keyspace.classify): a value without the magic
is an invalid magic header when its namespace holds cache-kit entries (or its header is
one byte off the magic), and not cache-kit's business otherwise.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from cachediag.checks.base import Facts, Outcome, failed, passed, skipped, warned
from cachediag.checks.facts_view import sample_keys
from cachediag.keyspace import classify as cls
from cachediag.keyspace import entities as ent
from cachediag.keyspace import envelope
from cachediag.keyspace.namespaces import namespace_of

_Entry = tuple[str, envelope.Envelope, bool, dict[str, Any] | None]


def _entries(facts: Facts) -> dict[str, list[_Entry]]:
    """(key, envelope, near-magic, payload outcome) of every sampled value read, by namespace."""
    by_namespace: dict[str, list[_Entry]] = defaultdict(list)
    for item in sample_keys(facts):
        head_hex = item.get("head_hex")
        if head_hex is None:
            continue
        try:
            head = bytes.fromhex(head_hex)
        except ValueError:
            continue
        decoded = envelope.decode(head, item.get("length"))
        by_namespace[namespace_of(item["key"])].append(
            (item["key"], decoded, cls.near_magic(head), item.get("payload"))
        )
    return by_namespace


def _plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def judge_envelopes(facts: Facts) -> Outcome:
    by_namespace = _entries(facts)
    layouts = (facts.get("sample") or {}).get("payloads")
    observed: dict[str, Any] = {"namespaces": {}}
    payload_rows: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    leftovers: list[str] = []
    carrying = 0
    for namespace, entries in sorted(by_namespace.items()):
        holds = cls.holds_cache_kit(env for _, env, _, _ in entries)
        classes = [cls.classify(env, near, holds, payload) for _, env, near, payload in entries]
        if all(c == cls.NOT_CACHE_KIT for c in classes):
            continue  # not a cache-kit namespace
        counts = Counter(classes)
        carrying += len(entries) - counts[cls.NOT_CACHE_KIT]
        observed["namespaces"][namespace] = {
            "valid": counts[cls.VALID],
            "invalid_magic": counts[cls.INVALID_MAGIC],
            "undecodable": counts[cls.UNDECODABLE],
        }
        outcomes = [(key, p) for key, _, _, p in entries if p is not None]
        states = Counter(p.get("state") for _, p in outcomes)
        if outcomes:
            payload_rows[namespace] = {
                "entity": outcomes[0][1].get("entity"),
                "decoded": states[ent.OK] + states[ent.TRAILING],
                "broken": states[ent.BROKEN],
                "trailing": states[ent.TRAILING],
                "no_layout": states[ent.NO_LAYOUT],
                "not_read": states[ent.NOT_READ],
            }
        broken = [(key, p) for key, p in outcomes if p.get("state") == ent.BROKEN]
        header_broken = counts[cls.UNDECODABLE] - len(broken)
        bad = [
            (key, klass)
            for (key, _, _, _), klass in zip(entries, classes, strict=True)
            if klass in (cls.INVALID_MAGIC, cls.UNDECODABLE)
        ]
        if bad:
            parts = []
            if counts[cls.INVALID_MAGIC]:
                parts.append(f"{counts[cls.INVALID_MAGIC]} with an invalid magic header")
            if header_broken:
                parts.append(f"{header_broken} that cannot be decoded")
            if broken:
                entity = broken[0][1].get("entity")
                parts.append(f"{len(broken)} whose payload does not decode as {entity}")
            # The smallest key as the example: the same run after run, whatever SCAN's order.
            if broken:
                key, outcome = min(broken, key=lambda pair: pair[0])
                example = f"e.g. {key}: {_field_failure(outcome)}"
            else:
                example = f"e.g. {min(bad)[0]}"
            problems.append(
                f"{namespace}: {' and '.join(parts)} among {len(entries)} sampled entries "
                f"({example})"
            )
        trailing = [(key, p) for key, p in outcomes if p.get("state") == ent.TRAILING]
        if trailing:
            key, outcome = min(trailing, key=lambda pair: pair[0])
            leftovers.append(
                f"{namespace}: {_plural(len(trailing), 'entry holds', 'entries hold')} bytes "
                f"past the last field of the {outcome.get('entity')} layout (e.g. {key}: "
                f"{ent.byte_count(outcome.get('trailing_bytes'))}): a field added without a "
                "schema-version bump, or a layout out of date"
            )
    if payload_rows:
        observed["payloads"] = payload_rows
    if layouts is not None:
        observed["values_read_whole"] = layouts.get("values_read_whole", 0)
    if not carrying:
        return skipped("no sampled value carries the cache-kit envelope", **observed)
    observed["verified"] = "header and payload" if payload_rows else "header"
    if problems:
        if layouts is None:  # a failure says what it did not look at, too
            leftovers.append("headers only: no [entities] layout to decode payloads with")
        return failed("; ".join(problems + leftovers), **observed)
    if leftovers:
        return warned("; ".join(leftovers), **observed)
    return passed(_clean_summary(carrying, layouts, payload_rows), **observed)


def _field_failure(outcome: dict[str, Any]) -> str:
    name = f" {outcome['field_name']}" if outcome.get("field_name") else ""
    return (
        f"field {outcome.get('field')}{name} ({outcome.get('field_type')}) at byte "
        f"{outcome.get('offset')}: {outcome.get('reason')}"
    )


def _clean_summary(
    carrying: int, layouts: dict[str, Any] | None, payload_rows: dict[str, dict[str, Any]]
) -> str:
    text = (
        f"{_plural(carrying, 'sampled cache-kit entry has', 'sampled cache-kit entries have')} "
        "a valid header (magic and schema version)"
    )
    if layouts is None:
        return text + "; payloads not decoded: no [entities] layout in cachediag.toml"
    decoded = sum(row["decoded"] for row in payload_rows.values())
    if not payload_rows:
        return text + "; payloads not decoded: no [entities] layout matches these namespaces"
    text += f"; {decoded} decoded in full against their [entities] layout"
    skipped_reads = sum(row["not_read"] + row["no_layout"] for row in payload_rows.values())
    if skipped_reads:
        text += f" ({skipped_reads} not: too large to read whole, or no layout for their version)"
    uncovered = carrying - decoded - skipped_reads
    if uncovered > 0:
        text += f"; {uncovered} in namespaces without a layout: header only"
    return text
