"""Host facts: CPU, memory, disk, load, OOM kills, packet drops, TCP retransmits, kernel knobs.

Usage::

    probe = HostProbe.start()          # cheap counter snapshot
    ...                                # talk to the caches meanwhile
    facts = probe.finish(local_redis, targets_latency)

`finish` waits until at least `MIN_INTERVAL_S` (0.2 s) has passed since `start`, so the
CPU percentage and the counter deltas cover a real interval; the slower one-shot reads
(kernel log, disk usage, /proc/sys) are done *before* that wait so they overlap it.

Everything returned is plain JSON (dict/list/str/int/float/bool/None). Nothing raises:
a value that can't be read (non-Linux, permission denied, missing file) is `None`, and
the `unavailable` dict of its section maps the key to the reason.

Facts layout (what `finish` returns)::

    {
      "platform": "linux",                  # sys.platform
      "interval_s": 0.21,                   # seconds between start() and the end snapshot
      "cpu": {"percent": 12.3,              # busy % of all CPUs over interval_s
              "cores": 8,                   # logical CPUs
              "unavailable": {}},
      "memory": {"total_bytes", "available_bytes", "available_percent",
                 "swap_total_bytes", "swap_used_bytes", "unavailable"},
      "disks": [                            # "/" first, then each local Redis dir;
        {"mountpoint": "/",                 # deduplicated by mount point
         "paths": ["/", "/var/lib/redis"],  # the paths that live on this mount
         "targets": ["redis://..."],        # local Redis targets whose dir is here
         "total_bytes", "used_bytes", "free_bytes",
         "used_percent": 41.0,              # like df: used / (used + free)
         "unavailable": {}},
      ],
      "load": {"load1", "load5", "load15", "cores",
               "load1_per_core", "load5_per_core", "load15_per_core", "unavailable"},
      "oom": {"oom_kill": 0,                # /proc/vmstat oom_kill (since boot)
              "log_source": "/dev/kmsg",    # or "dmesg", or None if unreadable
              "log_lines": [str, ...],      # kernel log lines naming redis/memcached and
                                            # "Out of memory"/"oom-kill"/"Killed process"
                                            # (raw, last MAX_OOM_LINES; None if unreadable)
              "log_records_scanned": 1234,
              "log_truncated": False,       # True if the scan stopped at a bound
              "unavailable": {}},
      "net": {"interfaces": {
                "eth0": {"loopback": False, "rx_drops", "tx_drops", "rx_errors",
                         "tx_errors",
                         "total": 0,        # drops + errors since boot
                         "delta": 0},       # growth of total during the run (None if
              },                            # the interface was not in the start snapshot)
              "unavailable": {}},
      "tcp": {"out_segs", "retrans_segs",   # /proc/net/snmp Tcp, since boot
              "retrans_percent_since_boot",
              "out_segs_run", "retrans_segs_run", "retrans_percent_run",
              "unavailable": {}},
      "kernel": {"thp_enabled": "madvise",  # bracketed value of THP "enabled"
                 "overcommit_memory": 1,    # /proc/sys/vm/overcommit_memory
                 "somaxconn": 4096,         # /proc/sys/net/core/somaxconn
                 "unavailable": {}},
      "local_redis": [{"target", "dir", "tcp_backlog"}],   # as passed to finish
      "jitter": [{"target", "samples", "p50_us", "p99_us",
                  "jitter_us",              # p99 - p50
                  "stdev_us", "min_us", "max_us", "unavailable"}],
    }
"""

from __future__ import annotations

import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable
from typing import Any, cast

import psutil

from cachediag.probes.facts import HostFacts

MIN_INTERVAL_S = 0.2
DMESG_TIMEOUT_S = 0.5
KMSG_BUDGET_S = 0.25
MAX_LOG_RECORDS = 20_000
MAX_OOM_LINES = 20
MAX_LINE_CHARS = 500

PROC = "/proc"
SYS = "/sys"
KMSG_PATH = "/dev/kmsg"

_OOM_WORDS = re.compile(r"out of memory|oom-kill|killed process", re.IGNORECASE)
_CACHE_WORDS = re.compile(r"redis|memcache", re.IGNORECASE)


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"


# --- small readers -----------------------------------------------------------------


def _read_text(path: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as fh:
        return fh.read()


def _read_int(path: str) -> int:
    return int(_read_text(path).strip().split()[0])


def parse_snmp_tcp(text: str) -> dict[str, int]:
    """The `Tcp:` table of /proc/net/snmp as {field: value}."""
    rows = [line.split()[1:] for line in text.splitlines() if line.startswith("Tcp:")]
    if len(rows) < 2:
        raise ValueError("no Tcp rows in /proc/net/snmp")
    header, values = rows[0], rows[1]
    return {name: int(value) for name, value in zip(header, values, strict=False)}


def parse_thp(text: str) -> str:
    """`always [madvise] never` -> `madvise`."""
    match = re.search(r"\[([^\]]+)\]", text)
    if not match:
        raise ValueError(f"no bracketed value in {text.strip()!r}")
    return match.group(1)


def is_oom_line(line: str) -> bool:
    """A kernel log line about an OOM kill that names redis or memcached."""
    return bool(_OOM_WORDS.search(line)) and bool(_CACHE_WORDS.search(line))


def kmsg_message(record: bytes) -> str:
    """Message text of one /dev/kmsg record (`prio,seq,usec,flags;text\\n KEY=v...`)."""
    text = record.decode("utf-8", errors="replace")
    first = text.split("\n", 1)[0]
    _, sep, message = first.partition(";")
    return message if sep else first


def jitter_stats(target: str, samples: Iterable[Any]) -> dict[str, Any]:
    """p50/p99 (nearest rank), p99-p50, population stdev of round-trip samples in µs."""
    values = sorted(int(v) for v in samples if isinstance(v, (int, float)) and v >= 0)
    out: dict[str, Any] = {
        "target": str(target),
        "samples": len(values),
        "p50_us": None,
        "p99_us": None,
        "jitter_us": None,
        "stdev_us": None,
        "min_us": None,
        "max_us": None,
        "unavailable": {},
    }
    if not values:
        out["unavailable"]["jitter_us"] = "no latency samples"
        return out

    def rank(q: float) -> int:
        return values[max(0, math.ceil(q * len(values)) - 1)]

    p50, p99 = rank(0.50), rank(0.99)
    out.update(
        p50_us=p50,
        p99_us=p99,
        jitter_us=p99 - p50,
        stdev_us=round(statistics.pstdev(values), 1),
        min_us=values[0],
        max_us=values[-1],
    )
    return out


# --- snapshot pieces -----------------------------------------------------------------


def _cpu_busy_total(times: Any) -> tuple[float, float]:
    """(busy, total) seconds from a psutil cpu_times tuple, psutil's own accounting."""
    fields = times._asdict()
    total = sum(fields.values())
    # guest time is already counted in user/nice on Linux
    total -= fields.get("guest", 0.0) + fields.get("guest_nice", 0.0)
    idle = fields.get("idle", 0.0) + fields.get("iowait", 0.0)
    return total - idle, total


def _net_counters() -> dict[str, dict[str, int]]:
    counters = psutil.net_io_counters(pernic=True)
    return {
        name: {
            "rx_drops": int(c.dropin),
            "tx_drops": int(c.dropout),
            "rx_errors": int(c.errin),
            "tx_errors": int(c.errout),
        }
        for name, c in counters.items()
    }


def _snmp_tcp() -> dict[str, int]:
    return parse_snmp_tcp(_read_text(f"{PROC}/net/snmp"))


class _Snapshot:
    """Counters taken at one instant; a field is None (with a reason) if unreadable."""

    def __init__(self) -> None:
        self.reasons: dict[str, str] = {}
        self.time = time.monotonic()
        self.cpu: tuple[float, float] | None = None
        self.net: dict[str, dict[str, int]] | None = None
        self.tcp: dict[str, int] | None = None
        try:
            self.cpu = _cpu_busy_total(psutil.cpu_times())
        except Exception as exc:  # any failure becomes a reason
            self.reasons["cpu"] = _reason(exc)
        try:
            self.net = _net_counters()
        except Exception as exc:
            self.reasons["net"] = _reason(exc)
        try:
            self.tcp = _snmp_tcp()
        except Exception as exc:
            self.reasons["tcp"] = _reason(exc)


# --- one-shot facts ------------------------------------------------------------------


def _memory() -> dict[str, Any]:
    out: dict[str, Any] = {
        "total_bytes": None,
        "available_bytes": None,
        "available_percent": None,
        "swap_total_bytes": None,
        "swap_used_bytes": None,
        "unavailable": {},
    }
    try:
        vm = psutil.virtual_memory()
        out["total_bytes"] = int(vm.total)
        out["available_bytes"] = int(vm.available)
        out["available_percent"] = round(100.0 * vm.available / vm.total, 2) if vm.total else None
        if not vm.total:
            out["unavailable"]["available_percent"] = "total memory reported as 0"
    except Exception as exc:
        for key in ("total_bytes", "available_bytes", "available_percent"):
            out["unavailable"][key] = _reason(exc)
    try:
        sw = psutil.swap_memory()
        out["swap_total_bytes"] = int(sw.total)
        out["swap_used_bytes"] = int(sw.used)
    except Exception as exc:
        for key in ("swap_total_bytes", "swap_used_bytes"):
            out["unavailable"][key] = _reason(exc)
    return out


def _mountpoint(path: str) -> str:
    current = os.path.realpath(path)
    while not os.path.ismount(current):
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    return current


def _disks(local_redis: list[dict[str, Any]]) -> list[dict[str, Any]]:
    wanted: list[tuple[str, str | None]] = [("/", None)]
    for entry in local_redis:
        directory = entry.get("dir")
        if directory:
            wanted.append((str(directory), str(entry.get("target", ""))))

    by_mount: dict[str, dict[str, Any]] = {}
    broken: list[dict[str, Any]] = []
    for path, target in wanted:
        try:
            if not os.path.isdir(path):
                raise FileNotFoundError(f"no such directory: {path}")
            mount = _mountpoint(path)
        except Exception as exc:
            broken.append(
                {
                    "mountpoint": None,
                    "paths": [path],
                    "targets": [target] if target else [],
                    "total_bytes": None,
                    "used_bytes": None,
                    "free_bytes": None,
                    "used_percent": None,
                    "unavailable": {"used_percent": _reason(exc)},
                }
            )
            continue
        entry_out = by_mount.get(mount)
        if entry_out is None:
            entry_out = {
                "mountpoint": mount,
                "paths": [],
                "targets": [],
                "total_bytes": None,
                "used_bytes": None,
                "free_bytes": None,
                "used_percent": None,
                "unavailable": {},
            }
            try:
                usage = psutil.disk_usage(path)
                entry_out.update(
                    total_bytes=int(usage.total),
                    used_bytes=int(usage.used),
                    free_bytes=int(usage.free),
                    used_percent=round(float(usage.percent), 2),
                )
            except Exception as exc:
                entry_out["unavailable"]["used_percent"] = _reason(exc)
            by_mount[mount] = entry_out
        if path not in entry_out["paths"]:
            entry_out["paths"].append(path)
        if target and target not in entry_out["targets"]:
            entry_out["targets"].append(target)
    return [*by_mount.values(), *broken]


def _load() -> dict[str, Any]:
    keys = ("load1", "load5", "load15", "load1_per_core", "load5_per_core", "load15_per_core")
    out: dict[str, Any] = {key: None for key in keys}
    out["cores"] = None
    out["unavailable"] = {}
    cores = psutil.cpu_count(logical=True) or os.cpu_count()
    if cores:
        out["cores"] = int(cores)
    else:
        out["unavailable"]["cores"] = "CPU count unknown"
    try:
        loads = psutil.getloadavg()
    except Exception as exc:
        for key in keys:
            out["unavailable"][key] = _reason(exc)
        return out
    for name, value in zip(("load1", "load5", "load15"), loads, strict=True):
        out[name] = round(float(value), 2)
        if cores:
            out[f"{name}_per_core"] = round(float(value) / cores, 3)
        else:
            out["unavailable"][f"{name}_per_core"] = "CPU count unknown"
    return out


def _scan_kmsg(deadline: float) -> tuple[list[str], int, bool]:
    """Matching lines from /dev/kmsg, read non-blocking; raises OSError if unreadable."""
    fd = os.open(KMSG_PATH, os.O_RDONLY | os.O_NONBLOCK)
    lines: list[str] = []
    scanned = 0
    truncated = False
    try:
        while True:
            if scanned >= MAX_LOG_RECORDS or time.monotonic() > deadline:
                truncated = True
                break
            try:
                record = os.read(fd, 16384)
            except BlockingIOError:
                break  # caught up with the ring buffer
            except BrokenPipeError:
                continue  # records were overwritten while reading; go on with the next
            if not record:
                break
            scanned += 1
            message = kmsg_message(record)
            if is_oom_line(message):
                lines.append(message[:MAX_LINE_CHARS])
    finally:
        os.close(fd)
    return lines[-MAX_OOM_LINES:], scanned, truncated


def _scan_dmesg() -> tuple[list[str], int, bool]:
    """Matching lines from `dmesg` (0.5 s timeout); raises on any failure."""
    exe = shutil.which("dmesg")
    if exe is None:
        raise FileNotFoundError("dmesg not found on PATH")
    proc = subprocess.run(  # fixed argv, no shell
        [exe],
        capture_output=True,
        timeout=DMESG_TIMEOUT_S,
        env={**os.environ, "LC_ALL": "C"},
        check=False,
    )
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", errors="replace").strip()
        raise PermissionError(f"dmesg exited {proc.returncode}: {err[:200]}")
    all_lines = proc.stdout.decode("utf-8", errors="replace").splitlines()
    truncated = len(all_lines) > MAX_LOG_RECORDS
    recent = all_lines[-MAX_LOG_RECORDS:]
    lines = [line[:MAX_LINE_CHARS] for line in recent if is_oom_line(line)]
    return lines[-MAX_OOM_LINES:], len(recent), truncated


def _oom() -> dict[str, Any]:
    out: dict[str, Any] = {
        "oom_kill": None,
        "log_source": None,
        "log_lines": None,
        "log_records_scanned": 0,
        "log_truncated": False,
        "unavailable": {},
    }
    try:
        for line in _read_text(f"{PROC}/vmstat").splitlines():
            name, _, value = line.partition(" ")
            if name == "oom_kill":
                out["oom_kill"] = int(value)
                break
        else:
            out["unavailable"]["oom_kill"] = "no oom_kill in /proc/vmstat (kernel < 4.13?)"
    except Exception as exc:
        out["unavailable"]["oom_kill"] = _reason(exc)

    reasons: list[str] = []
    if sys.platform.startswith("linux"):
        try:
            lines, scanned, truncated = _scan_kmsg(time.monotonic() + KMSG_BUDGET_S)
            out.update(
                log_source=KMSG_PATH,
                log_lines=lines,
                log_records_scanned=scanned,
                log_truncated=truncated,
            )
            return out
        except Exception as exc:
            reasons.append(f"{KMSG_PATH}: {_reason(exc)}")
    try:
        lines, scanned, truncated = _scan_dmesg()
        out.update(
            log_source="dmesg",
            log_lines=lines,
            log_records_scanned=scanned,
            log_truncated=truncated,
        )
    except subprocess.TimeoutExpired:
        reasons.append(f"dmesg: no answer within {DMESG_TIMEOUT_S} s")
    except Exception as exc:
        reasons.append(f"dmesg: {_reason(exc)}")
    if out["log_source"] is None:
        out["unavailable"]["log_lines"] = "; ".join(reasons)
    return out


def _kernel() -> dict[str, Any]:
    out: dict[str, Any] = {
        "thp_enabled": None,
        "overcommit_memory": None,
        "somaxconn": None,
        "unavailable": {},
    }
    try:
        out["thp_enabled"] = parse_thp(_read_text(f"{SYS}/kernel/mm/transparent_hugepage/enabled"))
    except Exception as exc:
        out["unavailable"]["thp_enabled"] = _reason(exc)
    try:
        out["overcommit_memory"] = _read_int(f"{PROC}/sys/vm/overcommit_memory")
    except Exception as exc:
        out["unavailable"]["overcommit_memory"] = _reason(exc)
    try:
        out["somaxconn"] = _read_int(f"{PROC}/sys/net/core/somaxconn")
    except Exception as exc:
        out["unavailable"]["somaxconn"] = _reason(exc)
    return out


def _local_redis(local_redis: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for entry in local_redis:
        backlog = entry.get("tcp_backlog")
        directory = entry.get("dir")
        out.append(
            {
                "target": str(entry.get("target", "")),
                "dir": str(directory) if directory else None,
                "tcp_backlog": int(backlog) if isinstance(backlog, (int, float)) else None,
            }
        )
    return out


def _is_loopback(name: str, stats: dict[str, Any]) -> bool:
    st = stats.get(name)
    flags = getattr(st, "flags", "") or ""
    return name == "lo" or "loopback" in str(flags).split(",")


# --- the probe -------------------------------------------------------------------------


class HostProbe:
    """Snapshot at `start`, facts at `finish`; see the module docstring for the layout."""

    def __init__(self, snapshot: _Snapshot) -> None:
        self._start = snapshot

    @classmethod
    def start(cls) -> HostProbe:
        return cls(_Snapshot())

    def finish(
        self, local_redis: list[dict[str, Any]], targets_latency: list[dict[str, Any]]
    ) -> HostFacts:
        local = _local_redis(local_redis)
        facts: dict[str, Any] = {"platform": sys.platform}
        # One-shot reads first: they overlap the minimum interval instead of adding to it.
        facts["memory"] = _memory()
        facts["disks"] = _disks(local)
        facts["load"] = _load()
        facts["oom"] = _oom()
        facts["kernel"] = _kernel()
        facts["local_redis"] = local
        facts["jitter"] = [
            {
                **jitter_stats(str(t.get("target", "")), t.get("samples_us") or []),
                "server_stalls": t.get("server_stalls"),
            }
            for t in targets_latency
        ]

        remaining = MIN_INTERVAL_S - (time.monotonic() - self._start.time)
        if remaining > 0:
            time.sleep(remaining)
        end = _Snapshot()
        interval = end.time - self._start.time
        facts["interval_s"] = round(interval, 3)
        facts["cpu"] = self._cpu(end)
        facts["net"] = self._net(end)
        facts["tcp"] = self._tcp(end)
        # Built section by section; the tests hold the result to facts-v1.json.
        return cast("HostFacts", facts)

    def _cpu(self, end: _Snapshot) -> dict[str, Any]:
        cores = psutil.cpu_count(logical=True) or os.cpu_count()
        out: dict[str, Any] = {"percent": None, "cores": cores, "unavailable": {}}
        start = self._start
        if start.cpu is None or end.cpu is None:
            out["unavailable"]["percent"] = start.reasons.get("cpu") or end.reasons.get(
                "cpu", "cpu times unreadable"
            )
            return out
        busy = end.cpu[0] - start.cpu[0]
        total = end.cpu[1] - start.cpu[1]
        if total <= 0:
            out["unavailable"]["percent"] = "cpu time counters did not advance"
            return out
        out["percent"] = round(min(100.0, max(0.0, 100.0 * busy / total)), 1)
        return out

    def _net(self, end: _Snapshot) -> dict[str, Any]:
        out: dict[str, Any] = {"interfaces": {}, "unavailable": {}}
        if end.net is None:
            out["interfaces"] = None
            out["unavailable"]["interfaces"] = end.reasons.get("net", "unreadable")
            return out
        try:
            stats: dict[str, Any] = dict(psutil.net_if_stats())
        except Exception:  # flags are a nicety
            stats = {}
        before = self._start.net or {}
        for name, now in sorted(end.net.items()):
            total = sum(now.values())
            prev = before.get(name)
            out["interfaces"][name] = {
                "loopback": _is_loopback(name, stats),
                **now,
                "total": total,
                "delta": (total - sum(prev.values())) if prev is not None else None,
            }
        if self._start.net is None:
            out["unavailable"]["delta"] = self._start.reasons.get("net", "no start snapshot")
        return out

    def _tcp(self, end: _Snapshot) -> dict[str, Any]:
        out: dict[str, Any] = {
            "out_segs": None,
            "retrans_segs": None,
            "retrans_percent_since_boot": None,
            "out_segs_run": None,
            "retrans_segs_run": None,
            "retrans_percent_run": None,
            "unavailable": {},
        }
        if end.tcp is None or "OutSegs" not in end.tcp or "RetransSegs" not in end.tcp:
            why = end.reasons.get("tcp", "no OutSegs/RetransSegs in /proc/net/snmp")
            for key in out:
                if key != "unavailable":
                    out["unavailable"][key] = why
            return out
        sent, retrans = end.tcp["OutSegs"], end.tcp["RetransSegs"]
        out["out_segs"], out["retrans_segs"] = sent, retrans
        if sent > 0:
            out["retrans_percent_since_boot"] = round(100.0 * retrans / sent, 3)
        else:
            out["unavailable"]["retrans_percent_since_boot"] = "no TCP segments sent"
        start = self._start.tcp
        if start is None or "OutSegs" not in start or "RetransSegs" not in start:
            why = self._start.reasons.get("tcp", "no start snapshot")
            for key in ("out_segs_run", "retrans_segs_run", "retrans_percent_run"):
                out["unavailable"][key] = why
            return out
        sent_run = sent - start["OutSegs"]
        retrans_run = retrans - start["RetransSegs"]
        out["out_segs_run"], out["retrans_segs_run"] = sent_run, retrans_run
        if sent_run > 0:
            out["retrans_percent_run"] = round(100.0 * retrans_run / sent_run, 3)
        else:
            out["unavailable"]["retrans_percent_run"] = "no TCP segments sent during the run"
        return out
