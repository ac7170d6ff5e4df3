"""`memcached.memory`: is the slab allocator full, and what does a full one cost?

Judged on the allocator, not on `bytes`: `memcached -m 16` holding 40,000 items of
878 B reads `bytes` at 75% of the limit while `total_malloced` is at 100%, its one
busy class has no free chunk, and two of every three items written were evicted.

Memcached is built to fill its memory, so a full allocator alone is no fault. The
verdict rests on what fullness does (issue 10, cases 3 and 4):
- writes refused (`outofmemory`, `-M` at its limit): fail, with the count;
- a full class evicting: judged by how long it keeps an item, the age of its oldest
  item (its LRU tail). Under `fail_retention_below_seconds` the cache barely caches;
  under `warn_retention_below_seconds` (the guide's one-hour TTL of Solution 3A)
  entries go before their TTL would end; longer is a bounded cache's steady state;
- `-M` with the allocator at `warn_at_percent`: writes will fail once it is full.
"""

from __future__ import annotations

from typing import Any

from cachediag.checks.base import Facts, Outcome, Thresholds, graded_at, rule, skipped
from cachediag.checks.facts_view import number, pct, stats
from cachediag.checks.rules.cache import info_gap
from cachediag.checks.slab_view import SlabClass, SlabMemory, slab_memory
from cachediag.render.units import human_bytes_iec, human_duration

# One slab page: the unit memory moves between classes in (slab_automove, slabs reassign).
PAGE_BYTES = 1024 * 1024


def _class_name(slab: SlabClass) -> str:
    return f"class {slab.id} ({human_bytes_iec(slab.chunk_size)} chunks)"


def _per(count: int, seconds: int) -> str:
    """An average in the unit that reads naturally ('5,345/s', '12/min', '3.5/h'); the
    caller names the window it was averaged over."""
    rate = count / seconds
    if rate >= 1:
        return f"{rate:,.0f}/s"
    if rate * 60 >= 1:
        return f"{rate * 60:,.0f}/min"
    return f"{rate * 3600:,.1f}/h"


def _lifetime(seconds: int) -> str:
    # memcached counts ages in whole seconds: 0 means under one.
    return "under a second" if seconds < 1 else f"about {human_duration(seconds)}"


def _allocator_text(mem: SlabMemory) -> str:
    text = (
        f"slab allocator {human_bytes_iec(mem.malloced)} of {human_bytes_iec(mem.limit)} "
        f"({mem.used_percent:.1f}%)"
    )
    if mem.item_bytes is not None:
        text += f", items {human_bytes_iec(mem.item_bytes)}"
    return text


def _evictions_text(mem: SlabMemory) -> str:
    text = f"{mem.evictions:,} evictions since start"
    if mem.uptime > 0 and mem.evictions:
        text += (
            f" ({_per(mem.evictions, mem.uptime)} averaged over the {human_duration(mem.uptime)} "
            "since start; cachediag watch shows the live rate)"
        )
    if mem.evicted_unfetched:
        if mem.evicted_unfetched >= mem.evictions:
            text += ", none of them was ever read (evicted_unfetched)"
        else:
            text += f", {mem.evicted_unfetched:,} of them never read (evicted_unfetched)"
    return text


def _idle_text(mem: SlabMemory, evicting: list[SlabClass], th: Thresholds) -> str | None:
    """Slab calcification: free chunks in other classes that the evicting class cannot use."""
    if mem.idle_bytes < th.get("note_idle_bytes", PAGE_BYTES):
        return None
    holders = [slab for slab in mem.classes if not slab.full and slab.free_bytes]
    names = ", ".join(str(slab.id) for slab in holders[:5])
    mover = (
        "slab_automove is off: those pages stay where they are"
        if mem.automove in ("0", "False", "false", "no")
        else f"slab_automove={mem.automove} moves pages over slowly"
        if mem.automove is not None
        else "slab_automove was not reported"
    )
    noun = "class" if len(holders) == 1 else "classes"
    verb = "holds" if len(holders) == 1 else "hold"
    return (
        f"{noun} {names} {verb} {human_bytes_iec(mem.idle_bytes)} in free chunks that "
        f"class {evicting[0].id} cannot use ({mover})"
    )


def _observed(mem: SlabMemory, evicting: list[SlabClass]) -> dict[str, Any]:
    observed: dict[str, Any] = {
        "used_bytes": mem.malloced,
        "max_bytes": mem.limit,
        "used_percent": round(mem.used_percent, 2),
        "item_bytes": mem.item_bytes,
        "full_classes": [slab.id for slab in mem.classes if slab.full],
        "evictions": mem.evictions,
        "evicted_unfetched": mem.evicted_unfetched,
        "expired_unfetched": mem.expired_unfetched,
        "outofmemory": mem.outofmemory,
        "idle_bytes": mem.idle_bytes,
    }
    if evicting:
        observed["evicting_classes"] = [
            {
                "class": slab.id,
                "chunk_size": slab.chunk_size,
                "evicted": slab.evicted,
                "oldest_item_age_seconds": slab.age,
            }
            for slab in evicting
        ]
        observed["retention_seconds"] = min(slab.age for slab in evicting)
    if mem.uptime > 0:
        observed["evictions_per_second_since_start"] = round(mem.evictions / mem.uptime, 3)
    return observed


def _refused(mem: SlabMemory, observed: dict[str, Any]) -> Outcome:
    refusing = [slab for slab in mem.classes if slab.outofmemory]
    where = ", ".join(_class_name(slab) for slab in refusing[:3])
    why = "evictions are off (-M)" if not mem.evictions_on else "nothing could be evicted"
    return Outcome(
        "fail",
        f"{mem.outofmemory:,} writes refused since start (SERVER_ERROR out of memory, counted "
        f"in outofmemory): {why} and {where} had no room; {_allocator_text(mem)}",
        observed,
    )


def _evicting(
    mem: SlabMemory, evicting: list[SlabClass], th: Thresholds, observed: dict[str, Any]
) -> Outcome:
    worst = min(evicting, key=lambda slab: slab.age)
    retention = worst.age
    fail_below = th.get("fail_retention_below_seconds", 60)
    warn_below = th.get("warn_retention_below_seconds", 3600)
    status = "fail" if retention < fail_below else "warn" if retention < warn_below else "pass"
    others = f" and {len(evicting) - 1} more" if len(evicting) > 1 else ""
    parts = [
        _allocator_text(mem),
        f"{_class_name(worst)}{others} full and evicting: an item lasts "
        f"{_lifetime(retention)} there (the age of its oldest item)",
        _evictions_text(mem),
    ]
    if status == "pass":
        parts[1] += " (a bounded LRU cache's steady state)"
    idle = _idle_text(mem, evicting, th)
    if idle:
        parts.append(idle)
    return Outcome(status, "; ".join(parts), observed)


def _by_item_bytes(facts: Facts, th: Thresholds) -> Outcome:
    """Facts without `stats slabs` (older recordings): the item bytes, as before."""
    used, limit = number(stats(facts), "bytes"), number(stats(facts), "limit_maxbytes")
    if used is None or not limit:
        return skipped("memory use was not reported")
    used_pct = pct(used, limit)
    return Outcome(
        graded_at(used_pct, th.get("warn_at_percent", 80), th.get("fail_at_percent", 95)),
        f"items {human_bytes_iec(used)} of {human_bytes_iec(limit)} ({used_pct:.1f}%); "
        "the slab allocator (stats slabs) was not reported",
        {"used_bytes": used, "max_bytes": limit, "used_percent": round(used_pct, 2)},
    )


@rule("memcached.memory")
def memcached_memory(facts: Facts, th: Thresholds) -> Outcome:
    if gap := info_gap(facts):
        return gap
    mem = slab_memory(facts)
    if mem is None:
        return _by_item_bytes(facts, th)
    evicting = mem.evicting
    observed = _observed(mem, evicting)
    if mem.outofmemory:
        return _refused(mem, observed)
    if evicting:
        return _evicting(mem, evicting, th, observed)
    text = _allocator_text(mem)
    full = [slab for slab in mem.classes if slab.full]
    near = graded_at(mem.used_percent, th.get("warn_at_percent", 80), None) == "warn"
    if not mem.evictions_on and near:
        what = (
            f"{_class_name(full[0])} has no free chunk left: its next write fails"
            if full
            else "once it is full, writes fail"
        )
        return Outcome(
            "warn", f"{text}; evictions off (-M): {what} (SERVER_ERROR out of memory)", observed
        )
    if mem.evictions:
        text += f"; {_evictions_text(mem)}, no class is full now"
    elif full and near:
        text += f"; {_class_name(full[0])} is full: its next write evicts, none has yet"
    else:
        text += "; no evictions"
    return Outcome("pass", text, observed)
