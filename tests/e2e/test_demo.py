"""`cachediag demo`, its scenarios, and `make run`.

The scenarios are the package's (cachediag/demo/scenarios.py), seeded by its seeder into
the fixture servers (`guide_scenario`, tests/servers.py): what the check finds there is
what the demo shows. The demo itself runs as users run it, as the installed command:
it must start its servers, stop them at its end and on Ctrl-C (SIGINT to the demo alone,
as a `kill -INT` would, and to its process group, as a terminal's Ctrl-C does), and leave
no port open and no child process behind. Time bounds are upper bounds only.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from conftest import cachediag_binary
from servers import free_port

from cachediag.demo import scenarios
from cachediag.demo.servers import port_open

REPO = Path(__file__).resolve().parents[2]
PORTS = re.compile(r"redis://127\.0\.0\.1:(\d+)/0 .*\n\s+memcached\s+127\.0\.0\.1:(\d+)")


def statuses(document: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {(r["id"], r["target"].split("://")[0]): r["status"] for r in document["results"]}


# --- the scenarios, on the fixture servers ------------------------------------------------


def test_the_guide_scenario_shows_the_guides_issues(guide_scenario: Any, cachediag: Any) -> None:
    seeded = guide_scenario.redis_seeded
    assert (seeded.hits, seeded.misses) == (scenarios.REDIS.hits, scenarios.REDIS.misses)
    assert seeded.used_fraction is not None
    assert scenarios.REDIS.fill_to <= seeded.used_fraction < 0.95
    run = cachediag(
        "check",
        "--redis",
        f"redis://127.0.0.1:{guide_scenario.redis.port}/0",
        "--memcached",
        guide_scenario.memcached.address,
        "--log",
        "-",
        "--skip",
        "System Issues",
        "--json",
        input=scenarios.app_log(scenarios.REDIS),
    )
    found = statuses(run.json())
    assert run.code == 1
    expected = {
        # Issue 1: keys made with the time, so most lookups miss
        ("redis.hit_rate", "redis"): "fail",
        ("redis.key_determinism", "redis"): "warn",
        # entries without a TTL
        ("redis.ttl", "redis"): "fail",
        # Issue 3: noeviction near its limit
        ("redis.eviction_policy", "redis"): "fail",
        ("redis.memory", "redis"): "warn",
        # Issue 4: two schema versions and corrupt entries
        ("redis.serialization", "redis"): "fail",
        ("app.schema_change", "app"): "warn",
        ("app.error_logs", "app"): "fail",  # Issue 4 Step 1: what the application logged
        # a Memcached that evicts
        ("memcached.evictions", "memcached"): "warn",
        ("memcached.hit_rate", "memcached"): "fail",
        ("memcached.ttl", "memcached"): "pass",
    }
    assert {key: found.get(key) for key in expected} == expected


def test_the_seeder_refuses_a_server_off_loopback() -> None:
    from cachediag.demo import seed
    from cachediag.errors import UsageError
    from cachediag.targets.target import Target

    remote = Target(kind="redis", name="redis://10.0.0.5:6379/0", source="flag", host="10.0.0.5")
    with pytest.raises(UsageError, match="only loopback servers it started"):
        seed.seed_redis(remote, scenarios.REDIS)
    named = Target(kind="memcached", name="memcached://cache:11211", source="flag", host="cache")
    with pytest.raises(UsageError, match="only loopback"):
        seed.seed_memcached(named, scenarios.MEMCACHED)


# --- the demo, as users run it --------------------------------------------------------------


class Demo:
    """`cachediag demo` running, its output read line by line from a thread (bounded)."""

    def __init__(self, *args: str, group: bool = False, env: dict[str, str] | None = None):
        self.proc = subprocess.Popen(
            [cachediag_binary(), "demo", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
            start_new_session=group,  # its own group: a terminal's Ctrl-C, without a terminal
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.out: list[str] = []
        self.err: list[str] = []
        # One reader per pipe, each to its end: nothing else reads them (no communicate()).
        self._readers = [
            threading.Thread(target=self._read, daemon=True),
            threading.Thread(target=self._read_err, daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def _read_err(self) -> None:
        assert self.proc.stderr is not None
        self.err.append(self.proc.stderr.read())

    def until(self, text: str, timeout: float = 90) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                assert self.proc.poll() is None or not self.lines.empty(), "".join(self.out)
                continue
            self.out.append(line)
            if text in line:
                return "".join(self.out)
        raise AssertionError(f"no {text!r} within {timeout}s:\n{''.join(self.out)}")

    def ports(self) -> tuple[int, int]:
        match = PORTS.search("".join(self.out))
        assert match, "".join(self.out)
        return int(match.group(1)), int(match.group(2))

    def children(self) -> list[psutil.Process]:
        return psutil.Process(self.proc.pid).children(recursive=True)

    def finish(self, timeout: float = 30) -> tuple[int, str, str]:
        """Wait for the exit and for both pipes' end; the whole output, in order."""
        code = self.proc.wait(timeout)
        for reader in self._readers:
            reader.join(10)
        while not self.lines.empty():
            self.out.append(self.lines.get())
        return code, "".join(self.out), "".join(self.err)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def demo() -> Iterator[type[Demo]]:
    started: list[Demo] = []

    class Started(Demo):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            started.append(self)

    yield Started
    for run in started:
        run.kill()


def assert_nothing_left(ports: tuple[int, int], children: list[psutil.Process]) -> None:
    assert children, "the demo had started no server?"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(c.is_running() for c in children):
        time.sleep(0.05)
    alive = [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    assert alive == [], alive
    assert [port for port in ports if port_open(port)] == []


def test_the_demo_runs_the_check_and_stops_its_servers(demo: Any) -> None:
    run = demo("--no-wait")
    run.until("Seeded with the guide's issues")
    ports = run.ports()
    servers = run.children()
    assert {p.name() for p in servers} >= {"redis-server", "memcached"}
    code, out, err = run.finish(timeout=90)
    assert code == 0, out + err
    assert "$ <the application's log> | cachediag check --redis redis://127.0.0.1:" in out
    # The check's own table, with the guide's issues in it.
    for line in (
        "✗ fail │ redis.hit_rate",
        "✗ fail │ redis.eviction_policy",
        "! warn │ memcached.evictions",
    ):
        assert line in out, out
    assert "cachediag inspect --redis" in out and "Try next" in out
    assert ("cachediag purge" in out) == _has_purge()
    assert out.rstrip().endswith("The demo's servers are stopped and their files removed.")
    assert_nothing_left(ports, servers)


def _has_purge() -> bool:
    from cachediag.cli.app import COMMANDS

    return "purge" in COMMANDS


@pytest.mark.parametrize(
    ("how", "group"),
    [("SIGINT", False), ("SIGINT", True), ("SIGTERM", False)],
    ids=["kill-INT", "ctrl-c-to-the-group", "kill-TERM"],
)
def test_a_signal_while_waiting_stops_everything(demo: Any, how: str, group: bool) -> None:
    run = demo("--wait", group=group)
    run.until("press Enter or Ctrl-C")
    ports, servers = run.ports(), run.children()
    assert all(port_open(port) for port in ports)  # up while the user tries things
    signum = getattr(signal, how)
    os.killpg(run.proc.pid, signum) if group else run.proc.send_signal(signum)
    code, out, err = run.finish()
    assert code == 130, out + err
    assert "The demo's servers are stopped" in out and "Traceback" not in err
    assert_nothing_left(ports, servers)


def test_ctrl_c_mid_run_stops_everything(demo: Any) -> None:
    """Ctrl-C while seeding or checking (whichever it is at by then)."""
    run = demo("--no-wait")
    run.until("redis-server  redis://")
    run.until("memcached     127.0.0.1:")
    ports, servers = run.ports(), run.children()
    run.proc.send_signal(signal.SIGINT)
    code, out, err = run.finish()
    assert code == 130, out + err
    assert "Traceback" not in err
    assert_nothing_left(ports, servers)


def test_enter_stops_the_servers(demo: Any) -> None:
    run = demo("--wait")
    run.until("press Enter or Ctrl-C")
    ports, servers = run.ports(), run.children()
    assert run.proc.stdin is not None
    run.proc.stdin.write("\n")
    run.proc.stdin.flush()
    code, out, err = run.finish()
    assert code == 0, out + err
    assert_nothing_left(ports, servers)


def test_on_a_terminal_it_waits_by_default() -> None:
    """stdin a terminal (a pty here): the servers stay up until Enter."""
    import pty

    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(
            [cachediag_binary(), "demo"],
            stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert proc.stdout is not None
            deadline = time.monotonic() + 90
            seen = ""
            while "press Enter or Ctrl-C" not in seen and time.monotonic() < deadline:
                seen += proc.stdout.readline()
            assert "press Enter or Ctrl-C" in seen, seen
            match = PORTS.search(seen)
            assert match and port_open(int(match.group(1)))
            os.write(master, b"\n")
            assert proc.wait(30) == 0
            assert not port_open(int(match.group(1))) and not port_open(int(match.group(2)))
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
    finally:
        os.close(master)
        os.close(slave)


def test_without_the_servers_installed_one_sentence(cachediag: Any, tmp_path: Path) -> None:
    # A PATH with python but neither redis-server nor memcached.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(sys.executable)
    run = cachediag("demo", "--no-wait", env={"PATH": str(bin_dir)})
    assert run.code == 2 and run.out == ""
    assert run.err == (
        "cachediag: error: the demo needs redis-server and memcached installed: on Debian or "
        "Ubuntu `sudo apt-get install redis-server memcached`, on macOS "
        "`brew install redis memcached`\n"
    )


# --- make run ------------------------------------------------------------------------------


def make_run(env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`make run` in this checkout, with the venv the tests run in (nothing reinstalled)."""
    venv = Path(sys.executable).parent.parent
    return subprocess.run(
        ["make", "-s", "-C", str(REPO), "run", f"VENV={venv}", "STAMP="],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **env},
        stdin=subprocess.DEVNULL,
    )


def test_make_run_without_a_local_server_runs_the_demo() -> None:
    nothing = (free_port(), free_port())
    run = make_run(
        {"REDIS": f"redis://127.0.0.1:{nothing[0]}", "MEMCACHED": f"127.0.0.1:{nothing[1]}"}
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.startswith(
        f"Nothing answers at redis://127.0.0.1:{nothing[0]} or 127.0.0.1:{nothing[1]}: "
        "running the demo instead (cachediag demo)."
    ), run.stdout
    assert "cachediag demo: two throwaway servers" in run.stdout
    assert "✗ fail │ redis.eviction_policy" in run.stdout


def test_make_run_with_a_local_redis_checks_it(redis_server: Any, closed_port: int) -> None:
    run = make_run(
        {"REDIS": f"redis://127.0.0.1:{redis_server.port}", "MEMCACHED": f"127.0.0.1:{closed_port}"}
    )
    assert "cachediag demo" not in run.stdout, run.stdout
    assert f"redis     redis://127.0.0.1:{redis_server.port}/0  up" in run.stdout, run.stdout
    assert "redis.hit_rate" in run.stdout
    # The Memcached named beside it is down, so the check fails (1) and make says so (2).
    assert f"memcached://127.0.0.1:{closed_port}  down" in run.stdout, run.stdout
    assert run.returncode == 2 and "Error 1" in run.stderr, run.stderr
