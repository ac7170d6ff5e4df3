"""What `cachediag demo` says around the check it runs: the servers, the seeds, what next."""

from __future__ import annotations

import shlex

from cachediag.demo.scenarios import MemcachedScenario, RedisScenario
from cachediag.demo.seed import Seeded
from cachediag.render.units import human_bytes


def intro(redis_url: str, memcached_url: str, redis: RedisScenario, mc: MemcachedScenario) -> str:
    return (
        "cachediag demo: two throwaway servers on loopback, started for this run and "
        "stopped when it ends\n"
        f"  redis-server  {redis_url}  maxmemory {human_bytes(redis.maxmemory)}, "
        f"policy {redis.policy}\n"
        f"  memcached     {memcached_url}  -m {mc.megabytes}\n\n"
    )


def seeded(redis: RedisScenario, r: Seeded, mc: MemcachedScenario, m: Seeded) -> str:
    used = f"{r.used_fraction:.0%}" if r.used_fraction is not None else "?"
    return (
        "Seeded with the guide's issues, as a cache-kit application with its bugs leaves them:\n"
        f"  Issue 1  keys made with the time (cart:<id>:<unix time>): {r.hits} hits, "
        f"{r.misses} misses\n"
        "  Issue 1  user:* and product:* entries written without a TTL\n"
        f"  Issue 3  {redis.policy} at {used} of maxmemory: the next writes fail with OOM\n"
        f"  Issue 4  user:* entries of schema versions 1 and 2, and 3 corrupt ones "
        "(user:97, user:98, user:99)\n"
        f"  Memcached  {m.entries:,} items into {mc.megabytes} MB: it evicts; "
        f"{m.hits} hits, {m.misses} misses\n"
        "  App log  what cache-kit logged reading them (invalid magic, version mismatch, "
        "misses falling back to the database), given to check as --log -\n"
    )


def running(command: list[str]) -> str:
    return f"\n$ <the application's log> | {shlex.join(command)}\n"


def next_steps(redis_url: str, memcached_url: str, with_purge: bool, waiting: bool) -> str:
    redis = f"--redis {redis_url}"
    steps = [
        (
            f"cachediag bigkeys {redis} --memcached {memcached_url}",
            "the biggest keys, by namespace",
        ),
        (f"cachediag inspect {redis} user:97 user:59", "a corrupt entry and a v2 one, decoded"),
        (f"cachediag inspect {redis}", "every namespace's envelopes and schema versions"),
        (f"cachediag ttl {redis}", "what is cached forever, per namespace"),
        (f"cachediag eviction-policy {redis}", "the fix for noeviction (--set applies it)"),
    ]
    if with_purge:
        steps.append(
            (f"cachediag purge {redis} --pattern 'cart:*'", "what a purge would delete (dry run)")
        )
    width = max(len(command) for command, _ in steps)
    lines = [f"  {command.ljust(width)}  # {why}" for command, why in steps]
    head = (
        "Try next, while the servers are up:"
        if waiting
        else "Try next (`cachediag demo --wait` keeps the servers up for it):"
    )
    return f"\n{head}\n" + "\n".join(lines) + "\n"


WAITING = "\nThe servers stay up while you try these: press Enter or Ctrl-C to stop them.\n"


STOPPED = "The demo's servers are stopped and their files removed.\n"
