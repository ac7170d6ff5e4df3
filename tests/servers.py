"""Real servers for the tests: redis-server, memcached and misbehaving sockets on free ports.

Every server is started on a free loopback port with the configuration of its scenario,
waited for until it answers, and stopped by the fixture that started it.
"""

from __future__ import annotations

import contextlib
import http.server
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cachediag.demo import scenarios, seed
from cachediag.demo.seed import Seeded
from cachediag.targets.target import Target


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(
    port: int, process: subprocess.Popen[bytes], what: str, timeout: float = 10
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"{what} did not listen on {port} within {timeout}s")


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """Terminate a server we started, killing it if it does not go within 5 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def require(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        pytest.fail(f"{binary} is not installed: run `make test`, which installs it")
    return path


@dataclass
class RedisServer:
    port: int
    process: subprocess.Popen[bytes]
    workdir: Path
    password: str | None = None
    tls: bool = False
    unix_socket: str | None = None

    @property
    def url(self) -> str:
        scheme = "rediss" if self.tls else "redis"
        auth = f":{self.password}@" if self.password else ""
        return f"{scheme}://{auth}127.0.0.1:{self.port}/0"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def cli(self, *args: str) -> str:
        """Seed or inspect with redis-cli (the tests, not cachediag, write to servers)."""
        cmd = [require("redis-cli"), "-p", str(self.port), "--no-auth-warning"]
        if self.password:
            cmd += ["-a", self.password]
        if self.tls:
            cmd += ["--tls", "--cacert", str(self.workdir / "ca.crt")]
        return subprocess.run(
            [*cmd, *args], capture_output=True, check=True, timeout=30
        ).stdout.decode()

    def client(self):  # type: ignore[no-untyped-def]
        import redis

        return redis.Redis(port=self.port, password=self.password, socket_timeout=10)

    def stop(self) -> None:
        stop_process(self.process)


def start_redis(
    workdir: Path,
    *args: str,
    password: str | None = None,
    tls: bool = False,
    unix_socket: bool = False,
) -> RedisServer:
    require("redis-server")
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    cmd = [
        require("redis-server"),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(workdir),
        "--daemonize",
        "no",
        "--loglevel",
        "warning",
        "--logfile",
        str(workdir / "redis.log"),
    ]
    if tls:
        make_tls_files(workdir)
        cmd += [
            "--port",
            "0",
            "--tls-port",
            str(port),
            "--tls-cert-file",
            str(workdir / "server.crt"),
            "--tls-key-file",
            str(workdir / "server.key"),
            "--tls-ca-cert-file",
            str(workdir / "ca.crt"),
            "--tls-auth-clients",
            "no",
        ]
    else:
        cmd += ["--port", str(port)]
    sock_path = None
    if unix_socket:
        sock_path = str(workdir / "redis.sock")
        cmd += ["--unixsocket", sock_path, "--unixsocketperm", "700"]
    if password:
        cmd += ["--requirepass", password]
    cmd += list(args)
    process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _wait_for_port(port, process, "redis-server")
    return RedisServer(port, process, workdir, password, tls, sock_path)


def make_tls_files(workdir: Path) -> None:
    """A CA made for the test, and a server certificate it signs for 127.0.0.1/localhost."""
    openssl = require("openssl")

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], cwd=workdir, check=True, capture_output=True, timeout=60)

    run(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=cachediag test CA",
    )
    run(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    )
    (workdir / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    run(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "san.ext",
    )


@dataclass
class MemcachedServer:
    port: int
    process: subprocess.Popen[bytes]

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def client(self):  # type: ignore[no-untyped-def]
        from pymemcache.client.base import Client

        return Client(("127.0.0.1", self.port), timeout=10, connect_timeout=10)

    def stop(self) -> None:
        stop_process(self.process)


def start_memcached(*args: str) -> MemcachedServer:
    binary = require("memcached")
    port = free_port()
    cmd = [binary, "-l", "127.0.0.1", "-p", str(port), "-U", "0", *args]
    # memcached refuses to run as root without -u.
    cmd += ["-u", "root"] if _is_root() else []
    process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _wait_for_port(port, process, "memcached")
    return MemcachedServer(port, process)


def memcached_supports_tls() -> bool:
    """Was this memcached built with TLS (`-Z, --enable-ssl` in its help)?"""
    found = subprocess.run([require("memcached"), "-h"], capture_output=True, text=True, timeout=30)
    return "--enable-ssl" in found.stdout


def start_memcached_tls(workdir: Path, *args: str) -> MemcachedServer:
    """A memcached that speaks TLS only (-Z), with a certificate from a CA made in the test
    (workdir/ca.crt), for 127.0.0.1 and localhost."""
    if not memcached_supports_tls():
        pytest.skip("this memcached was built without TLS (no -Z in memcached -h)")
    workdir.mkdir(parents=True, exist_ok=True)
    make_tls_files(workdir)
    options = f"ssl_chain_cert={workdir / 'server.crt'},ssl_key={workdir / 'server.key'}"
    return start_memcached("-Z", "-o", options, *args)


def _is_root() -> bool:
    import os

    return os.geteuid() == 0


class LoopbackServer:
    """A listener on a free loopback port whose accept loop hands each connection to
    `handle`, in the accept thread (start a thread there for long work). The fake servers
    of the tests subclass it; by default a connection is accepted and never answered.
    Subclasses set their own attributes before calling `__init__`: it starts accepting."""

    def __init__(self, backlog: int = 16) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(backlog)
        self.port: int = self.listener.getsockname()[1]
        self.connections: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return  # closed
            self.connections.append(conn)
            self.handle(conn)

    def handle(self, conn: socket.socket) -> None:
        """What to do with a new connection: nothing, so it hangs."""

    def close(self) -> None:
        with contextlib.suppress(OSError):  # shutdown wakes the blocked accept() on Linux
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        for conn in self.connections:
            conn.close()


class SilentServer(LoopbackServer):
    """Accepts connections and never answers: a hung server, or a black hole behind a proxy."""


# An answer of a scripted fake: bytes, or a function of the command giving bytes or an
# iterable of them (sent one after another: a stream, a drip, an endless body).
Answer = bytes | Callable[[list[bytes]], bytes | Iterable[bytes]]

FAKE_INFO = (
    b"# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\nuptime_in_seconds:86400\r\n"
    b"# Clients\r\nconnected_clients:1\r\nmaxclients:10000\r\n"
    b"# Memory\r\nused_memory:1048576\r\nmaxmemory:67108864\r\n"
    b"maxmemory_policy:allkeys-lru\r\nmem_fragmentation_ratio:1.10\r\n"
    b"# Stats\r\nkeyspace_hits:900\r\nkeyspace_misses:100\r\nevicted_keys:0\r\n"
    b"expired_keys:0\r\ntotal_connections_received:10\r\nrejected_connections:0\r\n"
    b"# Replication\r\nrole:master\r\nconnected_slaves:0\r\n"
    b"# Keyspace\r\ndb0:keys=10,expires=5,avg_ttl=1000\r\n"
)


def resp_bulk(value: bytes) -> bytes:
    return b"$%d\r\n%b\r\n" % (len(value), value)


def endless(head: bytes, chunk: bytes = b"x" * 65536) -> Iterator[bytes]:
    """`head`, then `chunk` for as long as the client reads: a reply that claims too much."""
    yield head
    while True:
        yield chunk


def dripped(data: bytes, every: float = 0.3) -> Iterator[bytes]:
    """`data` a byte at a time, `every` seconds apart."""
    for byte in data:
        time.sleep(every)
        yield bytes([byte])


class _Scripted(LoopbackServer):
    """What the scripted fakes share: a thread per connection, a delay before each answer,
    answers looked up by the command's first two words, then its first."""

    def __init__(self, answers: dict[str, Answer], default: Answer, delay: float) -> None:
        self.answers = {name.upper(): answer for name, answer in answers.items()}
        self.default = default
        self.delay = delay
        self.commands: list[list[bytes]] = []
        super().__init__()

    def handle(self, conn: socket.socket) -> None:
        # Answers go out in pieces: without NODELAY, Nagle and delayed ACKs would make
        # each round trip 40 ms, a slowness no test here means.
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=self._guarded, args=(conn,), daemon=True).start()

    def _guarded(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            self.serve(conn)

    def serve(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def answer(self, conn: socket.socket, command: list[bytes]) -> None:
        self.commands.append(command)
        words = [part.decode("utf-8", "replace").upper() for part in command[:2]]
        answer = self.answers.get(" ".join(words), self.answers.get(words[0] if words else ""))
        if answer is None:
            answer = self.default
        if callable(answer):
            answer = answer(command)
        if self.delay:
            time.sleep(self.delay)
        for part in [answer] if isinstance(answer, bytes) else answer:
            conn.sendall(part)


class ScriptedRedis(_Scripted):
    """A fake Redis: PONG, OK to AUTH and SELECT, FAKE_INFO (or `info`), an empty CONFIG
    GET, and whatever `answers` scripts for a command ("SCAN", "CONFIG GET", ...); every
    other command gets `default`. `delay` seconds pass before each answer."""

    def __init__(
        self,
        answers: dict[str, Answer] | None = None,
        *,
        info: bytes = FAKE_INFO,
        default: Answer = b"-ERR unknown command\r\n",
        delay: float = 0.0,
    ) -> None:
        base: dict[str, Answer] = {
            "PING": b"+PONG\r\n",
            "AUTH": b"+OK\r\n",
            "SELECT": b"+OK\r\n",
            "INFO": resp_bulk(info),
            "DBSIZE": b":10\r\n",
            "CONFIG GET": b"*0\r\n",
            "SCAN": b"*2\r\n$1\r\n0\r\n*0\r\n",
        }
        super().__init__({**base, **(answers or {})}, default, delay)

    def serve(self, conn: socket.socket) -> None:
        import hiredis

        reader = hiredis.Reader()
        while data := conn.recv(65536):
            reader.feed(data)
            while (command := reader.gets()) is not False:
                self.answer(conn, command)


FAKE_STATS = (
    b"STAT pid 1\r\nSTAT uptime 86400\r\nSTAT time 1700000000\r\nSTAT version 1.6.21\r\n"
    b"STAT curr_connections 2\r\nSTAT total_connections 10\r\nSTAT curr_items 1\r\n"
    b"STAT get_hits 90\r\nSTAT get_misses 10\r\nSTAT evictions 0\r\nSTAT bytes 100\r\n"
    b"STAT limit_maxbytes 67108864\r\nSTAT max_connections 1024\r\nEND\r\n"
)


class ScriptedMemcached(_Scripted):
    """A fake Memcached: a version, MN, FAKE_STATS for every stats group, a one-item
    metadump, EN to mg / me, and whatever `answers` scripts ("STATS", "STATS SETTINGS",
    "LRU_CRAWLER METADUMP", "MG" ...); `delay` seconds pass before each answer."""

    def __init__(
        self,
        answers: dict[str, Answer] | None = None,
        *,
        default: Answer = b"ERROR\r\n",
        delay: float = 0.0,
    ) -> None:
        item = b"key=user%3A1 exp=-1 la=1700000000 cas=1 fetch=no cls=1 size=60\n"
        base: dict[str, Answer] = {
            "VERSION": b"VERSION 1.6.21\r\n",
            "MN": b"MN\r\n",
            "STATS": FAKE_STATS,
            "LRU_CRAWLER METADUMP": item + b"END\r\n",
            "MG": b"EN\r\n",
            "ME": b"EN\r\n",
        }
        super().__init__({**base, **(answers or {})}, default, delay)

    def serve(self, conn: socket.socket) -> None:
        for line in conn.makefile("rb"):
            self.answer(conn, line.split())


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"hello")

    def log_message(self, *args: object) -> None:
        pass


def start_http() -> tuple[http.server.ThreadingHTTPServer, int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, int(server.server_address[1])


# -- Memcached with a full slab allocator (issue 10, case 3) ---------------------------
#
# The application side is pymemcache, as a Python application would write. A few small
# items first (they take one page of a small class, as an application's flags and
# counters do), then 40,000 items of 878 B: with -m 16 their class gets the 15 pages
# left, holds 13,275 of them and evicts 26,725; `bytes` reads 75% of the limit while
# `total_malloced` is at 100%.
FULL_SLAB_ITEMS = 40_000
FULL_SLAB_VALUE = b"x" * 878
FULL_SLAB_SMALL_ITEMS = 100


@dataclass
class FilledMemcached:
    server: MemcachedServer
    written: int
    refused: int  # SERVER_ERROR out of memory answers the application saw

    @property
    def address(self) -> str:
        return self.server.address


def fill_slab_allocator(server: MemcachedServer, items: int = FULL_SLAB_ITEMS) -> FilledMemcached:
    """Write the small items, then `items` of 878 B one by one, counting refused writes."""
    from pymemcache.exceptions import MemcacheServerError

    client = server.client()
    try:
        client.set_many(
            {f"flag:{i}": b"1" * 50 for i in range(FULL_SLAB_SMALL_ITEMS)}, noreply=False
        )
        refused = 0
        for i in range(items):
            try:
                client.set(f"item:{i:06d}", FULL_SLAB_VALUE, noreply=False)
            except MemcacheServerError as error:
                if b"out of memory" not in str(error).encode():
                    raise
                refused += 1
    finally:
        client.close()
    return FilledMemcached(server, FULL_SLAB_SMALL_ITEMS + items, refused)


def start_memcached_full(*extra: str) -> FilledMemcached:
    """`memcached -m 16` filled past its limit; with extra "-M", at its limit refusing writes."""
    return fill_slab_allocator(start_memcached("-m", "16", *extra))


def memcached_tool() -> str | None:
    """memcached's own memcached-tool script (Debian ships it outside PATH), if installed."""
    found = shutil.which("memcached-tool")
    packaged = Path("/usr/share/memcached/scripts/memcached-tool")
    return found or (str(packaged) if packaged.is_file() else None)


# -- incident scenarios (issue 10): servers configured as the on-call engineer meets them ---


class ConnectionHog:
    """Holds connections to a server until it turns new ones away at its connection limit.

    Opens connections in small batches until one of them is answered with `refusal`
    (Redis at maxclients, memcached at -c both write an error to a connection they
    cannot take, then close it), closes the refused ones and keeps the rest open: the
    server is then exactly full, as with an application whose pools hold every slot.
    """

    def __init__(self, port: int, refusal: bytes, batch: int = 8, most: int = 2000) -> None:
        self.held: list[socket.socket] = []
        self.refusal = refusal
        while len(self.held) < most:
            opened = [
                socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(batch)
            ]
            time.sleep(0.1)  # the server answers a refused connection at once
            refused = [conn for conn in opened if self._refused(conn)]
            for conn in refused:
                conn.close()
            self.held += [conn for conn in opened if conn not in refused]
            if refused:
                return
        self.close()
        raise RuntimeError(f"port {port} took {most} connections without refusing one")

    def _refused(self, conn: socket.socket) -> bool:
        conn.setblocking(False)
        try:
            return conn.recv(200).startswith(self.refusal)
        except BlockingIOError:
            return False
        finally:
            conn.setblocking(True)

    def close(self) -> None:
        for conn in self.held:
            conn.close()
        self.held = []


REDIS_MAXCLIENTS_REFUSAL = b"-ERR max number of clients reached"
MEMCACHED_MAXCONNS_REFUSAL = b"ERROR Too many open connections"


def redis_info(server: RedisServer, section: str) -> dict[str, str]:
    """One INFO section as text fields, read with redis-cli (never through cachediag)."""
    lines = server.cli("INFO", section).splitlines()
    return dict(line.split(":", 1) for line in lines if ":" in line and not line.startswith("#"))


def wait_for_link(replica: RedisServer, status: str, timeout: float = 15) -> None:
    """Wait until the replica's master_link_status is `status` ('up' or 'down')."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if redis_info(replica, "replication").get("master_link_status") == status:
            return
        time.sleep(0.05)
    raise RuntimeError(f"replica on {replica.port}: link not {status} within {timeout}s")


def write_until_evicting(server: RedisServer, min_evicted: int, value_bytes: int = 1024) -> int:
    """SET keys with a one-hour TTL past maxmemory until `min_evicted` keys were evicted.

    Returns how many keys were written (key:0 ... key:N-1): the last ones are resident.
    """
    client = server.client()
    written = 0
    value = b"v" * value_bytes
    while int(redis_info(server, "stats")["evicted_keys"]) < min_evicted:
        pipe = client.pipeline(transaction=False)
        for i in range(written, written + 5000):
            pipe.set(f"key:{i}", value, ex=3600)
        pipe.execute()
        written += 5000
        if written > 5_000_000:
            raise RuntimeError("the server never evicted: is maxmemory set?")
    return written


def write_refused(server: RedisServer, count: int, value_bytes: int = 1000) -> int:
    """`count` SETs without a TTL, errors kept (OOM ones included); returns how many failed."""
    pipe = server.client().pipeline(transaction=False)
    for i in range(count):
        pipe.set(f"item:{i}", b"x" * value_bytes)
    replies = pipe.execute(raise_on_error=False)
    return sum(1 for reply in replies if isinstance(reply, Exception))


# -- incident scenarios: an application's traffic, a server stalling on slow commands --------


class Traffic:
    """An application reading a Redis at a hit ratio, from its own thread, until stopped.

    What a cache's readers send: GETs of keys that are there (hits) and of keys that are
    not (misses), in proportion. `ratio` can change while it runs: a deploy that makes
    most lookups miss.
    """

    def __init__(self, server: RedisServer, ratio: float, pause_s: float = 0.001) -> None:
        self.client = server.client()
        self.ratio = ratio
        self.pause_s = pause_s
        self.lookups = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.client.set("app:present", "1")

    def _run(self) -> None:
        done_hits = 0
        while not self._stop.is_set():
            # Keep the share of hits sent so far at `ratio`, one GET at a time.
            if done_hits < self.ratio * (self.lookups + 1):
                self.client.get("app:present")
                done_hits += 1
            else:
                self.client.get("app:absent")
            self.lookups += 1
            time.sleep(self.pause_s)

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


def burst(server: RedisServer, hits: int, misses: int) -> None:
    """`hits` + `misses` GETs at once, pipelined: a morning's traffic in a moment."""
    client = server.client()
    client.set("app:present", "1")
    pipe = client.pipeline(transaction=False)
    for _ in range(hits):
        pipe.get("app:present")
    for _ in range(misses):
        pipe.get("app:absent")
    pipe.execute()


def start_stalling_redis(workdir: Path, *args: str) -> RedisServer:
    """A Redis whose DEBUG command is enabled (7.x needs it), for Staller."""
    return start_redis(workdir, "--enable-debug-command", "yes", *args)


class Staller:
    """Another client running DEBUG SLEEP in a loop: Redis's one thread is busy `seconds`
    at a time, as it would be with KEYS or HGETALL on a huge hash, and every other
    client's round trip waits behind it."""

    def __init__(self, server: RedisServer, seconds: float = 0.03) -> None:
        self.client = server.client()
        self.seconds = seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.client.execute_command("DEBUG", "SLEEP", str(self.seconds))

    def __enter__(self) -> Staller:
        self._thread.start()
        time.sleep(0.1)  # a few stalls logged before anyone measures
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


class ConnectionFlood:
    """Connections opened and closed in a loop from another thread: new connections per
    second for `watch`, and, once the server is at maxclients, rejected ones."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.attempts = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock,
            ):
                sock.sendall(b"*1\r\n$4\r\nPING\r\n")
                sock.recv(256)  # +PONG, or -ERR max number of clients reached
            self.attempts += 1
            time.sleep(0.01)

    def __enter__(self) -> ConnectionFlood:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


def fill_connections(port: int, count: int) -> list[socket.socket]:
    """`count` idle connections that hold server slots (up to maxclients) until closed."""
    held = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.sendall(b"*1\r\n$4\r\nPING\r\n")
        sock.recv(256)
        held.append(sock)
    return held


# -- fleets: a Redis Cluster on loopback ------------------------------------------------------


@dataclass
class RedisCluster:
    """Three primaries and three replicas, made by `redis-cli --cluster create` as an operator
    would, each node a redis-server with --cluster-enabled yes."""

    nodes: list[RedisServer]

    @property
    def seed(self) -> RedisServer:
        return self.nodes[0]

    def client(self):  # type: ignore[no-untyped-def]
        """redis-py's RedisCluster: the application side, routing keys to their slots."""
        from redis.cluster import RedisCluster as PyCluster

        return PyCluster(host="127.0.0.1", port=self.seed.port, socket_timeout=10)

    def role_of(self, server: RedisServer) -> str:
        return redis_info(server, "replication")["role"]

    def primaries(self) -> list[RedisServer]:
        return [node for node in self.nodes if self.role_of(node) == "master"]

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


def start_redis_cluster(workdir: Path, *args: str, primaries: int = 3) -> RedisCluster:
    """A cluster of `primaries` primaries with one replica each, all slots assigned, state ok.

    The cluster bus port is chosen free too (--cluster-port): port + 10000 can be taken or
    past 65535 for an ephemeral port.
    """
    nodes: list[RedisServer] = []
    try:
        for index in range(primaries * 2):
            nodes.append(
                start_redis(
                    workdir / f"node{index}",
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    str(workdir / f"node{index}" / "nodes.conf"),
                    "--cluster-port",
                    str(free_port()),
                    "--cluster-node-timeout",
                    "5000",
                    *args,
                )
            )
        addresses = [node.address for node in nodes]
        subprocess.run(
            [
                require("redis-cli"),
                "--cluster",
                "create",
                *addresses,
                "--cluster-replicas",
                "1",
                "--cluster-yes",
            ],
            capture_output=True,
            check=True,
            timeout=60,
        )
        cluster = RedisCluster(nodes)
        wait_for_cluster(cluster)
        return cluster
    except BaseException:
        for node in nodes:
            node.stop()
        raise


def wait_for_cluster(cluster: RedisCluster, timeout: float = 30) -> None:
    """Until every node says cluster_state:ok and every replica's link is up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = [redis_info_cluster(node).get("cluster_state") for node in cluster.nodes]
        links = [
            redis_info(node, "replication").get("master_link_status", "up")
            for node in cluster.nodes
        ]
        if all(state == "ok" for state in states) and all(link == "up" for link in links):
            return
        time.sleep(0.1)
    raise RuntimeError(f"the cluster did not settle within {timeout}s")


def redis_info_cluster(server: RedisServer) -> dict[str, str]:
    lines = server.cli("CLUSTER", "INFO").splitlines()
    return dict(line.strip().split(":", 1) for line in lines if ":" in line)


# -- fleets: a pool of Memcached servers behind client-side hashing ------------------------------


@dataclass
class MemcachedPool:
    servers: list[MemcachedServer]

    def client(self):  # type: ignore[no-untyped-def]
        """pymemcache's HashClient (rendezvous hashing): the application side."""
        from pymemcache.client.hash import HashClient

        return HashClient(
            [("127.0.0.1", server.port) for server in self.servers], timeout=10, connect_timeout=10
        )

    def flags(self) -> list[str]:
        return [arg for server in self.servers for arg in ("--memcached", server.address)]

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


def start_memcached_pool(count: int = 3) -> MemcachedPool:
    servers: list[MemcachedServer] = []
    try:
        for _ in range(count):
            servers.append(start_memcached())
    except BaseException:
        for server in servers:
            server.stop()
        raise
    return MemcachedPool(servers)


def fill_pool_skewed(pool: MemcachedPool, keys: int = 3000, heavy: int = 0) -> int:
    """`keys` keys spread by the HashClient, then as many again of the keys it hashes to
    server `heavy`, with bigger values and read back: that server holds about twice
    the mean in items and more in bytes and gets, as behind a hot namespace. Returns how
    many keys the heavy server got in all."""
    app = pool.client()
    app.set_many({f"item:{i}": b"v" * 100 for i in range(keys)})
    target = pool.servers[heavy].address  # the HashClient names servers host:port
    chosen = []
    candidate = 0
    while len(chosen) < keys:
        key = f"hot:{candidate}"
        candidate += 1
        node = app.hasher.get_node(key)
        if node == target:
            chosen.append(key)
    app.set_many({key: b"h" * 1000 for key in chosen})
    for key in chosen:
        app.get(key)
    held = sum(1 for i in range(keys) if app.hasher.get_node(f"item:{i}") == target)
    app.close()
    return held + len(chosen)


# -- fleets: a primary, a replica and three sentinels -------------------------------------------


@dataclass
class SentinelSet:
    primary: RedisServer
    replica: RedisServer
    sentinels: list[RedisServer]
    master: str = "mymaster"

    @property
    def url(self) -> str:
        hosts = ",".join(s.address for s in self.sentinels)
        return f"redis+sentinel://{hosts}/{self.master}"

    def stop(self) -> None:
        for server in (*self.sentinels, self.replica, self.primary):
            server.stop()


def start_sentinel_set(workdir: Path, sentinels: int = 3) -> SentinelSet:
    """1 primary, 1 replica, `sentinels` sentinels monitoring it with quorum 2, settled:
    every sentinel knows the replica and the other sentinels."""
    started: list[RedisServer] = []
    try:
        primary = start_redis(workdir / "primary")
        started.append(primary)
        replica = start_redis(workdir / "replica", "--replicaof", "127.0.0.1", str(primary.port))
        started.append(replica)
        wait_for_link(replica, "up")
        watchers = []
        for index in range(sentinels):
            directory = workdir / f"sentinel{index}"
            directory.mkdir(parents=True, exist_ok=True)
            port = free_port()
            config = directory / "sentinel.conf"
            config.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {directory}\n"
                f"sentinel monitor mymaster 127.0.0.1 {primary.port} 2\n"
                "sentinel down-after-milliseconds mymaster 5000\n"
                "sentinel failover-timeout mymaster 60000\n"
            )
            process = subprocess.Popen(
                [
                    require("redis-server"),
                    str(config),
                    "--sentinel",
                    "--daemonize",
                    "no",
                    "--logfile",
                    str(directory / "sentinel.log"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            _wait_for_port(port, process, "redis-sentinel")
            watcher = RedisServer(port, process, directory)
            started.append(watcher)
            watchers.append(watcher)
        sentinel_set = SentinelSet(primary, replica, watchers)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            ready = True
            for watcher in watchers:
                fields = watcher.cli("SENTINEL", "MASTER", "mymaster").split("\n")
                info = dict(zip(fields[0::2], fields[1::2], strict=False))
                if (
                    info.get("num-other-sentinels") != str(sentinels - 1)
                    or info.get("num-slaves") != "1"
                ):
                    ready = False
            if ready:
                return sentinel_set
            time.sleep(0.2)
        raise RuntimeError("the sentinels did not discover each other within 30 s")
    except BaseException:
        for server in started:
            server.stop()


# -- the guide's issues, as `cachediag demo` seeds them -------------------------------
#
# The scenarios live in the package (cachediag/demo/scenarios.py), written by its seeder
# (cachediag/demo/seed.py): the fixtures start their servers with the same settings and
# seed them with the same code, so the demo shows what these tests assert.


def redis_target(server: RedisServer) -> Target:
    return Target(
        kind="redis", name=f"redis://127.0.0.1:{server.port}/0", source="flag",
        host="127.0.0.1", port=server.port, password=server.password,
    )  # fmt: skip


def memcached_target(server: MemcachedServer) -> Target:
    return Target(
        kind="memcached", name=f"memcached://127.0.0.1:{server.port}", source="flag",
        host="127.0.0.1", port=server.port,
    )  # fmt: skip


@dataclass
class GuideScenario:
    redis: RedisServer
    memcached: MemcachedServer
    redis_seeded: Seeded
    memcached_seeded: Seeded

    def stop(self) -> None:
        self.redis.stop()
        self.memcached.stop()


def start_guide_scenario(workdir: Path) -> GuideScenario:
    """A Redis and a Memcached with the guide's issues, exactly as `cachediag demo` has them."""
    redis = start_redis(workdir, *scenarios.REDIS.server_args())
    memcached = start_memcached(*scenarios.MEMCACHED.server_args())
    try:
        return GuideScenario(
            redis,
            memcached,
            seed.seed_redis(redis_target(redis), scenarios.REDIS),
            seed.seed_memcached(memcached_target(memcached), scenarios.MEMCACHED),
        )
    except BaseException:
        redis.stop()
        memcached.stop()
        raise


# -- diagnose: an application's cache-aside loop, one request per step ----------------------


class AppLoop:
    """An application from its own thread: `step(client, i)` is its i-th request (a GET,
    and on a miss the SET a cache-aside reader does), until stopped; paced by `pause_s`."""

    def __init__(self, server: RedisServer, step: Any, pause_s: float = 0.0005) -> None:
        self.client = server.client()
        self.step = step
        self.pause_s = pause_s
        self.requests = 0
        self.error: Exception | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self.step(self.client, self.requests)
                self.requests += 1
                time.sleep(self.pause_s)
        except Exception as exc:  # noqa: BLE001 - re-raised by __exit__ in the test's thread
            self.error = exc

    def __enter__(self) -> AppLoop:
        self._thread.start()
        time.sleep(0.05)  # the loop is running before anyone reads the counters
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)
        if self.error is not None:
            raise self.error


def cache_aside(client: Any, key: str, value: bytes = b"x" * 64, ttl: int | None = None) -> bool:
    """GET `key`; on a miss SET it (with `ttl` seconds): True on a hit."""
    if client.get(key) is not None:
        return True
    client.set(key, value, ex=ttl)
    return False


def reset_redis(server: RedisServer) -> None:
    """A shared Redis back to empty, its counters zeroed and its limits off, between scenarios."""
    client = server.client()
    client.flushall()
    client.config_set("maxmemory", "0")
    client.config_set("maxmemory-policy", "noeviction")
    client.config_resetstat()  # after FLUSHALL: the scenario starts with no flush counted


class DelayProxy:
    """A TCP relay in front of a real server that holds each reply `delay_s` before passing
    it on: a slow network path (the server itself answers at once, and logs no stall)."""

    def __init__(self, port: int, delay_s: float) -> None:
        self.target = port
        self.delay_s = delay_s
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._stop = threading.Event()
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target), timeout=10)
            self._sockets += [client, upstream]
            threading.Thread(target=self._pipe, args=(client, upstream, 0.0), daemon=True).start()
            threading.Thread(
                target=self._pipe, args=(upstream, client, self.delay_s), daemon=True
            ).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, delay_s: float) -> None:
        with contextlib.suppress(OSError):
            while chunk := source.recv(65536):
                if delay_s:
                    time.sleep(delay_s)
                sink.sendall(chunk)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.close()

    def __enter__(self) -> DelayProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
