"""Issue 1, low cache hit rate: where the keys that missed went.

Every miss of a cache-aside reader is followed by a write of the key it missed, so the
written keys tell the cause: kept and never read again (keys not reused, or carrying a
timestamp), expired before the next read (TTL too short), evicted (memory pressure),
flushed (cleared unexpectedly), or never written at all (new data not cached). A hit
rate climbing over the window is a cache warming up. The readers below observe which.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from cachediag.checks.base import Facts
from cachediag.checks.facts_view import number, section
from cachediag.checks.rules.cache import hit_rate
from cachediag.diagnose.model import Findings, Signal
from cachediag.diagnose.symptoms.registry import Params, cause, symptom
from cachediag.diagnose.view import Churn, TargetView
from cachediag.keyspace.namespaces import namespace_of, nondeterministic_segment
from cachediag.render.units import human_bytes, human_seconds, plural


def _n(value: float) -> str:
    return f"{value:,.0f}"


@symptom("low-hit-rate")
def signal(view: TargetView, params: Params) -> Signal:
    below = float(params.get("below", 0.3))
    app_rate, app_text = _app_hit_rate(view)
    if not view.readable:
        return _from_app(Signal(None, "no readings from this target"), app_rate, app_text, below)
    thresholds = {
        "warn_below": below,
        "fail_below": below,
        "min_window_lookups": params.get("min_window_lookups", 20),
        "min_lookups": params.get("min_lookups", 100),
    }
    outcome = hit_rate(view.facts, thresholds)
    rate = outcome.observed.get("hit_rate")
    if outcome.status in ("skip", "error") or not isinstance(rate, (int, float)):
        return _from_app(Signal(None, outcome.summary), app_rate, app_text, below)
    found = Signal(rate < below, outcome.summary, 1 if rate < below / 2 else 0)
    if app_text:
        found.summary += f"; {app_text}"
    elif app_rate is None:
        found.lacks("metrics", "the application's own hit rate")
    return found


def _app_hit_rate(view: TargetView) -> tuple[float | None, str]:
    """The application's hit rate from its metrics endpoint, and how it reads."""
    from cachediag.checks.rules.app import metrics

    if not (view.app or {}).get("metrics"):
        return None, ""
    outcome = metrics(view.app or {}, {})
    rate = outcome.observed.get("hit_rate")
    if not isinstance(rate, (int, float)):
        return None, f"the application's metrics: {outcome.summary}"
    return float(rate), f"the application's metrics: {outcome.summary}"


def _from_app(found: Signal, rate: float | None, text: str, below: float) -> Signal:
    """Without the server's rate, the application's own decides (a Memcached, a fresh start)."""
    if rate is None:
        return found.lacks("metrics", "the application's own hit rate") if not text else found
    return Signal(rate < below, f"{found.summary}; {text}", 1 if rate < below / 2 else 0)


# -- shared observations ----------------------------------------------------------------------


def nondeterministic(view: TargetView) -> tuple[int, list[tuple[str, str]]]:
    """Sampled keys, and those whose name carries a timestamp or nonce (key, why)."""
    keys = view.sample_keys
    flagged = []
    for item in keys:
        why = nondeterministic_segment(str(item.get("key", "")), view.collected_at)
        if why:
            flagged.append((str(item["key"]), why))
    return len(keys), flagged


def _flagged_text(sampled: int, flagged: list[tuple[str, str]]) -> str:
    namespaces = Counter(namespace_of(key) for key, _ in flagged).most_common(2)
    where = ", ".join(f"{ns} ({n})" for ns, n in namespaces)
    key, why = flagged[0]
    return (
        f"{len(flagged)} of {plural(sampled, 'sampled key')} carry a timestamp or nonce "
        f"(e.g. {key}: {why}); most in {where}"
    )


def _is_nondeterministic(view: TargetView, params: Params) -> str | None:
    sampled, flagged = nondeterministic(view)
    enough = len(flagged) >= int(params.get("min_keys", 3))
    if sampled and enough and len(flagged) / sampled >= float(params.get("min_share", 0.2)):
        return _flagged_text(sampled, flagged)
    return None


def _climbing(view: TargetView, churn: Churn, by: float, minimum: float) -> str | None:
    """'hit rate 88% in the last 2.0 s against 15% since start' when the cache is warming."""
    lifetime = view.lifetime_rate
    if churn.basis != "window" or churn.rate is None or lifetime is None:
        return None
    if churn.lookups < minimum or churn.rate < lifetime + by:
        return None
    return f"hit rate {churn.rate:.0%} {churn.during} against {lifetime:.0%} since start"


def _churn_findings(view: TargetView) -> tuple[Findings, Churn | None]:
    """Where every cause reading the churn starts: its findings, and the churn (None: no
    counters to judge). On Redis, counts since start instead of over a window are noted
    as missing the window."""
    found = Findings()
    churn = view.churn
    if churn is not None and churn.basis != "window" and view.redis:
        found.lacks("window", "these counts are since start")
    return found, churn


def _writes(churn: Churn, found: Findings) -> float | None:
    if churn.writes is None:
        found.lacks("commandstats")
    return churn.writes


# -- the causes -----------------------------------------------------------------------------


@cause(
    "low-hit-rate.keys-not-reused",
    evidence=(
        "keys_grow_with_misses",
        "keys_do_not_grow",
        "few_writes",
        "sample_keys_nondeterministic",
        "hit_rate_climbing",
        "written_keys_expire",
    ),
    missing=("window", "commandstats"),
)
def keys_not_reused(view: TargetView, params: Params) -> Findings:
    found, churn = _churn_findings(view)
    if churn is None:
        return found
    writes = _writes(churn, found)
    kept = churn.kept
    minimum = float(params.get("min_writes", 20))
    if writes is not None and churn.misses >= minimum:
        if writes < 0.1 * churn.misses:
            found.saw(
                "few_writes",
                f"{_n(churn.misses)} misses but {_n(writes)} writes {churn.during}: "
                "missed keys are not written back",
            )
        elif kept is not None and writes >= float(params.get("written_share", 0.5)) * churn.misses:
            if kept >= float(params.get("kept_share", 0.5)) * writes:
                found.saw(
                    "keys_grow_with_misses",
                    f"{_n(churn.misses)} misses, {_n(writes)} writes and {_n(kept)} more keys "
                    f"{churn.during}: each miss adds a key that stays",
                )
            else:
                found.saw(
                    "keys_do_not_grow",
                    f"{_n(writes)} writes {churn.during} but the keyspace changed by {kept:+,.0f}: "
                    "written keys do not stay",
                )
    expired = churn.expired
    if writes and expired and expired >= float(params.get("expired_share", 0.3)) * writes:
        found.saw(
            "written_keys_expire",
            f"{_n(expired)} keys expired against {_n(writes)} writes {churn.during}: the "
            "written keys are read again, after they expired",
        )
    if text := _is_nondeterministic(view, params):
        found.saw("sample_keys_nondeterministic", text + ": the keys are non-deterministic")
    if text := _climbing(view, churn, 0.2, minimum):
        found.saw("hit_rate_climbing", text + ": keys are being read again")
    return found


@cause(
    "low-hit-rate.ttl-too-short",
    evidence=(
        "expiries_match_writes",
        "expiries_since_start",
        "sample_ttls_short",
        "no_expiries",
        "sample_ttls_not_short",
    ),
    missing=("window", "sample", "commandstats"),
)
def ttl_too_short(view: TargetView, params: Params) -> Findings:
    found, churn = _churn_findings(view)
    if churn is None:
        return found
    writes = _writes(churn, found)
    expired = churn.expired
    if writes is not None and expired is not None and writes >= float(params.get("min_writes", 20)):
        if expired >= float(params.get("expired_share", 0.3)) * writes:
            found.saw(
                "expiries_match_writes",
                f"{_n(expired)} keys expired against {_n(writes)} writes {churn.during}: "
                "entries expire before they are read again",
            )
        elif not expired:
            lifetime = view.counter("stats", "expired_keys" if view.redis else "reclaimed") or 0
            if churn.basis == "window" and lifetime:
                found.saw(
                    "expiries_since_start",
                    f"none expired {churn.during}, {_n(lifetime)} since start",
                )
            else:
                found.saw("no_expiries", f"no key expired {churn.during} ({_n(writes)} writes)")
    _sampled_ttls(view, params, found)
    return found


def _sampled_ttls(view: TargetView, params: Params, found: Findings) -> None:
    keys = view.sample_keys
    if not keys:
        found.lacks("sample", (view.sample or {}).get("error") or "no key sampled")
        return
    ttls = [t for t in (view.ttl_seconds(item) for item in keys) if t is not None]
    short_s = float(params.get("short_ttl_s", 60))
    short = [t for t in ttls if t <= short_s]
    if len(short) >= int(params.get("min_short_keys", 5)) and len(short) >= float(
        params.get("short_share", 0.5)
    ) * len(ttls):
        found.saw(
            "sample_ttls_short",
            f"{len(short)} of {plural(len(ttls), 'sampled key')} with a TTL expire within "
            f"{human_seconds(short_s)} (shortest {human_seconds(max(min(short), 0))})",
        )
    elif not short:
        found.saw(
            "sample_ttls_not_short",
            f"none of {plural(len(keys), 'sampled key')} expires within {human_seconds(short_s)}"
            + (f" ({len(keys) - len(ttls)} never expire)" if len(ttls) < len(keys) else ""),
        )


@cause(
    "low-hit-rate.nondeterministic-keys",
    evidence=("sample_keys_nondeterministic", "keys_grow_with_misses", "sample_keys_deterministic"),
    missing=("sample", "window"),
)
def nondeterministic_keys(view: TargetView, params: Params) -> Findings:
    found = Findings()
    sampled, flagged = nondeterministic(view)
    if not sampled:
        found.lacks("sample", (view.sample or {}).get("error") or "no key sampled")
    elif text := _is_nondeterministic(view, params):
        found.saw("sample_keys_nondeterministic", text)
        churn = view.churn
        kept = churn.kept if churn else None
        if churn and kept is not None and churn.misses and kept >= 0.5 * churn.misses:
            found.saw(
                "keys_grow_with_misses",
                f"the keyspace grew by {_n(kept)} with {_n(churn.misses)} misses {churn.during}",
            )
    elif not flagged and sampled >= int(params.get("min_sample", 10)):
        found.saw(
            "sample_keys_deterministic",
            f"none of {plural(sampled, 'sampled key')} carries a timestamp or nonce",
        )
    return found


@cause(
    "low-hit-rate.cache-cleared",
    evidence=(
        "flushes_in_window",
        "flushes_since_start",
        "flush_log_lines",
        "keys_dropped",
        "restarted_recently",
        "no_flushes",
        "up_long",
    ),
    missing=("log", "commandstats", "window"),
)
def cache_cleared(view: TargetView, params: Params) -> Findings:
    found, churn = _churn_findings(view)
    if churn is None:
        return found
    since_start = view.flushes_since_start()
    word = "flushes (FLUSHDB, FLUSHALL)" if view.redis else "flushes (flush_all)"
    if churn.basis == "window" and churn.flushes:
        found.saw("flushes_in_window", f"{word}: {_n(churn.flushes)} {churn.during}")
    elif since_start:
        found.saw("flushes_since_start", f"{word}: {_n(since_start)} since start")
    elif since_start is None:
        found.lacks("commandstats")
    logged = view.log_count("flush")
    if logged is None:
        found.lacks("log", "the flushes it logs")
    elif logged:
        samples = view.log_samples("flush")
        example = f", e.g. {samples[0]!r}" if samples else ""
        found.saw("flush_log_lines", f"the application logged {plural(logged, 'flush')}{example}")
    kept, before = churn.kept, churn.keys_before
    if kept is not None and before and -kept >= float(params.get("dropped_share", 0.5)) * before:
        found.saw(
            "keys_dropped", f"the keyspace fell from {_n(before)} to {_n(before + kept)} keys"
        )
    uptime = view.uptime
    restart_s = float(params.get("restart_uptime_s", 1800))
    if uptime is not None and uptime < restart_s:
        found.saw("restarted_recently", f"started {human_seconds(uptime)} ago")
    elif uptime is not None:
        found.saw("up_long", f"up {human_seconds(uptime)}")
    if since_start == 0 and not logged:
        found.saw(
            "no_flushes",
            f"no {word} since start" + (", none in the application's log" if logged == 0 else ""),
        )
    return found


@cause(
    "low-hit-rate.data-not-cached",
    evidence=("misses_not_written_back", "misses_written_back"),
    missing=("window", "commandstats"),
)
def data_not_cached(view: TargetView, params: Params) -> Findings:
    found, churn = _churn_findings(view)
    if churn is None:
        return found
    writes = _writes(churn, found)
    if writes is None or churn.misses < float(params.get("min_misses", 20)):
        return found
    if writes <= float(params.get("not_written_share", 0.1)) * churn.misses:
        found.saw(
            "misses_not_written_back",
            f"{_n(churn.misses)} misses and {plural(writes, 'write')} {churn.during}: "
            "what is missed is not cached",
        )
    elif writes >= float(params.get("written_share", 0.5)) * churn.misses:
        found.saw(
            "misses_written_back",
            f"{_n(writes)} writes for {_n(churn.misses)} misses {churn.during}: missed keys are "
            "cached",
        )
    return found


def _memory_limit(view: TargetView) -> tuple[float | None, float | None]:
    if view.redis:
        memory = section(view.facts, "memory")
        return number(memory, "used_memory"), number(memory, "maxmemory")
    return view.counter("stats", "bytes"), view.counter("stats", "limit_maxbytes")


@cause(
    "low-hit-rate.memory-pressure",
    evidence=(
        "evictions_in_window",
        "at_maxmemory",
        "evictions_since_start",
        "no_evictions_in_window",
        "no_evictions",
        "evicted_unread",
    ),
    missing=("window", "commandstats"),
)
def memory_pressure(view: TargetView, params: Params) -> Findings:
    found, churn = _churn_findings(view)
    if churn is None:
        return found
    lifetime = view.counter("stats", "evicted_keys" if view.redis else "evictions")
    evicted, writes = churn.evicted, churn.writes
    if churn.basis == "window" and evicted:
        if evicted >= float(params.get("evicted_share", 0.2)) * max(writes or 0, 1):
            found.saw(
                "evictions_in_window",
                f"{_n(evicted)} keys evicted {churn.during}"
                + (f" against {_n(writes)} writes" if writes else "")
                + f" and {_n(churn.misses)} misses",
            )
        else:
            found.saw("evictions_since_start", f"{_n(evicted)} keys evicted {churn.during}")
    elif churn.basis == "lifetime" and lifetime:
        found.saw("evictions_since_start", f"{_n(lifetime)} keys evicted since start")
    elif lifetime == 0:
        found.saw("no_evictions", "no key evicted since start")
    elif lifetime and (writes or 0) >= float(params.get("min_writes", 20)):
        found.saw(
            "no_evictions_in_window",
            f"none evicted {churn.during} ({_n(lifetime)} since start)",
        )
    unread = None if view.redis else view.counter("stats", "evicted_unfetched")
    if unread and lifetime and unread >= 0.5 * lifetime:
        found.saw(
            "evicted_unread",
            f"{_n(unread)} of the {_n(lifetime)} evicted items were never read: evicting them "
            "cost no hits",
        )
    used, limit = _memory_limit(view)
    if used is not None and limit:
        percent = 100 * used / limit
        if percent >= float(params.get("full_percent", 90)):
            found.saw(
                "at_maxmemory",
                f"{human_bytes(used)} used of {human_bytes(limit)} ({percent:.0f}%)",
            )
    return found


@cause(
    "low-hit-rate.cold-cache",
    evidence=(
        "restarted_recently",
        "replica_full_sync",
        "hit_rate_climbing",
        "hit_rate_flat",
        "up_long",
        "cache_has_filled",
    ),
    missing=("window",),
)
def cold_cache(view: TargetView, params: Params) -> Findings:
    found, churn = _churn_findings(view)
    if churn is None:
        return found
    uptime = view.uptime
    cold_s = float(params.get("cold_uptime_s", 1800))
    if uptime is not None and uptime < cold_s:
        found.saw("restarted_recently", f"started {human_seconds(uptime)} ago")
    elif uptime is not None and not _syncing(view.facts):
        found.saw("up_long", f"up {human_seconds(uptime)}: not a fresh start")
    if _syncing(view.facts):
        found.saw("replica_full_sync", "a replica loading a full copy from its primary")
    evicted = view.counter("stats", "evicted_keys" if view.redis else "evictions")
    if evicted:
        found.saw(
            "cache_has_filled",
            f"{_n(evicted)} entries evicted since start: the cache has filled, it is not cold",
        )
    minimum = float(params.get("min_window_lookups", 20))
    if text := _climbing(view, churn, float(params.get("climbing_by", 0.2)), minimum):
        found.saw("hit_rate_climbing", text + ": the cache is filling")
    elif churn.basis == "window" and churn.rate is not None and churn.lookups >= minimum:
        lifetime = view.lifetime_rate
        if lifetime is not None and churn.rate <= lifetime + float(params.get("flat_within", 0.05)):
            found.saw(
                "hit_rate_flat",
                f"hit rate {churn.rate:.0%} {churn.during}, {lifetime:.0%} since start: not "
                "climbing as a cache that fills does",
            )
    return found


def _syncing(facts: Facts) -> bool:
    replication: dict[str, Any] = section(facts, "replication")
    return number(replication, "master_sync_in_progress") == 1


@cause(
    "low-hit-rate.unread-items",
    evidence=("evicted_unfetched", "expired_unfetched", "items_read"),
    kinds=("memcached",),
)
def unread_items(view: TargetView, params: Params) -> Findings:
    """Memcached counts the items that left without one read: written for nobody."""
    found = Findings()
    evictions = view.counter("stats", "evictions") or 0
    evicted_unread = view.counter("stats", "evicted_unfetched") or 0
    expired_unread = view.counter("stats", "expired_unfetched") or 0
    reclaimed = view.counter("stats", "reclaimed") or 0
    share = float(params.get("unread_share", 0.5))
    minimum = float(params.get("min_items", 100))
    if evictions >= minimum and evicted_unread >= share * evictions:
        found.saw(
            "evicted_unfetched",
            f"{_n(evicted_unread)} of {_n(evictions)} evicted items were never read "
            "(evicted_unfetched): caching what nobody asks for",
        )
    gone = max(reclaimed, expired_unread)
    if expired_unread >= minimum and expired_unread >= share * gone:
        found.saw(
            "expired_unfetched",
            f"{_n(expired_unread)} items expired without one read (expired_unfetched)",
        )
    if not found.observed and (evictions >= minimum or gone >= minimum):
        found.saw(
            "items_read",
            f"of the items gone, {_n(evicted_unread + expired_unread)} were never read",
        )
    return found
