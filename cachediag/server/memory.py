"""`cachediag memory`: the guide's Issue 3 diagnosis steps, one reading and one verdict at a time.

Collection reuses the probes (the same facts `check` judges) and adds, for Redis,
MEMORY DOCTOR and MEMORY STATS. The report is a pure function of those facts; each
reading is judged by the checklist rule `check` uses for it, with the same thresholds.
"""

from __future__ import annotations

from typing import Any

from cachediag.checks.facts_view import number, redis_failed_writes, saturation, section, stats
from cachediag.checks.judge import Judge
from cachediag.checks.slab_view import refused_writes
from cachediag.errors import ProbeError, ServerSaturated, probe_error
from cachediag.probes.rows import mark_error, target_row
from cachediag.render.units import human_bytes, human_bytes_iec
from cachediag.safety.textsafe import safe_text
from cachediag.targets.target import Target

# MEMORY STATS fields worth showing; the rest is in --json.
STATS_HIGHLIGHTS = (
    "peak.allocated",
    "total.allocated",
    "startup.allocated",
    "replication.backlog",
    "clients.normal",
    "clients.slaves",
    "aof.buffer",
    "dataset.bytes",
    "dataset.percentage",
    "overhead.total",
    "keys.count",
    "keys.bytes-per-key",
    "fragmentation",
    "fragmentation.bytes",
)


# -- collection (I/O) -------------------------------------------------------------------


def collect(
    target: Target, timeout: float, sample_keys: int, since: float | None = None
) -> dict[str, Any]:
    from cachediag.backends import backend_for
    from cachediag.clients.probe_deadline import whole_probe

    with whole_probe(
        timeout, since=since
    ):  # the whole target's reading is bounded, as check's probe is
        return backend_for(target).memory_facts(target, timeout, sample_keys)


def redis_facts(target: Target, timeout: float, sample_keys: int) -> dict[str, Any]:
    """The probe's facts, and MEMORY DOCTOR and MEMORY STATS."""
    from cachediag.probes import redis as probe

    facts: dict[str, Any] = dict(probe.collect(target, timeout, sample_keys))
    if facts.get("status") == "up":
        facts.update(_memory_commands(target, timeout))
    return facts


def _memory_commands(target: Target, timeout: float) -> dict[str, Any]:
    """MEMORY DOCTOR and MEMORY STATS in one round trip; refused ones say why."""
    from cachediag.clients.resp import RedisClient, ReplyError

    out: dict[str, Any] = {
        "memory_doctor": {"available": False, "text": None, "reason": None},
        "memory_stats": {"available": False, "values": {}, "reason": None},
    }
    try:
        with RedisClient(target, timeout).connect() as client:
            doctor, memory_stats = client.pipeline([("MEMORY", "DOCTOR"), ("MEMORY", "STATS")])
    except ProbeError as error:
        for name in out:
            out[name]["reason"] = error.message
        return out
    if isinstance(doctor, ReplyError):
        out["memory_doctor"]["reason"] = f"MEMORY DOCTOR is unavailable: {doctor.text}"
    else:
        text = doctor.decode("utf-8", "replace") if isinstance(doctor, bytes) else str(doctor)
        out["memory_doctor"].update(available=True, text=text.strip())
    if isinstance(memory_stats, ReplyError):
        out["memory_stats"]["reason"] = f"MEMORY STATS is unavailable: {memory_stats.text}"
    else:
        out["memory_stats"].update(available=True, values=parse_memory_stats(memory_stats))
    return out


def parse_memory_stats(reply: Any) -> dict[str, Any]:
    """MEMORY STATS' flat name/value list as a dict (nested lists, like db.0, as dicts)."""
    if not isinstance(reply, list):
        return {}
    out: dict[str, Any] = {}
    for name, value in zip(reply[::2], reply[1::2], strict=False):
        key = name.decode("utf-8", "replace") if isinstance(name, bytes) else str(name)
        if isinstance(value, list):
            out[key] = parse_memory_stats(value)
        elif isinstance(value, bytes):
            out[key] = value.decode("utf-8", "replace")
        else:
            out[key] = value
    return out


# -- the report (pure) ------------------------------------------------------------------


def _reading(
    name: str, value: Any, display: str, verdict: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {"name": name, "value": value, "display": display, "verdict": verdict}


def projection(
    keys: float | None, average_bytes: float | None, basis: str | None = None
) -> dict[str, Any] | None:
    """The guide's estimate, "5,000,000 keys × 1 KiB ≈ 4.8 GiB", from DBSIZE and the sample.

    `basis` says where the average comes from when it is not the sample's.
    """
    if not keys or not average_bytes:
        return None
    total = keys * average_bytes
    out = {
        "keys": int(keys),
        "average_entry_bytes": round(average_bytes),
        "estimated_bytes": round(total),
        "text": f"{int(keys):,} keys × {human_bytes(average_bytes)} ≈ {human_bytes(total)}",
    }
    if basis:
        out["basis"] = basis
    return out


def server_average(st: dict[str, Any]) -> float | None:
    """Memcached's own average item size, `bytes / curr_items`: every item, not a sample."""
    used, items = number(st, "bytes"), number(st, "curr_items")
    return used / items if used is not None and items else None


def redis_report(facts: dict[str, Any], judge: Judge) -> dict[str, Any]:
    mem = section(facts, "memory")
    info_stats = section(facts, "stats")
    config = facts.get("config") or {}
    notes: list[str] = []
    if facts.get("errors", {}).get("info"):
        notes.append(f"INFO is unavailable: {facts['errors']['info']}")
    if not config.get("available", True):
        notes.append(f"{config.get('reason')}: maxmemory and the policy are read from INFO memory")

    used = number(mem, "used_memory")
    limit = number(mem, "maxmemory")
    if limit is None:
        raw = (config.get("values") or {}).get("maxmemory")
        limit = float(raw) if raw and str(raw).isdigit() else None
    policy = mem.get("maxmemory_policy") or (config.get("values") or {}).get("maxmemory-policy")
    ratio = number(mem, "mem_fragmentation_ratio")
    entry = judge("redis.entry_size", facts)
    average = entry["observed"].get("average_bytes")
    dbsize = facts.get("dbsize")

    readings = [
        _reading(
            "used_memory",
            used,
            _bytes_text(used),
            judge("redis.memory", facts),
        ),
        _reading(
            "used_memory_rss",
            number(mem, "used_memory_rss"),
            _bytes_text(number(mem, "used_memory_rss")),
        ),
        _reading(
            "used_memory_peak",
            number(mem, "used_memory_peak"),
            _bytes_text(number(mem, "used_memory_peak")),
        ),
        _reading(
            "maxmemory",
            limit,
            "0 (no limit)" if limit == 0 else _bytes_text(limit),
        ),
        _reading(
            "maxmemory_policy", policy, str(policy or "–"), judge("redis.eviction_policy", facts)
        ),
        _reading(
            "mem_fragmentation_ratio",
            ratio,
            f"{ratio:.2f}" if ratio is not None else "–",
            judge("redis.fragmentation", facts),
        ),
        _reading(
            "evicted_keys",
            number(info_stats, "evicted_keys"),
            _count(number(info_stats, "evicted_keys")),
            judge("redis.evictions", facts),
        ),
        _reading("dbsize", dbsize, _count(dbsize)),
        _reading(
            "keys_without_ttl",
            _without_ttl(facts),
            _count(_without_ttl(facts)),
            judge("redis.ttl", facts),
        ),
        _reading("average_entry_bytes", average, human_bytes(average) if average else "–", entry),
    ]
    readings += failed_write_readings(facts)
    readings += _stall_readings(facts, judge)
    sample = facts.get("sample") or {}
    if sample.get("memory_available") is False:
        notes.append(
            f"MEMORY USAGE is unavailable ({sample.get('memory_reason')}): "
            "entry sizes are string lengths only"
        )
    if sample.get("error"):
        notes.append(f"no key sample: {sample['error']}")
    doctor = facts.get("memory_doctor") or {}
    memory_stats = facts.get("memory_stats") or {}
    for part in (doctor, memory_stats):
        if part.get("reason"):
            notes.append(part["reason"])
    values = memory_stats.get("values") or {}
    return {
        "readings": readings,
        "errorstats": errorstats(facts),
        "databases": databases(facts),
        "projection": projection(dbsize, average),
        "sampled_keys": entry["observed"].get("sampled", 0),
        "memory_doctor": doctor.get("text"),
        "memory_stats": {name: values[name] for name in STATS_HIGHLIGHTS if name in values},
        "memory_stats_all": values,
        "notes": notes,
    }


def failed_write_readings(facts: dict[str, Any]) -> list[dict[str, Any]]:
    """Writes refused for memory (errorstat_OOM) and calls rejected (commandstats), when reported.

    A full server under noeviction (or volatile-* with nothing to evict) fails writes
    without a sound: these are the counts of it, since start or CONFIG RESETSTAT.
    """
    refused = redis_failed_writes(facts)
    out = []
    if refused["oom"] is not None:
        out.append(_reading("errorstat_OOM", refused["oom"], _count(refused["oom"])))
    if refused["rejected_calls"] is not None:
        out.append(
            _reading("rejected_calls", refused["rejected_calls"], _count(refused["rejected_calls"]))
        )
    return out


def errorstats(facts: dict[str, Any]) -> dict[str, int]:
    """INFO errorstats as {error prefix: count}: 'OOM', 'ERR', 'WRONGTYPE', ..."""
    out = {}
    for name, value in section(facts, "errorstats").items():
        count = number(value, "count") if isinstance(value, dict) else None
        if name.startswith("errorstat_") and count is not None:
            out[name.removeprefix("errorstat_")] = int(count)
    return out


def _stall_readings(facts: dict[str, Any], judge: Judge) -> list[dict[str, Any]]:
    """Issue 3's "request latency increasing": what a big dataset costs the server's thread.

    A fork for RDB/AOF copies the page tables of the whole dataset (latest_fork_usec), and
    eviction and expiry cycles run inside Redis: the latency monitor and SLOWLOG see them.
    """
    from cachediag.checks.facts_view import human_us

    fork_us = number(section(facts, "stats"), "latest_fork_usec")
    fork = "–" if fork_us is None else ("no fork yet" if not fork_us else human_us(fork_us))
    slow = judge("redis.slow_commands", facts)
    events = slow["observed"].get("latency_events") or []
    return [
        _reading("latest_fork_usec", fork_us, fork),
        _reading(
            "slow_commands",
            len(slow["observed"].get("slow_commands") or []) + len(events),
            _stall_display(slow),
            slow,
        ),
    ]


def _stall_display(slow: dict[str, Any]) -> str:
    observed = slow["observed"]
    groups = observed.get("slow_commands") or []
    events = observed.get("latency_events") or []
    if not groups and not events:
        return "none" if slow["status"] == "pass" else "–"
    from cachediag.checks.stalls import commands_text, events_text

    return "; ".join(part for part in (commands_text(groups), events_text(events)) if part)


def _without_ttl(facts: dict[str, Any]) -> int | None:
    if not facts.get("info"):
        return None
    return sum(db["without_ttl"] for db in databases(facts))


def databases(facts: dict[str, Any]) -> list[dict[str, Any]]:
    """Per database: keys, keys with and without a TTL, avg_ttl (INFO keyspace)."""
    out = []
    for name, db in sorted(
        section(facts, "keyspace").items(),
        key=lambda kv: int(kv[0][2:]) if kv[0][2:].isdigit() else 0,
    ):
        if not isinstance(db, dict):
            continue
        keys, expires = int(db.get("keys", 0)), int(db.get("expires", 0))
        out.append(
            {
                "db": name,
                "keys": keys,
                "with_ttl": expires,
                "without_ttl": keys - expires,
                "avg_ttl_ms": db.get("avg_ttl"),
            }
        )
    return out


def memcached_report(facts: dict[str, Any], judge: Judge) -> dict[str, Any]:
    st = stats(facts)
    settings = stats(facts, "settings")
    used, limit = number(st, "bytes"), number(st, "limit_maxbytes")
    entry = judge("memcached.entry_size", facts)
    # The server counts every item's bytes: its average needs no sample (issue 10, case 2).
    average = server_average(st)
    basis = "bytes / curr_items" if average is not None else None
    if average is None:
        average = entry["observed"].get("average_bytes")
    notes = [
        f"stats {group} is unavailable: {message}"
        for group, message in (facts.get("errors") or {}).items()
    ]
    sample = facts.get("sample") or {}
    if sample.get("error"):
        notes.append(f"no key sample: {sample['error']}")
    readings = [
        _reading("bytes", used, _iec_bytes_text(used)),
        *allocator_readings(facts, judge),
        _reading("limit_maxbytes", limit, _iec_bytes_text(limit)),
        _reading("curr_items", number(st, "curr_items"), _count(number(st, "curr_items"))),
        _reading(
            "evictions",
            number(st, "evictions"),
            _count(number(st, "evictions")),
            judge("memcached.evictions", facts),
        ),
        *unfetched_readings(facts),
        _reading(
            "eviction_setting",
            settings.get("evictions"),
            str(settings.get("evictions", "–")),
            judge("memcached.eviction_policy", facts),
        ),
        _reading(
            "average_entry_bytes",
            average,
            (human_bytes(average) + (f" ({basis})" if basis else "")) if average else "–",
            entry,
        ),
    ]
    return {
        "readings": readings,
        "slabs": slab_table(stats(facts, "slabs"), stats(facts, "items")),
        "projection": projection(number(st, "curr_items"), average, basis),
        "sampled_keys": entry["observed"].get("sampled", 0),
        "notes": notes,
    }


def allocator_readings(facts: dict[str, Any], judge: Judge) -> list[dict[str, Any]]:
    """The guide's Issue 3 Step 1 for Memcached: the slab allocator against the limit.

    `bytes` counts item bytes; the memory is `total_malloced` (stats slabs), and a
    write that finds neither a free chunk nor a page to take is refused (`outofmemory`,
    stats items) under -M. memcached.memory's verdict goes with the allocator.
    """
    malloced = number(stats(facts, "slabs"), "total_malloced")
    limit = number(stats(facts), "limit_maxbytes")
    shown = _iec_bytes_text(malloced)
    if malloced is not None and limit:
        shown += f", {100 * malloced / limit:.1f}% of limit_maxbytes"
    refused = refused_writes(facts)
    return [
        _reading("total_malloced", malloced, shown, judge("memcached.memory", facts)),
        _reading("outofmemory", refused, _count(refused)),
    ]


def unfetched_readings(facts: dict[str, Any]) -> list[dict[str, Any]]:
    """Items that left the cache before anyone read them: evicted, or expired, unread."""
    st = stats(facts)
    return [
        _reading(name, number(st, name), _count(number(st, name)))
        for name in ("evicted_unfetched", "expired_unfetched")
    ]


def _iec_bytes_text(value: float | None) -> str:
    return "–" if value is None else f"{int(value):,} B ({human_bytes_iec(value)})"


def slab_table(slabs: dict[str, Any], items: dict[str, Any]) -> list[dict[str, Any]]:
    """The table of `memcached-tool display`, from `stats slabs` and `stats items`.

    Full? is "no free chunk left in the class" (free_chunks == 0): memcached-tool's older
    test on free_chunks_end no longer means anything since 1.4.
    """
    classes: dict[int, dict[str, Any]] = {}
    for name, value in slabs.items():
        head, _, field = name.partition(":")
        if head.isdigit() and field:
            classes.setdefault(int(head), {})[field] = value
    per_item: dict[int, dict[str, Any]] = {}
    for name, value in items.items():
        parts = name.split(":")
        if len(parts) == 3 and parts[0] == "items" and parts[1].isdigit():
            per_item.setdefault(int(parts[1]), {})[parts[2]] = value
    rows = []
    for number_, slab in sorted(classes.items()):
        if not slab.get("total_pages"):
            continue
        item = per_item.get(number_, {})
        chunk = int(slab.get("chunk_size", 0))
        rows.append(
            {
                "class": number_,
                "item_size": chunk,
                "item_size_text": f"{chunk}B" if chunk < 1024 else f"{chunk / 1024:.1f}K",
                "max_age": item.get("age", 0),
                "pages": slab.get("total_pages", 0),
                "count": item.get("number", 0),
                "full": slab.get("free_chunks", 1) == 0,
                "evicted": item.get("evicted", 0),
                "evict_time": item.get("evicted_time", 0),
                "oom": item.get("outofmemory", 0),
            }
        )
    return rows


def _bytes_text(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{int(value):,} B ({human_bytes(value)})"


def _count(value: float | None) -> str:
    return "–" if value is None else f"{int(value):,}"


def build(
    target: Target, timeout: float, sample_keys: int, judge: Judge, since: float | None = None
) -> dict[str, Any]:
    """Collect and judge one target: its row of the cachediag.memory/v1 document."""
    row = target_row(target)
    try:
        facts = collect(target, timeout, sample_keys, since)
    except ProbeError as error:  # pragma: no cover - probes report failures in their facts
        return mark_error(row, target, error)
    return judge_facts(target, facts, judge)


def judge_facts(target: Target, facts: dict[str, Any], judge: Judge) -> dict[str, Any]:
    """One target's row from its facts (pure): live, or read back from a bundle."""
    row = target_row(target)
    if saturated := saturation(facts):
        return mark_error(row, target, ServerSaturated(saturated["message"], saturated["limit"]))
    if facts.get("status") != "up":
        why = (
            (facts.get("ping") or {}).get("error")
            or (facts.get("connect") or {}).get("error")
            or {}
        )
        return mark_error(
            row, target, probe_error(why.get("kind", "error"), why.get("message", "no answer"))
        )
    if facts.get("errors", {}).get("probe"):
        row["error"] = {"kind": "error", "message": safe_text(facts["errors"]["probe"])}
    from cachediag.backends import backend_for

    row.update(backend_for(target).memory_report(facts, judge))
    return row
