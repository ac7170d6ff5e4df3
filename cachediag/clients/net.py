"""Sockets with one deadline: resolve, connect, TLS, and reads that never outlive it."""

from __future__ import annotations

import errno
import queue
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from cachediag.errors import (
    ConnectFailed,
    ConnectionClosed,
    ConnectionRefused,
    NameNotResolved,
    ProbeError,
    ProbeTimeout,
    ServerRefused,
    TLSFailed,
)
from cachediag.targets.target import Target


@dataclass
class ConnectInfo:
    addresses: list[str] = field(default_factory=list)
    tcp_us: int | None = None
    tls_us: int | None = None

    def to_dict(self) -> dict[str, object]:
        return {"addresses": self.addresses, "tcp_us": self.tcp_us, "tls_us": self.tls_us}


def _elapsed_us(started: float) -> int:
    return int((time.perf_counter() - started) * 1_000_000)


def resolve(host: str, port: int, timeout: float) -> list[tuple[int, Any]]:
    """getaddrinfo with a timeout: the libc call has none, so it runs in a daemon thread.

    An address written as one (127.0.0.1, ::1) needs no lookup: it is converted here, in
    this thread (a check of 100 servers would otherwise start 200 threads to do nothing).
    """
    if _is_ip_literal(host):
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
        return [(family, sockaddr) for family, _, _, _, sockaddr in found]
    answer: queue.Queue[object] = queue.Queue(maxsize=1)

    def lookup() -> None:
        try:
            answer.put(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except OSError as exc:
            answer.put(exc)

    threading.Thread(target=lookup, daemon=True, name=f"resolve {host}").start()
    try:
        result = answer.get(timeout=timeout)
    except queue.Empty:
        raise NameNotResolved(f"DNS lookup of {host} timed out after {timeout:g}s") from None
    if isinstance(result, OSError):
        raise NameNotResolved(f"DNS lookup of {host} failed: {_reason(result)}")
    assert isinstance(result, list)
    return [(family, sockaddr) for family, _, _, _, sockaddr in result]


def _is_ip_literal(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__


def classify_os_error(exc: OSError, what: str, timeout: float) -> ProbeError:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return TLSFailed(
            f"TLS failed: certificate verify failed: {exc.verify_message} "
            "(give the CA with --tls-ca, or --tls-insecure)",
        )
    if isinstance(exc, ssl.SSLError):
        return TLSFailed(f"TLS failed: {exc.reason or exc}")
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return ProbeTimeout(f"{what} timed out after {timeout:g}s")
    if isinstance(exc, ConnectionRefusedError):
        return ConnectionRefused(f"{what} refused (nothing listening)")
    if isinstance(exc, FileNotFoundError):
        return ConnectionRefused(f"{what} failed: no such socket file")
    if isinstance(exc, (ConnectionResetError, BrokenPipeError)):
        return ConnectionClosed(f"{what}: the server closed the connection")
    if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        return ConnectFailed(f"{what} failed: {_reason(exc)}")
    return ServerRefused(f"{what} failed: {_reason(exc)}")


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds

    def remaining(self) -> float:
        left = self.at - time.monotonic()
        if left <= 0:
            raise TimeoutError("deadline passed")
        return left


def open_socket(target: Target, timeout: float) -> tuple[socket.socket, ConnectInfo]:
    """Connect (and TLS-handshake) to `target` within `timeout` seconds overall."""
    info = ConnectInfo()
    deadline = Deadline(timeout)
    where = f"connection to {target.address}"
    if target.unix_path:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        info.addresses = [target.unix_path]
        started = time.perf_counter()
        try:
            sock.settimeout(deadline.remaining())
            sock.connect(target.unix_path)
        except OSError as exc:
            sock.close()
            raise classify_os_error(exc, where, timeout) from exc
        info.tcp_us = _elapsed_us(started)
        return sock, info

    assert target.host is not None and target.port is not None
    candidates = resolve(target.host, target.port, timeout)
    info.addresses = sorted({str(sockaddr[0]) for _, sockaddr in candidates})
    last_error: ProbeError | None = None
    for family, sockaddr in candidates:
        sock = socket.socket(family, socket.SOCK_STREAM)
        started = time.perf_counter()
        try:
            sock.settimeout(deadline.remaining())
            sock.connect(sockaddr)
        except OSError as exc:
            sock.close()
            last_error = classify_os_error(exc, where, timeout)
            if last_error.kind == "timeout":
                break  # the deadline is spent; other addresses would not get a fair try
            continue
        info.tcp_us = _elapsed_us(started)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if target.tls:
            sock = _wrap_tls(sock, target, deadline, info, timeout)
        return sock, info
    assert last_error is not None
    raise last_error


def _wrap_tls(
    sock: socket.socket, target: Target, deadline: Deadline, info: ConnectInfo, timeout: float
) -> socket.socket:
    options = target.tls_options
    try:
        context = ssl.create_default_context(cafile=options.ca)
    except (OSError, ssl.SSLError) as exc:
        sock.close()
        raise TLSFailed(f"cannot load the CA bundle {options.ca}: {exc}") from exc
    if options.cert:
        try:
            context.load_cert_chain(options.cert, options.key)
        except (OSError, ssl.SSLError) as exc:
            sock.close()
            raise TLSFailed(f"cannot load the client certificate: {exc}") from exc
    if options.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    started = time.perf_counter()
    try:
        sock.settimeout(deadline.remaining())
        tls_sock = context.wrap_socket(sock, server_hostname=options.sni or target.host)
    except OSError as exc:
        sock.close()
        error = classify_os_error(exc, "TLS handshake", timeout)
        if error.kind == "timeout":
            plain = "memcached://" if target.kind == "memcached" else "redis://"
            error = TLSFailed(f"{error.message} (is TLS enabled on this port? try {plain})")
        if error.kind == "closed":
            error = TLSFailed(
                "TLS failed: the server closed the connection during the handshake "
                "(is TLS enabled on it?)",
            )
        raise error from exc
    info.tls_us = _elapsed_us(started)
    return tls_sock
