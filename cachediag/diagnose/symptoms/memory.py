"""Issue 3, high memory usage: what the memory holds, and why it is not given back.

Entries too large (the sample's sizes per namespace), entries that never expire (INFO
keyspace), a keyspace that keeps growing (the window's two readings), no limit or a
policy that cannot evict, and memory that is not the dataset at all: fragmentation,
client output buffers, the replication backlog, or a leak (memory rising over the
window while the keys do not). Memcached: items refused for their size, and slab
calcification (one class evicting while the others hold free chunks).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from cachediag.checks.facts_view import keyspace_totals, number, redis_failed_writes, section
from cachediag.checks.rules.cache import policy_that_cannot_evict
from cachediag.checks.slab_view import slab_memory
from cachediag.checks.window import first_reading
from cachediag.diagnose.model import Findings, Signal
from cachediag.diagnose.symptoms.registry import Params, cause, symptom
from cachediag.diagnose.view import TargetView
from cachediag.keyspace.namespaces import namespace_of
from cachediag.render.units import human_bytes, plural


def _memory(view: TargetView) -> dict[str, Any]:
    return section(view.facts, "memory")


def _used_and_limit(view: TargetView) -> tuple[float | None, float | None]:
    if view.redis:
        memory = _memory(view)
        return number(memory, "used_memory"), number(memory, "maxmemory")
    allocator = slab_memory(view.facts)
    if allocator is not None:
        return float(allocator.malloced), float(allocator.limit)
    return view.counter("stats", "bytes"), view.counter("stats", "limit_maxbytes")


@symptom("memory")
def signal(view: TargetView, params: Params) -> Signal:
    if not view.readable:
        return Signal(None, "no readings from this target")
    used, limit = _used_and_limit(view)
    if used is None:
        return Signal(None, "memory use was not reported")
    found, worse = [], 0
    full_percent = float(params.get("full_percent", 80))
    if limit:
        percent = 100 * used / limit
        text = f"{human_bytes(used)} used of {human_bytes(limit)} ({percent:.0f}%)"
        if percent >= full_percent:
            found.append(text)
    else:
        text = f"{human_bytes(used)} used, no maxmemory"
        host_total = ((view.host or {}).get("memory") or {}).get("total_bytes")
        if isinstance(host_total, (int, float)) and used >= 0.25 * host_total:
            found.append(f"{text}: {100 * used / host_total:.0f}% of this host's RAM")
    refused = _refused(view)
    if refused:
        found.append(f"{plural(refused, 'write')} refused for memory")
        worse = 1
    if found:
        return Signal(True, "; ".join(found), worse)
    return Signal(False, text)


def _refused(view: TargetView) -> float:
    if view.redis:
        return float(redis_failed_writes(view.facts).get("oom") or 0)
    allocator = slab_memory(view.facts)
    refused = allocator.outofmemory if allocator else 0
    return float(refused + (view.counter("stats", "store_too_large") or 0))


def _sizes(view: TargetView) -> list[tuple[float, str]]:
    sizes = []
    for item in view.sample_keys:
        size = item.get("memory") if view.redis else item.get("size")
        if size is None:
            size = item.get("length")
        if isinstance(size, (int, float)):
            sizes.append((float(size), str(item.get("key", ""))))
    return sizes


@cause(
    "memory.entries-too-large",
    evidence=("large_entries", "huge_entry", "refused_for_size", "small_entries"),
    missing=("sample",),
)
def entries_too_large(view: TargetView, params: Params) -> Findings:
    found = Findings()
    too_large = None if view.redis else view.counter("stats", "store_too_large")
    if too_large:
        found.saw(
            "refused_for_size",
            f"{plural(too_large, 'write')} refused for the item size (store_too_large, above -I)",
        )
    sizes = _sizes(view)
    if not sizes:
        found.lacks("sample", (view.sample or {}).get("error") or "no key sampled")
        return found
    average = sum(size for size, _ in sizes) / len(sizes)
    per_namespace: dict[str, list[float]] = defaultdict(list)
    for size, key in sizes:
        per_namespace[namespace_of(key)].append(size)
    heaviest = sorted(per_namespace.items(), key=lambda kv: -sum(kv[1]) / len(kv[1]))[:3]
    where = ", ".join(f"{ns} {human_bytes(sum(s) / len(s))}" for ns, s in heaviest)
    largest, largest_key = max(sizes)
    avg_bytes = float(params.get("avg_bytes", 512))
    huge_bytes = float(params.get("huge_bytes", 1024 * 1024))
    if average >= avg_bytes:
        found.saw(
            "large_entries",
            f"sampled entries average {human_bytes(average)} (the guide: 512+ bytes, consider "
            f"smaller DTOs); by namespace: {where}",
        )
    if largest >= huge_bytes:
        found.saw("huge_entry", f"{largest_key} is {human_bytes(largest)}")
    if average < avg_bytes and largest < huge_bytes and not too_large:
        found.saw(
            "small_entries",
            f"sampled entries average {human_bytes(average)}, the largest {human_bytes(largest)}",
        )
    return found


@cause(
    "memory.no-ttl",
    evidence=("keys_without_ttl", "some_without_ttl", "keys_expire"),
    missing=("sample",),
)
def no_ttl(view: TargetView, params: Params) -> Findings:
    found = Findings()
    if view.redis:
        total, expiring = keyspace_totals(view.facts)
        source = "INFO keyspace"
    else:
        keys = view.sample_keys
        if not keys:
            found.lacks("sample", (view.sample or {}).get("error") or "no key sampled")
            return found
        total = float(len(keys))
        expiring = float(sum(1 for item in keys if item.get("exp") != -1))
        source = "sampled items"
    if not total:
        return found
    share = (total - expiring) / total
    text = f"{share:.0%} of keys never expire ({total - expiring:,.0f} of {total:,.0f}, {source})"
    if share >= float(params.get("most_share", 0.5)):
        found.saw("keys_without_ttl", text)
    elif share >= float(params.get("some_share", 0.1)):
        found.saw("some_without_ttl", text)
    else:
        found.saw("keys_expire", text)
    return found


@cause(
    "memory.unbounded-growth",
    evidence=("keys_growing", "keys_flat"),
    missing=("window",),
)
def unbounded_growth(view: TargetView, params: Params) -> Findings:
    found = Findings()
    churn = view.churn
    if churn is None or churn.basis != "window" or churn.keys_before is None:
        found.lacks("window", "DBSIZE over two readings")
        return found
    before, kept = churn.keys_before, churn.kept or 0.0
    grew_share = kept / before if before else (1.0 if kept else 0.0)
    if kept >= float(params.get("min_new_keys", 50)) and grew_share >= float(
        params.get("growth_share", 0.01)
    ):
        namespaces = _growing_namespaces(view)
        found.saw(
            "keys_growing",
            f"{kept:+,.0f} keys {churn.during} ({before:,.0f} -> {before + kept:,.0f}, "
            f"{grew_share:+.1%})" + (f"; most sampled in {namespaces}" if namespaces else ""),
        )
    elif abs(grew_share) < float(params.get("growth_share", 0.01)) or abs(kept) < 1:
        found.saw("keys_flat", f"{before:,.0f} keys, {kept:+,.0f} {churn.during}")
    return found


def _growing_namespaces(view: TargetView) -> str:
    counts: dict[str, int] = defaultdict(int)
    for item in view.sample_keys:
        counts[namespace_of(str(item.get("key", "")))] += 1
    top = sorted(counts.items(), key=lambda kv: -kv[1])[:2]
    return ", ".join(f"{ns} ({n})" for ns, n in top)


@cause(
    "memory.no-eviction",
    evidence=("no_maxmemory", "policy_cannot_evict", "oom_refusals", "evicting_policy"),
)
def no_eviction(view: TargetView, params: Params) -> Findings:
    found = Findings()
    if not view.redis:
        evictions = str((view.facts.get("settings") or {}).get("evictions", "on")).lower()
        if evictions == "off":
            found.saw("policy_cannot_evict", "started with -M: a full cache refuses writes")
        else:
            found.saw("evicting_policy", "evictions on (LRU) within -m")
        refused = slab_memory(view.facts)
        if refused is not None and refused.outofmemory:
            found.saw(
                "oom_refusals", f"{plural(refused.outofmemory, 'write')} refused (outofmemory)"
            )
        return found
    memory = _memory(view)
    limit = number(memory, "maxmemory")
    policy = str(memory.get("maxmemory_policy") or "")
    oom = redis_failed_writes(view.facts).get("oom")
    if oom:
        found.saw("oom_refusals", f"{plural(oom, 'write')} refused with OOM (errorstat_OOM)")
    if not limit:
        found.saw("no_maxmemory", "no maxmemory: Redis grows until the host runs out")
        return found
    verdict = policy_that_cannot_evict(view.facts, policy) if policy else None
    if verdict is not None and verdict.status == "fail":
        # Its first clause: the refusals it goes on to count are their own evidence.
        found.saw("policy_cannot_evict", verdict.summary.split("; ")[0])
    elif policy:
        found.saw("evicting_policy", f"maxmemory {human_bytes(limit)} with {policy}")
    return found


@cause(
    "memory.fragmentation",
    evidence=("fragmented", "not_fragmented"),
    kinds=("redis",),
)
def fragmentation(view: TargetView, params: Params) -> Findings:
    found = Findings()
    memory = _memory(view)
    ratio = number(memory, "mem_fragmentation_ratio")
    used, rss = number(memory, "used_memory"), number(memory, "used_memory_rss")
    if ratio is None or used is None or rss is None:
        return found
    gap = rss - used
    if ratio > float(params.get("above", 1.5)) and gap >= float(params.get("min_gap_bytes", 2**26)):
        found.saw(
            "fragmented",
            f"fragmentation ratio {ratio:.2f}: RSS {human_bytes(rss)} for {human_bytes(used)} "
            f"of data, {human_bytes(gap)} lost to fragmentation",
        )
    else:
        found.saw(
            "not_fragmented",
            f"ratio {ratio:.2f}, {human_bytes(max(gap, 0))} between RSS and the data",
        )
    return found


@cause(
    "memory.client-buffers",
    evidence=("big_client_buffers", "small_client_buffers"),
    kinds=("redis",),
)
def client_buffers(view: TargetView, params: Params) -> Findings:
    found = Findings()
    memory = _memory(view)
    clients = number(memory, "mem_clients_normal")
    used = number(memory, "used_memory")
    if clients is None or not used:
        return found
    share = clients / used
    text = f"client buffers {human_bytes(clients)} ({share:.0%} of used memory)"
    if share >= float(params.get("share", 0.1)) and clients >= float(
        params.get("min_bytes", 2**20)
    ):
        biggest = number(section(view.facts, "clients"), "client_recent_max_output_buffer")
        found.saw(
            "big_client_buffers",
            text
            + (f"; the largest output buffer {human_bytes(biggest)}" if biggest else "")
            + ": clients that read their replies slowly (pub/sub subscribers, MONITOR, big "
            "replies)",
        )
    else:
        found.saw("small_client_buffers", text)
    return found


@cause(
    "memory.replication-backlog",
    evidence=("large_backlog", "small_backlog"),
    kinds=("redis",),
)
def replication_backlog(view: TargetView, params: Params) -> Findings:
    found = Findings()
    memory = _memory(view)
    backlog = number(memory, "mem_replication_backlog")
    used = number(memory, "used_memory")
    if backlog is None or not used:
        return found
    share = backlog / used
    text = f"replication backlog {human_bytes(backlog)} ({share:.0%} of used memory)"
    if share >= float(params.get("share", 0.1)) and backlog >= float(
        params.get("min_bytes", 2**20)
    ):
        found.saw("large_backlog", text + " (repl-backlog-size)")
    else:
        found.saw("small_backlog", text)
    return found


@cause(
    "memory.application-leak",
    evidence=("memory_rises_keys_flat", "memory_follows_keys", "memory_flat"),
    missing=("window",),
    kinds=("redis",),
)
def application_leak(view: TargetView, params: Params) -> Findings:
    found = Findings()
    first = first_reading(view.facts) or {}
    before_memory = first.get("memory")
    churn = view.churn
    if not isinstance(before_memory, dict) or churn is None or churn.keys_before is None:
        found.lacks("window", "memory over two readings")
        return found
    before = number(before_memory, "used_memory")
    after = number(_memory(view), "used_memory")
    if before is None or after is None:
        return found
    rise = after - before
    kept = churn.kept or 0.0
    min_rise = max(
        float(params.get("min_rise_bytes", 2**20)), float(params.get("rise_share", 0.05)) * before
    )
    if rise >= min_rise and kept <= 0:
        scripts = number(_memory(view), "used_memory_scripts")
        scripts_before = number(before_memory, "used_memory_scripts")
        why = ""
        if (
            scripts is not None
            and scripts_before is not None
            and scripts - scripts_before > rise / 2
        ):
            why = (
                f"; of it the Lua scripts cache +{human_bytes(scripts - scripts_before)}: "
                "a script with a new body each call (EVAL) is cached forever"
            )
        found.saw(
            "memory_rises_keys_flat",
            f"used memory +{human_bytes(rise)} {churn.during} while the keys went "
            f"{kept:+,.0f}{why}",
        )
    elif rise >= min_rise:
        found.saw(
            "memory_follows_keys",
            f"used memory +{human_bytes(rise)} with {kept:+,.0f} keys {churn.during}: "
            "the data grows",
        )
    else:
        sign = "+" if rise >= 0 else "-"
        found.saw("memory_flat", f"used memory {sign}{human_bytes(abs(rise))} {churn.during}")
    return found


@cause(
    "memory.slab-calcification",
    evidence=("calcified", "no_class_evicting"),
    kinds=("memcached",),
)
def slab_calcification(view: TargetView, params: Params) -> Findings:
    found = Findings()
    allocator = slab_memory(view.facts)
    if allocator is None:
        return found
    evicting = allocator.evicting
    idle = allocator.idle_bytes
    if evicting and idle >= float(params.get("min_idle_bytes", 2**20)):
        classes = ", ".join(f"class {c.id} ({plural(c.evicted, 'eviction')})" for c in evicting[:3])
        automove = allocator.automove
        found.saw(
            "calcified",
            f"{classes} evicting while other classes hold {human_bytes(idle)} of free chunks"
            + (f" (slab_automove={automove})" if automove is not None else ""),
        )
    elif not evicting:
        found.saw("no_class_evicting", "no full slab class is evicting")
    return found
