"""Rules for the checklist's Cache Issues section, for Redis and Memcached targets."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from cachediag.checks.base import (
    Facts,
    Outcome,
    Thresholds,
    failed,
    graded,
    graded_at,
    passed,
    rule,
    skipped,
    warned,
)
from cachediag.checks.facts_view import (
    keyspace_totals,
    latency_summary,
    number,
    pct,
    plural,
    redis_failed_writes,
    replica_ignores_maxmemory,
    sample_keys,
    sample_problem,
    saturation,
    section,
    stats,
)
from cachediag.checks.rules.serialization import judge_envelopes
from cachediag.checks.slab_view import refused_writes
from cachediag.checks.window import (
    calls_text,
    inspection_calls,
    inspection_calls_in_window,
    window_delta,
    window_seconds,
)
from cachediag.keyspace.namespaces import namespace_of, nondeterministic_segment
from cachediag.render.units import human_bytes, human_seconds, human_us

DEFAULT_SKIP = "nothing listening at the default address; name one with --{kind}"


def info_gap(facts: Facts) -> Outcome | None:
    """An `error` when the probe broke off before reading INFO / stats: never a silent pass."""
    errors = facts.get("errors") or {}
    if facts["kind"] == "redis" and facts.get("info") is None:
        why = errors.get("info") or errors.get("probe") or "INFO was not collected"
        return Outcome("error", f"could not read INFO: {why}")
    if facts["kind"] == "memcached" and not facts.get("stats"):
        return Outcome("error", f"could not read stats: {errors.get('probe') or 'not collected'}")
    return None


def sample_gap(facts: Facts) -> Outcome | None:
    """Why there is no key sample to judge: `error` if the probe broke off, else `skip`."""
    if facts.get("sample") is None:
        why = (facts.get("errors") or {}).get("probe") or "the key sample was not collected"
        return Outcome("error", f"no key sample: {why}")
    problem = sample_problem(facts)
    if problem and (facts.get("sample") or {}).get("error_kind"):
        # The sample broke off (a timeout, a malformed reply): the check could not run.
        return Outcome("error", f"no key sample: {problem}")
    return skipped(f"no key sample: {problem}") if problem else None


def down_outcome(facts: Facts, what: str = "") -> Outcome:
    """Verdict for a target that never answered: a skipped default, or a failure with the cause."""
    if facts.get("status") == "skipped":
        return skipped(DEFAULT_SKIP.format(kind=facts.get("kind", "redis")))
    error = (
        (facts.get("ping") or {}).get("error") or (facts.get("connect") or {}).get("error") or {}
    )
    return failed(f"{what}{error.get('message', 'no answer')}", cause=error.get("kind", "error"))


def saturated_outcome(facts: Facts, what: str | None = None) -> Outcome | None:
    """A failure naming the connection limit, for a server that turned us away at it.

    `what` replaces the probe's own sentence (the pool check says it its way).
    """
    saturated = saturation(facts)
    if saturated is None:
        return None
    limit = saturated.get("limit") or "the connection limit"
    observed: dict[str, Any] = {"cause": "saturated", "limit": limit}
    text = what.format(limit=limit) if what else str(saturated.get("message") or "saturated")
    established = facts.get("established")
    if isinstance(established, int):
        observed["established_from_this_host"] = established
        text += f"; {plural(established, 'connection')} to it from this host"
    return failed(text, **observed)


@rule("redis.running", "memcached.running", judges_down=True)
def running(facts: Facts, th: Thresholds) -> Outcome:
    if saturated := saturated_outcome(facts):
        return saturated
    if facts.get("status") != "up":
        return down_outcome(facts, "down: ")
    samples = facts["ping"]["samples_us"]
    if facts["kind"] == "redis":
        server = section(facts, "server")
        role = section(facts, "replication").get("role", "?")
        version = server.get("redis_version", "?")
        return passed(
            f"PONG in {human_us(samples[0])} (Redis {version}, {role})",
            version=version,
            role=role,
            first_ping_us=samples[0],
        )
    return passed(
        f"version answered in {human_us(samples[0])} (Memcached {facts.get('version', '?')})",
        version=facts.get("version"),
        first_ping_us=samples[0],
    )


@rule("redis.connectivity", "memcached.connectivity", judges_down=True)
def connectivity(facts: Facts, th: Thresholds) -> Outcome:
    if facts.get("status") == "skipped":
        return down_outcome(facts)
    connect = facts.get("connect") or {}
    if not connect.get("ok"):
        error = connect.get("error") or {}
        kind = error.get("kind")
        message = error.get("message", "connect failed")
        if kind == "timeout":
            message += ": packets are being dropped (firewall or security group?)"
        elif kind == "dns":
            message = f"DNS failure: {message}"
        return failed(message, cause=kind)
    observed = {"tcp_connect_us": connect.get("tcp_us"), "tls_handshake_us": connect.get("tls_us")}
    text = f"TCP connect {human_us(connect.get('tcp_us') or 0)}"
    if connect.get("tls_us") is not None:
        text += f", TLS handshake {human_us(connect['tls_us'])}"
    return passed(text + f" to {', '.join(connect.get('addresses') or [])}", **observed)


@rule("redis.pool", "memcached.pool", judges_saturated=True, windowed=True)
def pool(facts: Facts, th: Thresholds) -> Outcome:
    if saturated := saturated_outcome(facts, "every connection is taken ({limit} reached)"):
        return saturated
    if gap := info_gap(facts):
        return gap
    if facts["kind"] == "redis":
        clients = section(facts, "clients")
        current = number(clients, "connected_clients")
        limit = number(clients, "maxclients")
        rejected = number(section(facts, "stats"), "rejected_connections") or 0
        blocked = number(clients, "blocked_clients") or 0
        listen_disabled = 0.0
    else:
        current = number(stats(facts), "curr_connections")
        limit = number(stats(facts, "settings"), "maxconns")
        rejected = number(stats(facts), "rejected_connections") or 0
        blocked = 0
        listen_disabled = number(stats(facts), "listen_disabled_num") or 0
    if current is None:
        return skipped("connection counts were not reported")
    used = pct(current, limit) if limit else 0.0
    observed = {
        "connected": current,
        "max": limit,
        "used_percent": round(used, 1),
        "rejected": rejected,
        "blocked": blocked,
    }
    text = (
        f"{current:.0f} of {limit:.0f} connections ({used:.1f}%)"
        if limit
        else f"{current:.0f} connections"
    )
    if listen_disabled:
        observed["listen_disabled_num"] = listen_disabled
        return failed(
            f"{text}; the connection limit was hit {plural(listen_disabled, 'time')} "
            "(listen_disabled_num)",
            **observed,
        )
    status = graded_at(used, th.get("warn_at_percent", 80), th.get("fail_at_percent"))
    notes = []
    if rejected:
        notes.append(f"{plural(rejected, 'connection')} rejected since start")
        status = "warn" if status == "pass" else status
    if blocked:
        notes.append(f"{plural(blocked, 'client')} blocked")
    status = _rejected_now(facts, observed, notes, status)
    return Outcome(status, "; ".join([text, *notes]), observed)


def _rejected_now(facts: Facts, observed: dict[str, Any], notes: list[str], status: str) -> str:
    """Connections rejected during the window: clients are being turned away now, not once."""
    now = window_delta(facts, "stats", "rejected_connections")
    if now is None:
        return status
    observed["rejected_in_window"] = now
    observed["window_s"] = window_seconds(facts)
    if not now:
        return status
    notes.append(
        f"{now:,.0f} rejected in the last {window_seconds(facts):.1f} s: "
        "clients are being turned away now"
    )
    return "fail"


@rule("redis.hit_rate", "memcached.hit_rate", windowed=True)
def hit_rate(facts: Facts, th: Thresholds) -> Outcome:
    if gap := info_gap(facts):
        return gap
    redis = facts["kind"] == "redis"
    names = ("keyspace_hits", "keyspace_misses") if redis else ("get_hits", "get_misses")
    counters = section(facts, "stats") if redis else stats(facts)
    hits, misses = number(counters, names[0]), number(counters, names[1])
    if hits is None or misses is None:
        return skipped("hit and miss counters were not reported")
    exclude = redis and th.get("exclude_inspection_commands", True)
    # Since start, less the lookups of key-inspection commands (earlier samples, scanners).
    excluded = inspection_calls(section(facts, "commandstats")) if exclude else {}
    lifetime = _rate_over(max(hits - sum(excluded.values()), 0), misses, excluded)
    windowed = _window_rate(facts, names, exclude)
    if windowed is not None and windowed["lookups"] >= th.get("min_window_lookups", 20):
        basis, judged = "window", windowed
        summary = (
            f"hit rate {judged['rate']:.1%} over the last {windowed['seconds']:.1f} s "
            f"({judged['hits']:,.0f} hits, {judged['misses']:,.0f} misses)"
        )
        if lifetime["lookups"]:
            summary += f"; {lifetime['rate']:.1%} since start"
    else:
        basis, judged = "lifetime", lifetime
        minimum = th.get("min_lookups", 100)
        why = _no_window_reason(facts, windowed)
        if judged["lookups"] < minimum:
            observed_skip: dict[str, Any] = {"hits": judged["hits"], "misses": judged["misses"]}
            text = (
                (f"{why}; " if why else "")
                + f"only {judged['lookups']:.0f} lookups since start (fewer than {minimum}): "
                "too few to judge"
            )
            if judged["excluded"]:
                observed_skip["inspection_lookups_excluded"] = judged["excluded"]
                text += (
                    f" ({sum(judged['excluded'].values()):,} more by scanners' commands left out)"
                )
            text += _own_sample_note(facts, observed_skip, judged["lookups"], th, exclude)
            return skipped(text, **observed_skip)
        summary = (
            f"hit rate {judged['rate']:.1%} since start "
            f"({judged['hits']:,.0f} hits, {judged['misses']:,.0f} misses)"
        )
        if why:
            summary = f"{why}; {summary}"
    rate = judged["rate"]
    observed: dict[str, Any] = {
        "hits": judged["hits"],
        "misses": judged["misses"],
        "hit_rate": round(rate, 4),
        "basis": basis,
    }
    if windowed is not None:
        observed["window"] = _rate_fact(windowed)
        if basis == "window":
            observed["lifetime"] = _rate_fact(lifetime)
    if judged["excluded"]:
        observed["inspection_lookups_excluded"] = judged["excluded"]
        summary += (
            f"; {plural(sum(judged['excluded'].values()), 'lookup')} by scanners' commands "
            "left out "
            f"({calls_text(judged['excluded'])})"
        )
    summary += _own_sample_note(facts, observed, judged["lookups"], th, exclude)
    return Outcome(graded(rate, th, above=False), summary, observed)


def _rate_over(hits: float, misses: float, excluded: dict[str, int]) -> dict[str, Any]:
    lookups = hits + misses
    return {
        "hits": hits,
        "misses": misses,
        "lookups": lookups,
        "rate": hits / lookups if lookups else 0.0,
        "excluded": excluded,
    }


def _rate_fact(reading: dict[str, Any]) -> dict[str, Any]:
    fact = {
        "hits": reading["hits"],
        "misses": reading["misses"],
        "hit_rate": round(reading["rate"], 4) if reading["lookups"] else None,
    }
    if "seconds" in reading:
        fact["seconds"] = reading["seconds"]
    return fact


def _window_rate(facts: Facts, names: tuple[str, str], exclude: bool) -> dict[str, Any] | None:
    """Hits and misses between the window's two readings, or None without a usable window."""
    hits, misses = (window_delta(facts, "stats", name) for name in names)
    if hits is None or misses is None:
        return None
    excluded = inspection_calls_in_window(facts) if exclude else {}
    reading = _rate_over(max(hits - sum(excluded.values()), 0), misses, excluded)
    reading["seconds"] = window_seconds(facts)
    return reading


def _no_window_reason(facts: Facts, windowed: dict[str, Any] | None) -> str:
    """Why the rate since start is judged: said in the summary, never silently."""
    window = facts.get("window")
    if not window:
        return ""  # no window asked for (--window 0)
    seconds = float(window.get("seconds") or window.get("requested_s") or 0)
    if window.get("error"):
        return f"the window's first reading failed ({window['error']})"
    if windowed is None:
        return f"the counters were reset during the {seconds:.1f} s window"
    if not windowed["lookups"]:
        return f"no lookups in the last {seconds:.1f} s"
    return (
        f"only {plural(windowed['lookups'], 'lookup')} in the last {seconds:.1f} s "
        f"({windowed['rate']:.0%} hits): too few"
    )


def _own_sample_note(
    facts: Facts, observed: dict[str, Any], lookups: float, th: Thresholds, excluded: bool
) -> str:
    """What this run's key sample did to the counters (it ran after they were read)."""
    own = (facts.get("sample") or {}).get("own_lookups")
    if not isinstance(own, int) or own <= 0:
        return ""
    observed["sample_lookups_per_run"] = own
    if excluded:
        # Sent by inspection commands: later readings leave them out like any scanner's.
        return f"; the key sample then added {plural(own, 'lookup')}"
    # Reading a key's TTL or value counts as a lookup: frequent runs inflate this rate.
    if own >= lookups * th.get("note_own_lookups_above", 0.01):
        noun = "hits" if facts["kind"] == "redis" else "lookups (hits, and misses for items gone)"
        return (
            f"; each cachediag key sample adds ~{own} {noun}, so frequent runs inflate it "
            "(use --sample-keys 0, or the app's metrics)"
        )
    return ""


@rule("redis.serialization", "memcached.serialization")
def serialization(facts: Facts, th: Thresholds) -> Outcome:
    if gap := sample_gap(facts):
        return gap
    value_reason = (facts.get("sample") or {}).get("value_reason")
    if value_reason:
        return Outcome("error", f"sampled values could not be read: {value_reason}")
    return judge_envelopes(facts)


# memcached.memory is judged on the slab allocator: checks/rules/slab_memory.py (so the
# kind branch below only ever sees Redis now).
@rule("redis.memory")
def memory(facts: Facts, th: Thresholds) -> Outcome:
    if gap := info_gap(facts):
        return gap
    if facts["kind"] == "redis":
        mem = section(facts, "memory")
        used, limit = number(mem, "used_memory"), number(mem, "maxmemory")
    else:
        used, limit = number(stats(facts), "bytes"), number(stats(facts), "limit_maxbytes")
    if used is None:
        return skipped("memory use was not reported")
    if not limit:
        return warned(
            f"{human_bytes(used)} used and no maxmemory: Redis grows until the host runs out "
            "(Solution 3C)",
            used_bytes=used,
            max_bytes=0,
        )
    if facts["kind"] == "redis":
        return redis_memory(facts, th, used, limit)
    used_pct = pct(used, limit)
    return Outcome(
        graded_at(used_pct, th.get("warn_at_percent", 80), th.get("fail_at_percent", 95)),
        f"{human_bytes(used)} of {human_bytes(limit)} ({used_pct:.1f}%)",
        {"used_bytes": used, "max_bytes": limit, "used_percent": round(used_pct, 2)},
    )


def redis_memory(facts: Facts, th: Thresholds, used: float, limit: float) -> Outcome:
    """used_memory against maxmemory, read the way the eviction policy makes it mean.

    With an allkeys-* policy, reaching maxmemory is how a bounded cache runs: it
    evicts to make room, and what matters is what eviction does to the hit rate. A
    read-only replica ignoring maxmemory follows its primary. Otherwise (noeviction,
    volatile-*) the limit is where writes start to fail: graded by how near it is, and
    any write already refused makes it at least a warning.
    """
    used_pct = pct(used, limit)
    text = f"{human_bytes(used)} of {human_bytes(limit)} ({used_pct:.1f}%)"
    observed: dict[str, Any] = {
        "used_bytes": used,
        "max_bytes": limit,
        "used_percent": round(used_pct, 2),
    }
    policy = str(
        section(facts, "memory").get("maxmemory_policy")
        or ((facts.get("config") or {}).get("values") or {}).get("maxmemory-policy")
        or ""
    )
    if replica_ignores_maxmemory(facts):
        observed["role"] = "replica"
        if used > limit:
            return warned(
                f"{text}: a replica that ignores maxmemory holds more than it; its primary's "
                "limit is higher, so make sure this host has the RAM",
                **observed,
            )
        return passed(f"{text}; a replica that ignores maxmemory: its primary evicts", **observed)
    warn_at = th.get("warn_at_percent", 80)
    if policy.startswith("allkeys-"):
        return _bounded_cache(facts, th, text, observed, policy, full=used_pct >= warn_at)
    failed_writes = redis_failed_writes(facts)
    observed.update(failed_writes)
    status = graded_at(used_pct, warn_at, th.get("fail_at_percent", 95))
    if failed_writes.get("oom") and status == "pass":
        status = "warn"
    return Outcome(status, text + _refused_text(failed_writes), observed)


def _evictions_text(evicted: float, uptime: float | None, min_uptime: float) -> str:
    """'1,234 keys evicted since start (41.0/hour)', or over a short uptime the count alone."""
    counted = f"{plural(evicted, 'key')} evicted"
    if uptime is None:
        return f"{counted} since start"
    if uptime < min_uptime:
        return f"{counted} in the {human_seconds(uptime)} since start"
    per_hour = evicted / (uptime / 3600)
    rate = f"{per_hour:,.1f}/hour" if per_hour >= 1 else f"{per_hour * 24:,.1f}/day"
    return f"{counted} since start ({rate})"


def _bounded_cache(
    facts: Facts,
    th: Thresholds,
    text: str,
    observed: dict[str, Any],
    policy: str,
    *,
    full: bool,
) -> Outcome:
    """An allkeys-* cache: pass while eviction leaves the hit rate alone, warn when it does not."""
    observed["policy"] = policy
    failed_writes = redis_failed_writes(facts)
    if failed_writes.get("oom"):
        # allkeys-* evicts, yet writes failed: what fills maxmemory is not keys (client
        # output buffers, the replication backlog), or one value is larger than the room.
        return warned(
            f"{text}{_refused_text(failed_writes)}, although {policy} evicts: memory outside "
            "the keys (client buffers, replication backlog) or oversized values fill maxmemory",
            cause="refused",
            **observed,
            **failed_writes,
        )
    if not full:
        return passed(text, **observed)
    info_stats = section(facts, "stats")
    evicted = number(info_stats, "evicted_keys") or 0
    hits = number(info_stats, "keyspace_hits") or 0
    misses = number(info_stats, "keyspace_misses") or 0
    uptime = number(section(facts, "server"), "uptime_in_seconds")
    min_uptime = th.get("min_uptime_for_rate_seconds", 600)
    lookups = hits + misses
    rate = hits / lookups if lookups >= th.get("min_lookups", 100) else None
    observed.update(evicted=evicted, hit_rate=None if rate is None else round(rate, 4))
    full_text = f"{text}: full, as a bounded {policy} cache runs"
    evicting = _evictions_text(evicted, uptime, min_uptime)
    warn_below = th.get("warn_hit_rate_below", 0.3)
    if evicted and rate is not None and rate < warn_below:
        return warned(
            f"{full_text}, but it evicts ({evicting}) while only {rate:.1%} of lookups hit: "
            "the working set does not fit",
            cause="evicting",
            **observed,
        )
    keys = facts.get("dbsize") or keyspace_totals(facts)[0]
    if evicted and uptime and uptime >= min_uptime and keys:
        residency = keys / (evicted / uptime)  # how long an entry stays, on average
        observed["residency_seconds"] = round(residency)
        if residency < th.get("warn_residency_below_seconds", 60):
            return warned(
                f"{full_text}, but it evicts ({evicting}): an entry stays about "
                f"{human_seconds(residency)} before it is evicted",
                cause="evicting",
                **observed,
            )
    hit_text = (
        f"hit rate {rate:.1%}" if rate is not None else "too few lookups yet to judge the hit rate"
    )
    return passed(f"{full_text}; {evicting}, {hit_text}", **observed)


def _no_ttl_namespaces(keys: list[dict[str, Any]], no_expiry: Any) -> list[str]:
    counts = Counter(namespace_of(item["key"]) for item in keys if no_expiry(item))
    return [f"{ns} ({n})" for ns, n in counts.most_common(3)]


@rule("redis.ttl", "memcached.ttl")
def ttl(facts: Facts, th: Thresholds) -> Outcome:
    keys = sample_keys(facts)
    if facts["kind"] == "redis":
        if gap := info_gap(facts):
            return gap
        total, expiring = keyspace_totals(facts)
        if total < 0 or not 0 <= expiring <= total:
            return Outcome("error", f"INFO keyspace makes no sense: {expiring} of {total} expire")
        no_expiry = lambda item: item.get("ttl_ms") == -1  # noqa: E731
        source = "INFO keyspace"
    else:
        if gap := sample_gap(facts):
            return gap
        no_expiry = lambda item: item.get("exp") == -1  # noqa: E731
        total = len(keys)
        expiring = sum(1 for item in keys if not no_expiry(item))
        source = "sampled items"
    if not total:
        return passed("no keys stored", keys=0)
    share = (total - expiring) / total
    observed: dict[str, Any] = {
        "keys": total,
        "without_ttl": total - expiring,
        "share_without_ttl": round(share, 4),
    }
    text = f"{share:.1%} of keys have no expiry ({total - expiring:.0f} of {total:.0f}, {source})"
    namespaces = _no_ttl_namespaces(keys, no_expiry)
    if namespaces:
        observed["namespaces_without_ttl"] = namespaces
        if len(keys) < total:
            # The namespace counts come from the key sample, not the keyspace: a count of
            # 231 beside 304,949 keys must not read like a total (issue 10, case 11).
            observed["namespaces_sampled_keys"] = len(keys)
            text += f"; among {len(keys):,} sampled keys, most in {', '.join(namespaces)}"
        else:
            text += f"; most in {', '.join(namespaces)}"
    return Outcome(graded(share, th), text, observed)


@rule("redis.key_determinism", "memcached.key_determinism")
def key_determinism(facts: Facts, th: Thresholds) -> Outcome:
    if gap := sample_gap(facts):
        return gap
    keys = sample_keys(facts)
    now = float(facts.get("collected_at") or 0)
    flagged: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for item in keys:
        why = nondeterministic_segment(item["key"], now)
        if why:
            flagged[namespace_of(item["key"])].append((item["key"], why))
    observed: dict[str, Any] = {
        "sampled": len(keys),
        "namespaces": {ns: len(items) for ns, items in flagged.items()},
    }
    if sum(len(v) for v in flagged.values()) < th.get("min_keys", 1):
        noun = "key" if len(keys) == 1 else "keys"
        return passed(f"{len(keys)} sampled {noun}, none carries a timestamp or nonce", **observed)
    worst = sorted(flagged.items(), key=lambda kv: -len(kv[1]))
    parts = [
        f"{ns}: {plural(len(items), 'key')}, e.g. {items[0][0]} ({items[0][1]})"
        for ns, items in worst[:3]
    ]
    return warned("each write makes a new key: " + "; ".join(parts), **observed)


@rule("redis.eviction_policy", "memcached.eviction_policy")
def eviction_policy(facts: Facts, th: Thresholds) -> Outcome:
    if gap := info_gap(facts):
        return gap
    if facts["kind"] == "memcached":
        evictions = str(stats(facts, "settings").get("evictions", "")).lower()
        if not evictions:
            return skipped("stats settings did not report evictions")
        if evictions == "off":
            return _no_eviction_failure(facts)
        return passed("evictions on (LRU)", evictions="on")
    policy = section(facts, "memory").get("maxmemory_policy")
    if policy is None:
        policy = ((facts.get("config") or {}).get("values") or {}).get("maxmemory-policy")
    if policy is None:
        return skipped("maxmemory-policy was not reported")
    observed: dict[str, Any] = {"policy": policy}
    if verdict := policy_that_cannot_evict(facts, policy):
        return verdict
    if policy.startswith("volatile-"):
        total, expiring = keyspace_totals(facts)
        share = (total - expiring) / total if total else 0.0
        observed["share_without_ttl"] = round(share, 4)
        if share > th.get("warn_share_without_ttl", 0.5):
            return warned(
                f"{policy} can evict only keys with a TTL, and {share:.0%} have none", **observed
            )
    return passed(policy, **observed)


def _no_eviction_failure(facts: Facts) -> Outcome:
    """-M: a full cache answers writes with errors; say how many it has refused so far."""
    text = "started with -M: a full cache answers writes with errors instead of evicting"
    refused = refused_writes(facts)
    if refused:
        text += f"; {plural(refused, 'write')} refused so far (outofmemory)"
    return failed(text, evictions="off", refused_writes=refused)


def _refused_text(failed_writes: dict[str, Any]) -> str:
    """'; 2,927 writes refused with OOM so far (errorstat_OOM)', or '' when none were."""
    oom = failed_writes.get("oom")
    if oom:
        return f"; {plural(oom, 'write')} refused with OOM so far (errorstat_OOM)"
    return ""


def policy_that_cannot_evict(facts: Facts, policy: str) -> Outcome | None:
    """The verdicts on a policy that cannot make room, with the writes refused for it.

    A read-only replica that ignores maxmemory is not judged by its own policy: it
    takes no writes, and its primary evicts for it. noeviction, and a volatile-*
    policy when no key has a TTL, evict nothing: at maxmemory every write fails with
    OOM. None: the rule's other verdicts apply.
    """
    failed_writes = redis_failed_writes(facts)
    observed: dict[str, Any] = {"policy": policy, **failed_writes}
    if replica_ignores_maxmemory(facts):
        return passed(
            f"{policy} on a read-only replica that ignores maxmemory (replica-ignore-maxmemory "
            "yes): it takes no writes, its primary evicts for it",
            role="replica",
            **observed,
        )
    if policy == "noeviction":
        return failed(
            "noeviction: once maxmemory is reached every write fails with OOM"
            + _refused_text(failed_writes),
            **observed,
        )
    if not policy.startswith("volatile-"):
        return None
    total, expiring = keyspace_totals(facts)
    observed["share_without_ttl"] = round((total - expiring) / total, 4) if total else 0.0
    if total and not expiring:
        return failed(
            f"{policy} can evict only keys with a TTL, and none of the {plural(total, 'key')} "
            "has one: at maxmemory every write fails with OOM, as under noeviction"
            + _refused_text(failed_writes),
            **observed,
        )
    if failed_writes.get("oom"):
        return failed(
            f"{policy} ran out of keys with a TTL to evict" + _refused_text(failed_writes),
            **observed,
        )
    return None


# The window of a server's counters: they restart at a reset too, not only at boot.
_SINCE_RESET = {
    "redis": "since start or the last CONFIG RESETSTAT",
    "memcached": "since start or the last stats reset",
}


def _since_reset(facts: Facts) -> str:
    return _SINCE_RESET.get(str(facts.get("kind")), "since start")


@rule("redis.evictions", "memcached.evictions")
def evictions(facts: Facts, th: Thresholds) -> Outcome:
    if gap := info_gap(facts):
        return gap
    if facts["kind"] == "redis":
        count = number(section(facts, "stats"), "evicted_keys")
        uptime = number(section(facts, "server"), "uptime_in_seconds")
    else:
        count = number(stats(facts), "evictions")
        uptime = number(stats(facts), "uptime")
    if count is None:
        return skipped("eviction counters were not reported")
    # A rate extrapolated from a minute of uptime says nothing: below this, the count.
    min_uptime = th.get("min_uptime_for_rate_seconds", 600)
    per_hour = round(count / (uptime / 3600), 1) if uptime and uptime >= min_uptime else None
    observed = {"evicted": count, "per_hour": per_hour, "uptime_seconds": uptime}
    if count > th.get("warn_above", 0):
        return warned(
            f"{_evictions_text(count, uptime, min_uptime)}: the cache is full "
            f"(counted {_since_reset(facts)})",
            **observed,
        )
    return passed(f"no evictions {_since_reset(facts)}", **observed)


@rule("redis.entry_size", "memcached.entry_size")
def entry_size(facts: Facts, th: Thresholds) -> Outcome:
    if gap := sample_gap(facts):
        return gap
    sizes = []
    for item in sample_keys(facts):
        size = item.get("memory") if facts["kind"] == "redis" else item.get("size")
        if size is None:
            size = item.get("length")
        if size is not None:
            sizes.append((size, item["key"]))
    if not sizes:
        return skipped("no entry sizes in the sample")
    average = sum(s for s, _ in sizes) / len(sizes)
    largest_size, largest_key = max(sizes)
    observed = {
        "sampled": len(sizes),
        "average_bytes": round(average),
        "largest_bytes": largest_size,
        "largest_key": largest_key,
    }
    findings = []
    if average >= th.get("warn_avg_bytes", 512):
        findings.append(
            f"average sampled entry {human_bytes(average)}: consider smaller DTOs (Solution 3B)"
        )
    if largest_size >= th.get("warn_entry_bytes", 1024 * 1024):
        findings.append(f"{largest_key} is {human_bytes(largest_size)}")
    if findings:
        return warned("; ".join(findings), **observed)
    return passed(
        f"average sampled entry {human_bytes(average)}, largest {human_bytes(largest_size)}",
        **observed,
    )


@rule("redis.fragmentation")
def fragmentation(facts: Facts, th: Thresholds) -> Outcome:
    if missing := info_gap(facts):
        return missing
    mem = section(facts, "memory")
    ratio = number(mem, "mem_fragmentation_ratio")
    used, rss = number(mem, "used_memory"), number(mem, "used_memory_rss")
    if ratio is None or used is None or rss is None:
        return skipped("fragmentation was not reported")
    gap = rss - used
    observed = {"ratio": ratio, "rss_bytes": rss, "used_bytes": used, "gap_bytes": gap}
    # Small instances have ratios far from 1 that mean nothing: judge only a gap that matters.
    significant = abs(gap) > th.get("min_gap_bytes", 10 * 1024 * 1024)
    if significant and ratio < th.get("fail_below", 1.0):
        return failed(
            f"ratio {ratio:.2f}: {human_bytes(-gap)} of the dataset is not in RAM (swapping)",
            **observed,
        )
    if significant and ratio > th.get("warn_above", 1.5):
        return warned(
            f"ratio {ratio:.2f}: {human_bytes(gap)} wasted (consider activedefrag yes)", **observed
        )
    return passed(
        f"ratio {ratio:.2f} (RSS {human_bytes(rss)}, used {human_bytes(used)})", **observed
    )


@rule("redis.restarts", "memcached.restarts")
def restarts(facts: Facts, th: Thresholds) -> Outcome:
    if gap := info_gap(facts):
        return gap
    if facts["kind"] == "redis":
        uptime = number(section(facts, "server"), "uptime_in_seconds")
        commandstats = section(facts, "commandstats")
        flushes = sum(
            (commandstats.get(name) or {}).get("calls", 0)
            for name in ("cmdstat_flushall", "cmdstat_flushdb")
        )
    else:
        uptime = number(stats(facts), "uptime")
        flushes = number(stats(facts), "cmd_flush") or 0
    if uptime is None:
        return skipped("uptime was not reported")
    observed = {"uptime_seconds": uptime, "flushes": flushes}
    findings = []
    if uptime < th.get("warn_uptime_below_seconds", 3600):
        # One fresh start is a cold cache, not proof that something keeps clearing it.
        findings.append(
            f"restarted {human_seconds(uptime)} ago: the cache is cold and warming up "
            "(misses are expected until it refills)"
        )
    if flushes:
        findings.append(
            f"flushed {plural(flushes, 'time')} {_since_reset(facts)}: each flush empties the cache"
        )
    if findings:
        return warned("; ".join(findings), **observed)
    return passed(f"up {uptime / 3600:.1f} h, no flushes", **observed)


@rule("redis.latency", "memcached.latency")
def latency(facts: Facts, th: Thresholds) -> Outcome:
    samples = (facts.get("ping") or {}).get("samples_us") or []
    if not samples:
        return skipped("no round trips were timed")
    summary = latency_summary(samples)
    status = graded(
        summary["p99_us"],
        {"warn_above": th.get("warn_p99_us", 10_000), "fail_above": th.get("fail_p99_us", 100_000)},
    )
    text = (
        f"p50 {human_us(summary['p50_us'])}, p99 {human_us(summary['p99_us'])}, "
        f"max {human_us(summary['max_us'])} over {summary['samples']} round trips"
    )
    if status != "pass" and facts["kind"] == "redis":
        clause, cause = _latency_cause(facts, summary, th.get("warn_p99_us", 10_000))
        if clause:
            text += f"; {clause}"
            summary = {**summary, "cause": cause}
    return Outcome(status, text, summary)


def _latency_cause(facts: Facts, summary: dict[str, Any], slow_us: float) -> tuple[str, str]:
    """Where slow round trips went: Redis busy (SLOWLOG, LATENCY LATEST) or elsewhere."""
    from cachediag.checks import stalls as stall_view

    stalls = stall_view.stall_facts(facts)
    if stalls is None:
        return "", ""
    unreadable = (stalls.get("slowlog") or {}).get("error")
    during = stall_view.during_measurement(facts, slow_us)
    busy = stall_view.stall_clause(during)
    if busy:
        return (
            f"server-side: Redis was busy with {busy} while cachediag measured, so the time "
            f"was spent in Redis, not on the network (fastest round trip "
            f"{human_us(summary['min_us'])})",
            "server",
        )
    if unreadable:
        return f"{unreadable}: whether Redis itself stalled is not known", "unknown"
    logged_from = (stalls.get("slowlog") or {}).get("log_slower_than_us")
    if isinstance(logged_from, int) and logged_from > slow_us:
        return (
            f"SLOWLOG logs only commands slower than {human_us(logged_from)} "
            "(slowlog-log-slower-than): shorter stalls in Redis are not excluded",
            "unknown",
        )
    note = stall_view.monitor_note(stalls)
    return (
        f"no command slower than {human_us(slow_us)} in SLOWLOG while cachediag measured: "
        "the time was spent outside command execution (the network, or the server host's "
        "CPU or swap)" + (f"; {note}" if note else ""),
        "network-or-host",
    )
