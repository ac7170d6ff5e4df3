"""This host, as the bundle's files: a system summary, a process snapshot like
`top -b -n 1`, memory, disks, network counters and TCP statistics, the sysctls that
matter to Redis, and kernel OOM lines where readable (all through psutil and /proc)."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

from cachediag.bundle.files import BundleFile, timed
from cachediag.safety.textsafe import safe_text

PROCESSES_SHOWN = 200
SYSCTLS = (
    "/proc/sys/vm/overcommit_memory",
    "/proc/sys/vm/swappiness",
    "/proc/sys/net/core/somaxconn",
    "/proc/sys/net/ipv4/tcp_max_syn_backlog",
    "/sys/kernel/mm/transparent_hugepage/enabled",
    "/sys/kernel/mm/transparent_hugepage/defrag",
)


def _json(data: Any) -> str:
    return json.dumps(data, indent=2, default=str) + "\n"


def system() -> str:
    import psutil

    boot = psutil.boot_time()
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return _json(
        {
            "os": platform.platform(),
            "kernel": platform.release(),
            "machine": platform.machine(),
            "python": platform.python_version(),
            "cpus": psutil.cpu_count(),
            "boot_time": boot,
            "uptime_s": round(time.time() - boot),
            "load": list(load) if load else None,
        }
    )


def processes(primed_at: float) -> str:
    """`top -b -n 1` in psutil: CPU over the time since `prime_cpu`, memory, command line."""
    import psutil

    time.sleep(max(0.0, 0.5 - (time.monotonic() - primed_at)))
    rows = []
    for proc in psutil.process_iter(["pid", "username", "memory_info", "memory_percent", "name"]):
        try:
            cpu = proc.cpu_percent(None)
            cmdline = " ".join(proc.cmdline()) or proc.info["name"] or ""
        except (psutil.Error, OSError):
            continue
        rss = proc.info["memory_info"].rss if proc.info["memory_info"] else 0
        rows.append((cpu, proc.info["pid"], proc.info["username"] or "?", proc.info, rss, cmdline))
    rows.sort(key=lambda r: (-r[0], -r[4]))
    lines = [f"{'PID':>7} {'USER':<12} {'%CPU':>6} {'%MEM':>6} {'RSS':>12}  COMMAND\n"]
    for cpu, pid, user, info, rss, cmdline in rows[:PROCESSES_SHOWN]:
        mem = info.get("memory_percent") or 0.0
        lines.append(
            f"{pid:>7} {safe_text(user)[:12]:<12} {cpu:>6.1f} {mem:>6.1f} {rss:>12}  "
            f"{safe_text(cmdline)[:300]}\n"
        )
    if len(rows) > PROCESSES_SHOWN:
        lines.append(f"… {len(rows) - PROCESSES_SHOWN} more processes\n")
    return "".join(lines)


def prime_cpu() -> float:
    import psutil

    for proc in psutil.process_iter():
        try:
            proc.cpu_percent(None)
        except (psutil.Error, OSError):
            continue
    return time.monotonic()


def memory() -> str:
    import psutil

    return _json(
        {"virtual": psutil.virtual_memory()._asdict(), "swap": psutil.swap_memory()._asdict()}
    )


def disks() -> str:
    import psutil

    out = []
    for part in psutil.disk_partitions(all=False):
        try:
            usage = psutil.disk_usage(part.mountpoint)._asdict()
        except OSError as exc:
            usage = {"error": str(exc)}
        out.append({"device": part.device, "mountpoint": part.mountpoint, **usage})
    return _json(out)


def network() -> str:
    import psutil

    snmp = Path("/proc/net/snmp")
    return _json(
        {
            "interfaces": {
                name: counters._asdict()
                for name, counters in psutil.net_io_counters(pernic=True).items()
            },
            "snmp": snmp.read_text() if snmp.exists() else None,
        }
    )


def sysctls() -> str:
    lines = []
    for path in SYSCTLS:
        try:
            value = Path(path).read_text().strip()
        except OSError as exc:
            value = f"(unreadable: {exc.strerror})"
        lines.append(f"{path} = {value}\n")
    return "".join(lines)


def oom(host_facts: dict[str, Any] | None) -> str:
    """The kernel's OOM lines the host probe found (dmesg or /dev/kmsg), where readable."""
    facts = (host_facts or {}).get("oom") or {}
    if facts.get("unavailable"):
        return f"(unreadable: {facts['unavailable']})\n"
    header = f"# source: {facts.get('log_source')}, oom_kill: {facts.get('oom_kill')}\n"
    return header + "".join(f"{safe_text(line)}\n" for line in facts.get("log_lines") or [])


def collect(host_facts: dict[str, Any] | None, primed_at: float, limit: float) -> list[BundleFile]:
    """Every host file, each under `limit` seconds (a step that blocks is given up)."""
    steps: list[tuple[str, str, Any]] = [
        ("host/system.json", "collector host.system (psutil)", system),
        (
            "host/processes.txt",
            "collector host.processes (psutil, like top -b -n 1)",
            lambda: processes(primed_at),
        ),
        ("host/memory.json", "collector host.memory (psutil)", memory),
        ("host/disks.json", "collector host.disks (psutil)", disks),
        ("host/network.json", "collector host.network (psutil, /proc/net/snmp)", network),
        ("host/sysctl.txt", "collector host.sysctl (/proc/sys, /sys)", sysctls),
        ("host/oom.txt", "collector host.oom (dmesg, /dev/kmsg)", lambda: oom(host_facts)),
    ]
    return [timed(path, producer, make, limit) for path, producer, make in steps]
