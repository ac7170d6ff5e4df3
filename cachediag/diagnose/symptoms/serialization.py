"""Issue 4, serialization errors: a schema change, corrupt entries, unsupported types, or
values written by another serializer.

Read from the key sample's first bytes (the cache-kit envelope: b"CKIT", a varint schema
version), the payloads decoded against [entities] layouts when configured, and the
application's "Serialization failed" / "version mismatch" / "Invalid magic" lines. A
value without the magic in a namespace of cache-kit entries is classified as everywhere
(keyspace.classify); here it is also told apart by its first bytes: JSON, pickle, Java
serialization or msgpack is another serializer writing there, anything else is damage.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from cachediag.diagnose.model import Findings, Signal
from cachediag.diagnose.symptoms.registry import Params, cause, symptom
from cachediag.diagnose.view import TargetView
from cachediag.keyspace import classify as cls
from cachediag.keyspace import envelope
from cachediag.keyspace.namespaces import namespace_of
from cachediag.render.units import plural


def foreign_format(head: bytes) -> str | None:
    """The serializer another writer used, from a value's first bytes, or None."""
    stripped = head.lstrip(b" \t\r\n")
    if stripped[:1] in (b"{", b"["):
        return "JSON"
    if head[:4] == b"\xac\xed\x00\x05":
        return "Java serialization"
    if len(head) > 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return "pickle"
    if head and (0x80 <= head[0] <= 0x9F or head[0] in (0xDC, 0xDD, 0xDE, 0xDF)):
        return "msgpack"
    return None


@dataclass
class Namespace:
    versions: Counter[int] = field(default_factory=Counter)
    valid: int = 0
    corrupt: list[str] = field(default_factory=list)  # invalid magic, broken header
    foreign: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    broken_payloads: list[tuple[str, str]] = field(default_factory=list)  # key, reason
    decoded: int = 0
    cache_kit: bool = False


def survey(view: TargetView) -> dict[str, Namespace]:
    """Per namespace: schema versions, valid / corrupt / foreign entries, payload outcomes."""
    heads: dict[str, list[tuple[str, bytes, int | None, dict | None]]] = defaultdict(list)
    for item in view.sample_keys:
        head_hex = item.get("head_hex")
        if not isinstance(head_hex, str):
            continue
        try:
            head = bytes.fromhex(head_hex)
        except ValueError:
            continue
        key = str(item.get("key", ""))
        heads[namespace_of(key)].append((key, head, item.get("length"), item.get("payload")))
    out: dict[str, Namespace] = {}
    for name, entries in heads.items():
        ns = Namespace()
        decoded = [
            (key, head, envelope.decode(head, length), p) for key, head, length, p in entries
        ]
        ns.cache_kit = cls.holds_cache_kit(env for _, _, env, _ in decoded)
        for key, head, env, payload in decoded:
            verdict = cls.classify(env, cls.near_magic(head), ns.cache_kit, payload)
            if env.carries_magic and env.version is not None:
                ns.versions[env.version] += 1
            if isinstance(payload, dict) and payload.get("state") in ("ok", "trailing", "broken"):
                ns.decoded += 1
                if payload.get("state") == "broken":
                    ns.broken_payloads.append((key, str(payload.get("reason") or "broken")))
            if verdict == cls.VALID:
                ns.valid += 1
            elif verdict == cls.INVALID_MAGIC and (kind := foreign_format(head)):
                ns.foreign[kind].append(key)
            elif verdict in (cls.INVALID_MAGIC, cls.UNDECODABLE) and not (
                isinstance(payload, dict) and payload.get("state") == "broken"
            ):
                ns.corrupt.append(key)
        if ns.cache_kit:
            out[name] = ns
    return out


def _log_lines(view: TargetView, *words: str) -> tuple[int | None, list[str]]:
    """Serialization lines in the log (None without a log), and the samples naming `words`."""
    count = view.log_count("serialization")
    samples = view.log_samples("serialization")
    return count, [s for s in samples if any(w in s.lower() for w in words)]


@symptom("serialization")
def signal(view: TargetView, params: Params) -> Signal:
    if not view.readable:
        return Signal(None, "no readings from this target")
    found = []
    namespaces = survey(view)
    corrupt = sum(len(ns.corrupt) + len(ns.broken_payloads) for ns in namespaces.values())
    foreign = sum(len(keys) for ns in namespaces.values() for keys in ns.foreign.values())
    mixed_versions = [name for name, ns in namespaces.items() if len(ns.versions) > 1]
    if corrupt:
        verb = "does" if corrupt == 1 else "do"
        found.append(
            f"{plural(corrupt, 'sampled entry', 'sampled entries')} that {verb} not decode"
        )
    if foreign:
        found.append(f"{plural(foreign, 'value')} of another serializer among cache-kit entries")
    if mixed_versions:
        found.append(f"several schema versions in {', '.join(mixed_versions[:3])}")
    logged = view.log_count("serialization")
    if logged:
        found.append(f"{plural(logged, 'serialization error')} in the application's log")
    if found:
        result = Signal(True, "; ".join(found), 1 if corrupt or logged else 0)
    else:
        entries = sum(ns.valid for ns in namespaces.values())
        result = Signal(
            False,
            f"{plural(entries, 'sampled cache-kit entry', 'sampled cache-kit entries')} decode",
        )
    if logged is None:
        result.lacks("log", "the serialization errors the application logged")
    return result


def _example(keys: list[str]) -> str:
    return f" (e.g. {keys[0]})" if keys else ""


@cause(
    "serialization.schema-mismatch",
    evidence=("two_versions", "version_mismatch_lines", "one_version"),
    missing=("sample", "log"),
)
def schema_mismatch(view: TargetView, params: Params) -> Findings:
    found = Findings()
    namespaces = survey(view)
    if not view.sample_keys:
        found.lacks("sample", (view.sample or {}).get("error") or "no key sampled")
    mixed = {name: ns.versions for name, ns in namespaces.items() if len(ns.versions) > 1}
    if mixed:
        parts = [
            f"{name}: " + ", ".join(f"v{v} ×{n}" for v, n in sorted(versions.items()))
            for name, versions in list(mixed.items())[:3]
        ]
        found.saw("two_versions", "entries of several schema versions: " + "; ".join(parts))
    elif sum(ns.valid for ns in namespaces.values()) >= int(params.get("min_entries", 5)):
        found.saw(
            "one_version",
            "one schema version per namespace ("
            + ", ".join(f"{n} v{min(ns.versions)}" for n, ns in namespaces.items() if ns.versions)
            + ")",
        )
    count, lines = _log_lines(view, "version mismatch")
    if count is None:
        found.lacks("log", "its 'version mismatch' lines")
    elif lines:
        found.saw("version_mismatch_lines", f"the application logged {lines[0]!r}")
    return found


@cause(
    "serialization.corrupt-entries",
    evidence=("invalid_magic", "magic_log_lines", "entries_valid"),
    missing=("sample", "log"),
)
def corrupt_entries(view: TargetView, params: Params) -> Findings:
    found = Findings()
    if not view.sample_keys:
        found.lacks("sample", (view.sample or {}).get("error") or "no key sampled")
    namespaces = survey(view)
    corrupt = {name: ns.corrupt for name, ns in namespaces.items() if ns.corrupt}
    if corrupt:
        parts = [f"{name}: {len(keys)}{_example(keys)}" for name, keys in list(corrupt.items())[:3]]
        found.saw(
            "invalid_magic",
            "entries with an invalid magic header or a broken header among cache-kit entries: "
            + "; ".join(parts),
        )
    elif sum(ns.valid for ns in namespaces.values()) >= int(params.get("min_entries", 5)):
        valid = sum(ns.valid for ns in namespaces.values())
        found.saw(
            "entries_valid",
            f"every one of {plural(valid, 'sampled entry', 'sampled entries')} has a valid header",
        )
    count, lines = _log_lines(view, "magic", "invalid cache entry")
    if count is None:
        found.lacks("log", "its 'Invalid magic' lines")
    elif lines:
        found.saw("magic_log_lines", f"the application logged {lines[0]!r}")
    return found


@cause(
    "serialization.unsupported-types",
    evidence=("undecodable_payloads", "unsupported_log_lines", "payloads_decode"),
    missing=("entities", "log"),
)
def unsupported_types(view: TargetView, params: Params) -> Findings:
    found = Findings()
    layouts = ((view.sample or {}).get("payloads") or {}).get("entities")
    namespaces = survey(view)
    broken = {name: ns.broken_payloads for name, ns in namespaces.items() if ns.broken_payloads}
    decoded = sum(ns.decoded for ns in namespaces.values())
    if not layouts:
        found.lacks("entities", "without one only the headers are read, not the payloads")
    elif broken:
        entries = next(iter(broken.values()))
        key, reason = entries[0]
        found.saw(
            "undecodable_payloads",
            f"{plural(sum(len(v) for v in broken.values()), 'payload')} do not decode against "
            f"the entity layout, e.g. {key}: {reason}",
        )
    elif decoded:
        found.saw("payloads_decode", f"{plural(decoded, 'payload')} decode field by field")
    count, lines = _log_lines(view, "unsupported", "decimal", "not supported")
    if count is None:
        found.lacks("log", "its 'Serialization failed' lines")
    elif lines:
        found.saw("unsupported_log_lines", f"the application logged {lines[0]!r}")
    return found


@cause(
    "serialization.mixed-serializers",
    evidence=("foreign_formats", "one_format"),
    missing=("sample",),
)
def mixed_serializers(view: TargetView, params: Params) -> Findings:
    found = Findings()
    if not view.sample_keys:
        found.lacks("sample", (view.sample or {}).get("error") or "no key sampled")
        return found
    namespaces = survey(view)
    foreign = {name: ns.foreign for name, ns in namespaces.items() if ns.foreign}
    if foreign:
        parts = [
            f"{name}: "
            + ", ".join(f"{kind} ×{len(keys)}{_example(keys)}" for kind, keys in kinds.items())
            for name, kinds in list(foreign.items())[:3]
        ]
        found.saw(
            "foreign_formats",
            "values of another serializer beside cache-kit entries: " + "; ".join(parts),
        )
    elif sum(ns.valid for ns in namespaces.values()) >= int(params.get("min_entries", 5)):
        found.saw("one_format", "no JSON, pickle, Java or msgpack value among cache-kit entries")
    return found
