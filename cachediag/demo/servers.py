"""Throwaway redis-server and memcached processes on free loopback ports.

Each server listens on 127.0.0.1 only, on a port the kernel just handed out, keeps its
files in a temp dir made for it, persists nothing (no RDB, no AOF), and is stopped by the
`DemoServers` that started it: on exit, on Ctrl-C, on SIGTERM. The processes run in a
session of their own, so a Ctrl-C on the terminal reaches the demo, which stops them in
order, rather than racing it; on Linux they are also told to end when the demo dies
(PR_SET_PDEATHSIG), so not even a SIGKILL of the demo leaves them behind.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cachediag.errors import CachediagError, UsageError
from cachediag.targets.target import Target

LOOPBACK = "127.0.0.1"
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0
PORT_ATTEMPTS = 5  # a port another process takes between our pick and the bind: pick again

INSTALL_HINT = (
    "the demo needs {missing} installed: on Debian or Ubuntu "
    "`sudo apt-get install redis-server memcached`, on macOS `brew install redis memcached`"
)


class DemoFailed(CachediagError):
    """A server of the demo would not start: nothing to show, exit 3."""

    exit_code = 3


def missing_binaries() -> list[str]:
    """The server binaries the demo needs that are not on PATH."""
    return [name for name in ("redis-server", "memcached") if shutil.which(name) is None]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def port_open(port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=timeout):
            return True
    except OSError:
        return False


def _die_with_parent() -> None:  # pragma: no cover - runs in the child, between fork and exec
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class DemoServer:
    kind: str  # "redis" or "memcached"
    port: int
    process: subprocess.Popen[bytes]
    workdir: Path

    @property
    def target(self) -> Target:
        if self.kind == "redis":
            name = f"redis://{LOOPBACK}:{self.port}/0"
        else:
            name = f"memcached://{LOOPBACK}:{self.port}"
        return Target(kind=self.kind, name=name, source="flag", host=LOOPBACK, port=self.port)

    @property
    def url(self) -> str:
        """What `--redis` / `--memcached` take to reach it."""
        return self.target.name if self.kind == "redis" else f"{LOOPBACK}:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT_S)


def redis_command(binary: str, port: int, workdir: Path, *args: str) -> list[str]:
    return [
        binary,
        "--bind", LOOPBACK, "--port", str(port), "--protected-mode", "yes",
        "--save", "", "--appendonly", "no", "--daemonize", "no",
        "--dir", str(workdir), "--logfile", str(workdir / "redis.log"), "--loglevel", "warning",
        *args,
    ]  # fmt: skip


def memcached_command(binary: str, port: int, *args: str) -> list[str]:
    cmd = [binary, "-l", LOOPBACK, "-p", str(port), "-U", "0", *args]
    # memcached refuses to run as root without -u.
    return cmd + (["-u", "root"] if os.geteuid() == 0 else [])


@dataclass
class DemoServers:
    """The servers of one demo run; a context manager that always stops them.

    Only what `start_redis` / `start_memcached` launched is ever stopped: the processes
    are kept by handle, never looked up by name or port.
    """

    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="cachediag-demo-")))
    started: list[DemoServer] = field(default_factory=list)

    def start_redis(self, *args: str) -> DemoServer:
        binary = _binary("redis-server")
        workdir = self.root / f"redis{len(self.started)}"
        workdir.mkdir()
        return self._start(
            "redis", workdir, lambda port: redis_command(binary, port, workdir, *args)
        )

    def start_memcached(self, *args: str) -> DemoServer:
        binary = _binary("memcached")
        workdir = self.root / f"memcached{len(self.started)}"
        workdir.mkdir()
        return self._start(
            "memcached", workdir, lambda port: memcached_command(binary, port, *args)
        )

    def _start(self, kind: str, workdir: Path, command: Callable[[int], list[str]]) -> DemoServer:
        last = ""
        for _ in range(PORT_ATTEMPTS):
            port = free_port()
            process = subprocess.Popen(
                command(port),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                cwd=workdir,
                start_new_session=True,
                preexec_fn=_die_with_parent,  # safe: the demo starts no thread of its own
            )
            server = DemoServer(kind, port, process, workdir)
            self.started.append(server)
            if _wait_until_listening(server):
                return server
            server.stop()
            last = (process.stderr.read() if process.stderr else b"").decode("utf-8", "replace")
        raise DemoFailed(f"{kind} did not start on a free loopback port: {last.strip()[:200]}")

    def stop(self) -> None:
        for server in reversed(self.started):
            server.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> DemoServers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise UsageError(INSTALL_HINT.format(missing=name))
    return found


def _listens(pid: int, port: int) -> bool:
    """Whether process `pid` itself holds the listening socket on `port`.

    Not merely "something answers there": another program that took the port between
    our pick and the server's bind would answer too, and the demo must never seed it.
    """
    import psutil

    try:
        process = psutil.Process(pid)
        connections = getattr(process, "net_connections", None) or process.connections
        return any(
            c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port
            for c in connections(kind="tcp")
        )
    except psutil.Error:
        return False


def _wait_until_listening(server: DemoServer) -> bool:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            return False
        if _listens(server.process.pid, server.port):
            return True
        time.sleep(0.02)
    return False
