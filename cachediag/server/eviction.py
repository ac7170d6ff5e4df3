"""`cachediag eviction-policy`: read, judge and (only when asked and confirmed) change eviction.

Reading and judging are the guide's Issue 3, Step 4 and Solution 3C; the verdicts are
the `check` rules redis/memcached.eviction_policy and .memory. Changing is Redis only
(CONFIG SET, read back, optionally CONFIG REWRITE; the writes are cachediag.writes'):
Memcached fixes its limit and eviction mode at start-up, so for it we print the flags a
restart needs.
"""

from __future__ import annotations

import math
import re
import shlex
from collections.abc import Callable
from typing import Any

from cachediag import writes
from cachediag.checks.facts_view import number
from cachediag.checks.judge import Judge
from cachediag.errors import ProbeError, UsageError
from cachediag.probes.rows import mark_error, target_row
from cachediag.render.units import limit_text
from cachediag.targets.target import Target
from cachediag.writes import WritePlan

VALID_POLICIES = (
    "noeviction",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
)
RECOMMENDED_POLICY = "allkeys-lru"  # the guide's Solution 3C
GIB = 1024**3
MAX_SIZE = 2**63 - 1
MIB = 1024**2

# Redis' own units (memtoull): k/m/g are powers of 1000, kb/mb/gb powers of 1024.
_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1024, "m": 1000**2, "mb": MIB, "g": 1000**3, "gb": GIB}
_SIZE = re.compile(r"^\s*(\d+)\s*([a-z]*)\s*$", re.ASCII)  # ٣gb is no size


def parse_size(text: str) -> int:
    """'2gb' -> 2147483648, '512mb', '100000000', '1g' (Redis' units); bad input is a UsageError."""
    match = _SIZE.match(text.lower())
    if not match or match.group(2) not in _UNITS:
        raise UsageError(
            f"invalid --maxmemory '{text}': use bytes or a unit like 2gb, 512mb, 100000000 "
            "(0 = no limit)"
        )
    size = int(match.group(1)) * _UNITS[match.group(2)]
    if size > MAX_SIZE:
        # Redis would wrap a larger value silently into a nonsense limit.
        raise UsageError(f"invalid --maxmemory '{text}': larger than Redis accepts (2^63-1 bytes)")
    return size


def validate_policy(text: str) -> str:
    policy = text.strip().lower()
    if policy not in VALID_POLICIES:
        hint = " (Redis spells it noeviction)" if policy in ("no-eviction", "no_eviction") else ""
        raise UsageError(
            f"invalid eviction policy '{text}'{hint}; valid policies: {', '.join(VALID_POLICIES)}"
        )
    return policy


def suggested_maxmemory(used_bytes: float | None) -> str:
    """The guide's 2gb, or half again the memory in use when that is already more."""
    if not used_bytes or used_bytes * 1.5 <= 2 * GIB:
        return "2gb"
    return f"{math.ceil(used_bytes * 1.5 / GIB)}gb"


def redis_cli_prefix(target: Target) -> str:
    """How to reach this target with redis-cli, shell-quoted so that it can be pasted as
    is; the password is asked for (--askpass), never printed. No -n: CONFIG is per server."""
    parts = ["redis-cli"]
    if target.unix_path:
        parts += ["-s", target.unix_path]
    else:
        parts += ["-h", str(target.host), "-p", str(target.port)]
    if target.tls:
        tls = target.tls_options
        parts.append("--tls")
        for flag, value in (("--cacert", tls.ca), ("--cert", tls.cert), ("--key", tls.key)):
            if value:
                parts += [flag, value]
        if tls.insecure:
            parts.append("--insecure")
        if tls.sni:
            parts += ["--sni", tls.sni]
    if target.username:
        parts += ["--user", target.username]
    if target.password is not None:
        parts.append("--askpass")
    return shlex.join(parts)


def cachediag_target_flags(target: Target) -> list[str]:
    """The flags that point cachediag itself at this target (none for the local default)."""
    if target.source == "default":
        return []
    flags = ["--redis", target.name]
    tls = target.tls_options
    for flag, value in (("--tls-ca", tls.ca), ("--tls-cert", tls.cert), ("--tls-key", tls.key)):
        if value:
            flags += [flag, value]
    if tls.insecure:
        flags.append("--tls-insecure")
    if tls.sni:
        flags += ["--sni", tls.sni]
    return flags


# -- reading and judging ------------------------------------------------------------------


def redis_facts(target: Target, timeout: float) -> tuple[dict[str, Any], dict[str, Any]]:
    """(facts for the rules, CONFIG GET values or the reason CONFIG is unavailable)."""
    from cachediag.clients.resp import RedisClient, ReplyError
    from cachediag.probes.info import parse_info

    with RedisClient(target, timeout).connect() as client:
        client.timed_ping()
        info_reply, *config_replies = client.pipeline(
            [
                ("INFO", "memory"),
                ("INFO", "keyspace"),
                ("CONFIG", "GET", "maxmemory"),
                ("CONFIG", "GET", "maxmemory-policy"),
            ]
        )
        keyspace_reply = config_replies.pop(0)
    info: dict[str, Any] = {}
    for reply in (info_reply, keyspace_reply):
        if not isinstance(reply, ReplyError):
            info.update(parse_info(reply))
    config: dict[str, Any] = {"available": True, "reason": None, "values": {}}
    for reply in config_replies:
        if isinstance(reply, ReplyError):
            config = {
                "available": False,
                "reason": f"CONFIG is unavailable: {reply.text}",
                "values": {},
            }
            break
        if reply:
            config["values"][reply[0].decode()] = reply[1].decode("utf-8", "replace")
    facts = {"kind": "redis", "info": info, "config": config}
    return facts, config


def redis_row(target: Target, timeout: float, judge: Judge) -> dict[str, Any]:
    row = target_row(target)
    try:
        facts, config = redis_facts(target, timeout)
    except ProbeError as error:
        return mark_error(row, target, error)
    mem = facts["info"].get("memory") or {}
    maxmemory = number(mem, "maxmemory")
    if maxmemory is None and config["values"].get("maxmemory", "").isdigit():
        maxmemory = float(config["values"]["maxmemory"])
    policy = mem.get("maxmemory_policy") or config["values"].get("maxmemory-policy")
    row.update(
        maxmemory=int(maxmemory) if maxmemory is not None else None,
        maxmemory_policy=policy,
        used_memory=number(mem, "used_memory"),
        config_available=config["available"],
        notes=[config["reason"]] if config["reason"] else [],
        verdicts=[judge("redis.eviction_policy", facts), judge("redis.memory", facts)],
    )
    row["fix"] = redis_fix(target, row)
    return row


def redis_fix(target: Target, row: dict[str, Any]) -> list[str]:
    """The exact commands that fix what the verdicts found (empty when nothing needs fixing)."""
    policy_bad = any(
        v["check"] == "redis.eviction_policy" and v["status"] in ("warn", "fail")
        for v in row["verdicts"]
    )
    no_limit = row.get("maxmemory") == 0
    if not policy_bad and not no_limit:
        return []
    cli = redis_cli_prefix(target)
    commands, flags = [], []
    if no_limit:
        size = suggested_maxmemory(row.get("used_memory"))
        commands.append(f"{cli} {writes.config_set(('maxmemory', size)).shell()}")
        flags += ["--maxmemory", size]
    policy = RECOMMENDED_POLICY if policy_bad else row.get("maxmemory_policy") or RECOMMENDED_POLICY
    if policy_bad:
        commands.append(f"{cli} {writes.config_set(('maxmemory-policy', policy)).shell()}")
    commands.append(f"{cli} {writes.config_rewrite().shell()}    # persist across restarts")
    # Names are masked: pasted as is, the command would send *** as the password.
    auth_note = "    # put the password in place of ***" if "***" in target.name else ""
    commands.append(
        shlex.join(
            [
                "cachediag",
                "eviction-policy",
                *cachediag_target_flags(target),
                "--set",
                policy,
                *flags,
                "--rewrite",
            ]
        )
        + auth_note
    )
    return commands


def memcached_row(target: Target, timeout: float, judge: Judge) -> dict[str, Any]:
    from cachediag.clients.memcache_text import MemcachedClient
    from cachediag.probes.info import stats_numbers

    row = target_row(target)
    try:
        with MemcachedClient(target, timeout).connect() as client:
            client.version()
            # slabs and items too: memcached.memory judges the allocator, as in `check`.
            facts: dict[str, Any] = {
                "kind": "memcached",
                "stats": stats_numbers(client.stats()),
                "settings": stats_numbers(client.stats("settings")),
                "slabs": stats_numbers(client.stats("slabs")),
                "items": stats_numbers(client.stats("items")),
            }
    except ProbeError as error:
        return mark_error(row, target, error)
    limit = number(facts["stats"], "limit_maxbytes")
    evictions = str(facts["settings"].get("evictions", "")).lower() or None
    megabytes = int(limit // MIB) if limit else None
    row.update(
        limit_maxbytes=int(limit) if limit is not None else None,
        evictions=evictions,
        used_bytes=number(facts["stats"], "bytes"),
        verdicts=[judge("memcached.eviction_policy", facts), judge("memcached.memory", facts)],
        restart_flags=memcached_flags(megabytes, evictions),
        notes=[
            "Memcached cannot turn evictions on or off at runtime: a restart with these flags "
            "does. Its memory limit can be raised without one: cache_memlimit MB (1.4.27+)."
        ],
    )
    memory_bad = any(
        v["check"] == "memcached.memory" and v["status"] in ("warn", "fail")
        for v in row["verdicts"]
    )
    fix = []
    if evictions == "off":
        fix.append(f"restart memcached without -M (keep -m {megabytes}): memcached -m {megabytes}")
    if memory_bad and megabytes:
        fix.append(
            f"raise the limit now, keeping the items: cache_memlimit {megabytes * 2}; "
            f"then start memcached with -m {megabytes * 2}"
        )
    row["fix"] = fix
    return row


def memcached_flags(megabytes: int | None, evictions: str | None) -> dict[str, Any]:
    """The start-up flags behind the settings: -m MEGABYTES, and -M when evictions are off."""
    flags: dict[str, Any] = {"-m": megabytes, "-M": evictions == "off"}
    flags["text"] = " ".join(
        p for p in (f"-m {megabytes}" if megabytes else "", "-M" if flags["-M"] else "") if p
    )
    return flags


def read(target: Target, timeout: float, judge: Judge) -> dict[str, Any]:
    from cachediag.backends import backend_for

    return backend_for(target).eviction(target, timeout, judge)


# -- changing (Redis only; the writes themselves are cachediag.writes') ----------------------


def plan(row: dict[str, Any], policy: str, maxmemory: int | None) -> list[dict[str, Any]]:
    """The CONFIG SET changes that bring this target to `policy` (and `maxmemory`)."""
    changes = []
    # Policy first: lowering maxmemory then evicts under the new policy, not the old one.
    if row.get("maxmemory_policy") != policy:
        changes.append(
            {"parameter": "maxmemory-policy", "from": row.get("maxmemory_policy"), "to": policy}
        )
    if maxmemory is not None and row.get("maxmemory") != maxmemory:
        changes.append({"parameter": "maxmemory", "from": row.get("maxmemory"), "to": maxmemory})
    return changes


def shown_value(parameter: str, value: Any) -> str:
    """A setting's value as a plan shows it: maxmemory in bytes and readable."""
    if parameter == "maxmemory" and isinstance(value, int):
        return limit_text(value)
    return str(value)


def write_plan(target: Target, changes: list[dict[str, Any]], rewrite: bool) -> WritePlan:
    """The writes that make `changes` (from `plan`) on `target`, CONFIG REWRITE after."""
    settings = [(c["parameter"], c["from"], c["to"]) for c in changes]
    return writes.config_plan(target, settings, rewrite, show=shown_value)


def plan_writes(
    rows: list[dict[str, Any]],
    targets: list[Target],
    policy: str,
    maxmemory: int | None,
    rewrite: bool,
) -> tuple[list[WritePlan], bool]:
    """(the plans for the Redis targets that need a change, whether any target cannot
    have it). Rows with nothing to do, or no CONFIG for this user, get their outcome now."""
    from cachediag.backends import backend_for

    by_name = {t.name: t for t in targets}
    plans: list[WritePlan] = []
    failed = False
    for row in rows:
        if not backend_for(row["kind"]).runtime_eviction_settings:
            continue
        if row["status"] != "up":
            failed = True
            continue
        if not row.get("config_available"):
            row["outcome"] = {
                "changes": [],
                "verified": False,
                "error": "CONFIG is unavailable to this user: nothing can be changed here",
            }
            failed = True
            continue
        changes = plan(row, policy, maxmemory)
        if changes or rewrite:
            plans.append(write_plan(by_name[row["target"]], changes, rewrite))
        else:
            row["outcome"] = {"changes": [], "verified": True, "rewrite": None, "error": None}
    return plans, failed


def record_outcomes(
    rows: list[dict[str, Any]],
    outcomes: list[writes.Outcome],
    reread: Callable[[Target], dict[str, Any]],
) -> bool:
    """Each row shown as it is now, judged again, beside what was done; True if any failed."""
    by_name = {outcome.plan.target.name: outcome for outcome in outcomes}
    failed = False
    for index, row in enumerate(rows):
        outcome = by_name.get(row["target"])
        if outcome is None:
            continue
        failed = failed or bool(outcome.error)
        fresh = reread(outcome.plan.target)
        rows[index] = {**(fresh if fresh["status"] == "up" else row), "outcome": outcome.to_dict()}
    return failed
