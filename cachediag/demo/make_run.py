"""`make run`: check the local caches when one answers, else run the demo.

On a fresh machine nothing listens at the default addresses, and `cachediag check`
there is a list of skips that shows a newcomer nothing; the demo shows what the tool
finds. `python -m cachediag.demo.make_run REDIS MEMCACHED` (the Makefile's REDIS and
MEMCACHED variables, the defaults unless given) probes both with one PING / version
each; the first that answers at all (even refusing our login) means a real cache is
there, and it is checked as before: `cachediag check`, with the addresses named only when
they are not the defaults.
"""

from __future__ import annotations

import os
import sys

from cachediag.probes.ping import ping_one
from cachediag.targets.parse import DEFAULT_MEMCACHED, DEFAULT_REDIS, parse_memcached, parse_redis

PROBE_TIMEOUT_S = 1.0
# Nothing there: a refused connection, or no answer at all in time.
_SILENT = ("refused", "timeout", "unreachable", "dns")


def answers(row: dict[str, object]) -> bool:
    if row["status"] in ("healthy", "degraded"):
        return True
    error = row.get("error")
    return isinstance(error, dict) and error.get("kind") not in _SILENT


def command(redis: str, memcached: str) -> tuple[list[str], str | None]:
    """The command to run and, for the demo, the sentence that says why."""
    targets = [parse_redis(redis, "default"), parse_memcached(memcached, "default")]
    base = [sys.executable, "-m", "cachediag"]
    if any(answers(ping_one(target, PROBE_TIMEOUT_S)) for target in targets):
        named = (redis, memcached) != (DEFAULT_REDIS, DEFAULT_MEMCACHED)
        return [
            *base,
            "check",
            *(["--redis", redis, "--memcached", memcached] if named else []),
        ], None
    why = f"Nothing answers at {redis} or {memcached}: running the demo instead (cachediag demo)."
    return [*base, "demo"], why


def main(argv: list[str]) -> None:
    redis, memcached = (argv + [DEFAULT_REDIS, DEFAULT_MEMCACHED][len(argv) :])[:2]
    argv_out, why = command(redis, memcached)
    if why:
        print(why, flush=True)
    os.execv(argv_out[0], argv_out)


if __name__ == "__main__":
    main(sys.argv[1:])
