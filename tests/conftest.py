"""Fixtures that start real servers per scenario and always stop them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# Tests mirror the package (unit/<package>/) with the end-to-end CLI tests apart (e2e/);
# the shared fixtures (servers.py, facts_builder.py) live here, and a few test modules
# reuse another's helpers (`from test_scan import settle`): every test folder is on the
# path, so such an import does not depend on the order pytest collects the folders in.
TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS))
for folder in sorted(p for p in TESTS.rglob("*") if p.is_dir() and p.name != "data"):
    if "__pycache__" not in folder.parts:
        sys.path.insert(1, str(folder))

from servers import (  # noqa: E402 - importable once the folders above are on the path
    GuideScenario,
    MemcachedPool,
    MemcachedServer,
    RedisCluster,
    RedisServer,
    SilentServer,
    start_guide_scenario,
    start_http,
    start_memcached,
    start_memcached_pool,
    start_redis,
    start_redis_cluster,
)


@pytest.fixture
def redis_factory(tmp_path: Path) -> Iterator[Callable[..., RedisServer]]:
    started: list[RedisServer] = []

    def start(*args: str, **kwargs: Any) -> RedisServer:
        server = start_redis(tmp_path / f"redis{len(started)}", *args, **kwargs)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def redis_server(redis_factory: Callable[..., RedisServer]) -> RedisServer:
    """A healthy Redis with a memory limit and an LRU policy."""
    return redis_factory("--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru")


CLUSTER_KEYS = 30_000


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    """Three primaries and three replicas on loopback, shared by the session (starting one
    takes seconds), holding the issue's 30,000 keys user:0...user:29999, written by redis-py's
    RedisCluster as an application writes them: each to its slot's primary. A test that
    changes the cluster puts it back before it ends."""
    cluster = start_redis_cluster(tmp_path_factory.mktemp("cluster"))
    try:
        app = cluster.client()
        for start in range(0, CLUSTER_KEYS, 5000):
            pipe = app.pipeline()
            for i in range(start, start + 5000):
                pipe.set(f"user:{i}", f"value-{i}")
            pipe.execute()
        app.close()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def memcached_pool() -> Iterator[MemcachedPool]:
    """Three memcached servers an application spreads keys over (a test may kill one)."""
    pool = start_memcached_pool(3)
    try:
        yield pool
    finally:
        pool.stop()


@pytest.fixture
def memcached_factory() -> Iterator[Callable[..., MemcachedServer]]:
    started: list[MemcachedServer] = []

    def start(*args: str) -> MemcachedServer:
        server = start_memcached(*args)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def memcached_server(memcached_factory: Callable[..., MemcachedServer]) -> MemcachedServer:
    return memcached_factory()


@pytest.fixture
def guide_scenario(tmp_path: Path) -> Iterator[GuideScenario]:
    """The guide's issues on a Redis and a Memcached, seeded as `cachediag demo` seeds them."""
    scenario = start_guide_scenario(tmp_path / "guide-redis")
    yield scenario
    scenario.stop()


@pytest.fixture
def silent_server() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.close()


@pytest.fixture
def http_port() -> Iterator[int]:
    server, port = start_http()
    yield port
    server.shutdown()


@pytest.fixture
def closed_port() -> int:
    from servers import free_port

    return free_port()


def cachediag_binary() -> str:
    """The installed console script, as users run it."""
    candidate = Path(sys.executable).parent / "cachediag"
    found = str(candidate) if candidate.exists() else shutil.which("cachediag")
    if not found:
        pytest.fail("the cachediag console script is not installed (run `make test`)")
    return found


class Run:
    def __init__(self, proc: subprocess.CompletedProcess[str]) -> None:
        self.proc = proc
        self.code = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr
        self.seconds = 0.0  # wall time (measured runs)
        self.peak_mb = 0.0  # the command's peak resident memory (measured runs)

    def json(self) -> Any:
        return json.loads(self.out)


def _clean_env() -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("CACHEDIAG_", "REDISCLI_"))}
    base.pop("NO_COLOR", None)
    base.pop("FORCE_COLOR", None)  # a CI runner that sets it must not colour our asserts
    return base


@pytest.fixture
def cachediag_measured(tmp_path: Path) -> Callable[..., Run]:
    """Run the installed `cachediag` like `cachediag`, measuring its wall time and its own
    peak resident memory (os.wait4's rusage of that one child: earlier children, servers
    and the test process itself do not count). Killed at `timeout`."""
    import threading
    import time

    workdir = tmp_path / "cwd-measured"
    workdir.mkdir(exist_ok=True)

    def run(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> Run:
        out_path, err_path = workdir / "stdout", workdir / "stderr"
        with out_path.open("wb") as out, err_path.open("wb") as err:
            started = time.monotonic()
            proc = subprocess.Popen(
                [cachediag_binary(), *args],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                cwd=workdir,
                env={**_clean_env(), **(env or {})},
            )
            killer = threading.Timer(timeout, proc.kill)
            killer.start()
            try:
                _, status, usage = os.wait4(proc.pid, 0)
            finally:
                killer.cancel()
            seconds = time.monotonic() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        completed = subprocess.CompletedProcess(
            proc.args,
            proc.returncode,
            out_path.read_text(encoding="utf-8", errors="replace"),
            err_path.read_text(encoding="utf-8", errors="replace"),
        )
        measured = Run(completed)
        measured.seconds = seconds
        measured.peak_mb = usage.ru_maxrss / 1024  # kilobytes on Linux
        return measured

    return run


@pytest.fixture
def cachediag(tmp_path: Path) -> Callable[..., Run]:
    """Run the installed `cachediag` in an empty directory with a clean environment."""
    workdir = tmp_path / "cwd"
    workdir.mkdir(exist_ok=True)

    def run(
        *args: str, env: dict[str, str] | None = None, timeout: float = 60, input: str | None = None
    ) -> Run:
        base = _clean_env()
        proc = subprocess.run(
            [cachediag_binary(), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=workdir,
            env={**base, **(env or {})},
            input=input,
        )
        return Run(proc)

    return run
