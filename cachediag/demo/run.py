"""The demo from start to end: servers, seeds, `cachediag check`, what next, stop.

`check` runs as its own process (`python -m cachediag check ...`), as a user would run
it, on this terminal: its table is the one they will see on their own servers. It runs
in the demo's temp dir so that no cachediag.toml of the current directory changes it.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from types import FrameType

from cachediag.demo import scenarios
from cachediag.demo.seed import seed_memcached, seed_redis
from cachediag.demo.servers import INSTALL_HINT, DemoServers, missing_binaries
from cachediag.errors import UsageError
from cachediag.render import demo as render

# The host's own checks judge this machine, not the demo's servers: left to `cachediag check`.
CHECK_SKIP = "System Issues"


class Stopped(Exception):
    """SIGTERM: stop as on Ctrl-C."""


@contextmanager
def _sigterm_stops() -> Iterator[None]:
    def stop(signum: int, frame: FrameType | None) -> None:
        raise Stopped

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def check_command(redis_url: str, memcached_url: str) -> list[str]:
    # The application's log comes on stdin (`--log -`): the demo writes no file.
    return [
        sys.executable, "-m", "cachediag", "check",
        "--redis", redis_url, "--memcached", memcached_url, "--log", "-", "--skip", CHECK_SKIP,
    ]  # fmt: skip


def run_demo(
    out: Callable[[str], None],
    wait: bool,
    with_purge: bool,
    wait_for_user: Callable[[], object] = input,
) -> int:
    """Run the demo; return check's exit code. Ctrl-C and SIGTERM stop the servers
    (KeyboardInterrupt goes on to the caller once they are stopped)."""
    missing = missing_binaries()
    if missing:
        raise UsageError(INSTALL_HINT.format(missing=" and ".join(missing)))
    redis, mc = scenarios.REDIS, scenarios.MEMCACHED
    interrupted = False
    try:
        with _sigterm_stops(), DemoServers() as servers:
            redis_server = servers.start_redis(*redis.server_args())
            mc_server = servers.start_memcached(*mc.server_args())
            out(render.intro(redis_server.url, mc_server.url, redis, mc))
            seeded_redis = seed_redis(redis_server.target, redis)
            seeded_mc = seed_memcached(mc_server.target, mc)
            out(render.seeded(redis, seeded_redis, mc, seeded_mc))
            command = check_command(redis_server.url, mc_server.url)
            shown = ["cachediag", *command[3:]]
            out(render.running(shown))
            log = scenarios.app_log(redis)
            code = subprocess.run(command, cwd=servers.root, input=log, text=True).returncode
            out(render.next_steps(redis_server.url, mc_server.url, with_purge, wait))
            if wait:
                out(render.WAITING)
                with suppress(EOFError):
                    wait_for_user()
    except (KeyboardInterrupt, Stopped):
        interrupted = True
    out(render.STOPPED)
    if interrupted:
        raise KeyboardInterrupt
    return code
