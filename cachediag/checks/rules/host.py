"""Rules for the host.* check ids, over the facts of `cachediag.probes.host.HostProbe`.

Pure functions of (facts, thresholds); they never read the machine themselves (and so
never import psutil), which lets them run over a recorded bundle. Thresholds come from
the checklist TOML; a key missing there falls back to the default in `DEFAULTS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cachediag.checks.base import (
    Facts,
    Outcome,
    Thresholds,
    failed,
    graded,
    passed,
    rule,
    skipped,
    warned,
)
from cachediag.render.units import human_bytes_iec
from cachediag.safety.textsafe import safe_text

DEFAULTS: dict[str, dict[str, Any]] = {
    "host.cpu": {"warn_above": 80, "fail_above": 95},
    "host.memory": {"warn_available_below": 10, "fail_available_below": 5, "warn_on_swap": True},
    "host.disk": {"warn_above": 80, "fail_above": 95},
    "host.load": {"warn_above": 1.0, "fail_above": 2.0},
    "host.oom": {},
    "host.kernel": {},
    "host.packet_drops": {},
    "host.congestion": {"warn_above": 1.0, "fail_above": 5.0, "warn_jitter_us": 10000},
}

_ORDER = {"pass": 0, "warn": 1, "fail": 2}
MAX_QUOTE_CHARS = 200


def _limits(check_id: str, thresholds: Thresholds) -> dict[str, Any]:
    return {**DEFAULTS[check_id], **dict(thresholds)}


def _section(facts: Facts, name: str) -> Mapping[str, Any] | None:
    value = facts.get(name)
    return value if isinstance(value, Mapping) else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _why(section: Mapping[str, Any] | None, key: str, default: str) -> str:
    if section is None:
        return default
    reasons = section.get("unavailable")
    if isinstance(reasons, Mapping) and reasons.get(key):
        return safe_text(str(reasons[key]))
    return default


def _worst(*statuses: str) -> str:
    return max(statuses, key=lambda s: _ORDER.get(s, 0))


def _outcome(status: str, summary: str, observed: dict[str, Any]) -> Outcome:
    return Outcome(status, summary, observed)


@rule("host.cpu")
def cpu(facts: Facts, thresholds: Thresholds) -> Outcome:
    limits = _limits("host.cpu", thresholds)
    section = _section(facts, "cpu")
    percent = _number(section.get("percent")) if section else None
    interval = _number(facts.get("interval_s"))
    if percent is None:
        return skipped(f"cpu usage unknown: {_why(section, 'percent', 'no cpu facts')}")
    status = graded(percent, limits)
    span = f" over {interval:.2f} s" if interval is not None else ""
    summary = f"cpu {percent:.1f}%{span}"
    if status != "pass":
        summary += f", above {limits.get('fail_above' if status == 'fail' else 'warn_above')}%"
    observed = {
        "cpu_percent": percent,
        "interval_s": interval,
        "cores": section.get("cores") if section else None,
    }
    return _outcome(status, summary, observed)


@rule("host.memory")
def memory(facts: Facts, thresholds: Thresholds) -> Outcome:
    limits = _limits("host.memory", thresholds)
    section = _section(facts, "memory")
    avail = _number(section.get("available_percent")) if section else None
    if section is None or avail is None:
        return skipped(
            f"memory availability unknown: {_why(section, 'available_percent', 'no memory facts')}"
        )
    swap_used = _number(section.get("swap_used_bytes"))
    observed = {
        "available_percent": avail,
        "available_bytes": section.get("available_bytes"),
        "total_bytes": section.get("total_bytes"),
        "swap_total_bytes": section.get("swap_total_bytes"),
        "swap_used_bytes": section.get("swap_used_bytes"),
    }
    status = graded(
        avail,
        {
            "warn_below": limits.get("warn_available_below"),
            "fail_below": limits.get("fail_available_below"),
        },
        above=False,
    )
    parts = [
        f"{avail:.1f}% of memory available "
        f"({human_bytes_iec(section.get('available_bytes'))} of "
        f"{human_bytes_iec(section.get('total_bytes'))})"
    ]
    if status == "fail":
        parts.append(f"below {limits.get('fail_available_below')}%")
    elif status == "warn":
        parts.append(f"below {limits.get('warn_available_below')}%")
    if swap_used is not None and swap_used > 0:
        parts.append(f"swap in use: {human_bytes_iec(swap_used)}")
        if limits.get("warn_on_swap", True):
            status = _worst(status, "warn")
    elif swap_used is None:
        parts.append("swap usage unknown")
    return _outcome(status, "; ".join(parts), observed)


def _disk_label(entry: Mapping[str, Any]) -> str:
    paths = [str(p) for p in entry.get("paths") or []]
    mount = entry.get("mountpoint")
    label = ", ".join(safe_text(p) for p in paths) or safe_text(str(mount))
    if mount and str(mount) not in paths:
        label += f" (on {safe_text(str(mount))})"
    return label


@rule("host.disk")
def disk(facts: Facts, thresholds: Thresholds) -> Outcome:
    limits = _limits("host.disk", thresholds)
    entries = facts.get("disks")
    if not isinstance(entries, list) or not entries:
        return skipped("disk usage unknown: no disk facts")
    readable: list[tuple[float, Mapping[str, Any]]] = []
    unreadable: list[dict[str, Any]] = []
    per_path: list[dict[str, Any]] = []
    for entry in entries:
        if not isinstance(entry, Mapping):
            continue
        pct = _number(entry.get("used_percent"))
        row = {
            "mountpoint": entry.get("mountpoint"),
            "paths": list(entry.get("paths") or []),
            "targets": list(entry.get("targets") or []),
            "used_percent": pct,
            "free_bytes": entry.get("free_bytes"),
        }
        per_path.append(row)
        if pct is None:
            unreadable.append(
                {"paths": row["paths"], "reason": _why(entry, "used_percent", "unreadable")}
            )
        else:
            readable.append((pct, entry))
    if not readable:
        why = "; ".join(f"{', '.join(u['paths'])}: {u['reason']}" for u in unreadable)
        return skipped(f"disk usage unknown: {safe_text(why) or 'no readable paths'}")
    worst_pct, worst = max(readable, key=lambda item: item[0])
    status = graded(worst_pct, limits)
    summary = (
        f"disk {_disk_label(worst)}: {worst_pct:.1f}% used "
        f"({human_bytes_iec(_number(worst.get('free_bytes')))} free)"
    )
    if status != "pass":
        summary += f", above {limits.get('fail_above' if status == 'fail' else 'warn_above')}%"
    if unreadable:
        bad = ", ".join(str(p) for u in unreadable for p in u["paths"])
        summary += f"; unreadable: {safe_text(bad)}"
    return _outcome(
        status,
        summary,
        {
            "worst_used_percent": worst_pct,
            "worst_path": (list(worst.get("paths") or []) or [worst.get("mountpoint")])[-1],
            "worst_mountpoint": worst.get("mountpoint"),
            "disks": per_path,
            "unreadable": unreadable,
        },
    )


@rule("host.load")
def load(facts: Facts, thresholds: Thresholds) -> Outcome:
    limits = _limits("host.load", thresholds)
    section = _section(facts, "load")
    per_core = _number(section.get("load1_per_core")) if section else None
    if section is None or per_core is None:
        return skipped(f"load unknown: {_why(section, 'load1_per_core', 'no load facts')}")
    status = graded(per_core, limits)
    summary = (
        f"load {section.get('load1')} / {section.get('load5')} / {section.get('load15')} "
        f"on {section.get('cores')} cores: {per_core:.2f} per core (1 min)"
    )
    if status != "pass":
        summary += f", above {limits.get('fail_above' if status == 'fail' else 'warn_above')}"
    return _outcome(
        status,
        summary,
        {
            "load1_per_core": per_core,
            "load1": section.get("load1"),
            "load5": section.get("load5"),
            "load15": section.get("load15"),
            "cores": section.get("cores"),
        },
    )


@rule("host.oom")
def oom(facts: Facts, thresholds: Thresholds) -> Outcome:
    section = _section(facts, "oom")
    if section is None:
        return skipped("OOM kills unknown: no oom facts")
    kill_count = _number(section.get("oom_kill"))
    kills = int(kill_count) if kill_count is not None else None
    raw_lines = section.get("log_lines")
    lines = (
        [safe_text(str(x))[:MAX_QUOTE_CHARS] for x in raw_lines]
        if isinstance(raw_lines, list)
        else None
    )
    observed: dict[str, Any] = {
        "oom_kill": kills,
        "log_source": section.get("log_source"),
        "log_matches": len(lines) if lines is not None else None,
        "log_lines": lines,
    }
    log_note = (
        f"kernel log unreadable ({_why(section, 'log_lines', 'unknown reason')})"
        if lines is None
        else ""
    )
    if lines:
        return failed(
            f"kernel log shows a cache process OOM-killed ({len(lines)} line(s)); "
            f"latest: {lines[-1]}",
            **observed,
        )
    if kills is None:
        why = _why(section, "oom_kill", "counter unreadable")
        summary = f"OOM kill count unknown: {why}"
        if log_note:
            summary += f"; {log_note}"
        return skipped(summary, **observed)
    if kills > 0:
        summary = f"{kills} OOM kill(s) since boot"
        summary += "; none naming redis/memcached in the kernel log" if lines == [] else ""
        summary += f"; {log_note}" if log_note else ""
        return warned(summary, **observed)
    summary = "no OOM kills since boot"
    summary += f"; {log_note}" if log_note else ""
    return passed(summary, **observed)


@rule("host.kernel")
def kernel(facts: Facts, thresholds: Thresholds) -> Outcome:
    local = facts.get("local_redis")
    if not isinstance(local, list) or not local:
        return skipped("no local Redis")
    section = _section(facts, "kernel")
    if section is None:
        return skipped("kernel settings unknown: no kernel facts")
    thp = section.get("thp_enabled")
    overcommit = section.get("overcommit_memory")
    somaxconn = section.get("somaxconn")
    observed: dict[str, Any] = {
        "thp_enabled": thp,
        "overcommit_memory": overcommit,
        "somaxconn": somaxconn,
        "tcp_backlogs": {
            str(r.get("target")): r.get("tcp_backlog") for r in local if isinstance(r, Mapping)
        },
    }
    if thp is None and overcommit is None and somaxconn is None:
        return skipped(
            "kernel settings unreadable: "
            + "; ".join(
                f"{k}: {_why(section, k, 'unknown')}"
                for k in ("thp_enabled", "overcommit_memory", "somaxconn")
            ),
            **observed,
        )

    findings: list[str] = []
    notes: list[str] = []
    if thp is None:
        notes.append(f"THP unknown ({_why(section, 'thp_enabled', 'unreadable')})")
    elif str(thp) == "always":
        findings.append(
            "transparent hugepages are 'always' (latency and memory spikes on fork): "
            "echo never > /sys/kernel/mm/transparent_hugepage/enabled"
        )
    else:
        notes.append(f"THP {safe_text(str(thp))}")

    if overcommit is None:
        notes.append(
            f"overcommit_memory unknown ({_why(section, 'overcommit_memory', 'unreadable')})"
        )
    elif _number(overcommit) != 1:
        findings.append(
            f"vm.overcommit_memory is {safe_text(str(overcommit))} "
            "(BGSAVE/fork may fail under memory pressure): sysctl vm.overcommit_memory=1"
        )
    else:
        notes.append("overcommit_memory 1")

    backlogs = [
        (str(r.get("target")), int(r["tcp_backlog"]))
        for r in local
        if isinstance(r, Mapping) and _number(r.get("tcp_backlog")) is not None
    ]
    somax = _number(somaxconn)
    if somax is None:
        notes.append(f"somaxconn unknown ({_why(section, 'somaxconn', 'unreadable')})")
    else:
        short = [(t, b) for t, b in backlogs if b > somax]
        if short:
            need = max(b for _, b in short)
            who = ", ".join(f"{safe_text(t)} tcp-backlog {b}" for t, b in short)
            findings.append(
                f"net.core.somaxconn {int(somax)} < {who} (backlog silently capped): "
                f"sysctl net.core.somaxconn={need}"
            )
        elif backlogs:
            notes.append(f"somaxconn {int(somax)} >= tcp-backlog {max(b for _, b in backlogs)}")
        else:
            notes.append(f"somaxconn {int(somax)} (tcp-backlog unknown)")

    observed["findings"] = findings
    if findings:
        return warned("; ".join(findings), **observed)
    return passed(", ".join(notes), **observed)


@rule("host.packet_drops")
def packet_drops(facts: Facts, thresholds: Thresholds) -> Outcome:
    section = _section(facts, "net")
    interfaces = section.get("interfaces") if section else None
    if section is None or not isinstance(interfaces, Mapping):
        return skipped(
            f"interface counters unknown: {_why(section, 'interfaces', 'no network facts')}"
        )
    if not interfaces:
        return skipped("no network interfaces reported")
    totals: dict[str, Any] = {}
    deltas: dict[str, Any] = {}
    grew: list[str] = []
    for name, counters in sorted(interfaces.items()):
        if not isinstance(counters, Mapping):
            continue
        label = safe_text(str(name)) + (" (loopback)" if counters.get("loopback") else "")
        total = _number(counters.get("total"))
        delta = _number(counters.get("delta"))
        totals[str(name)] = int(total) if total is not None else None
        deltas[str(name)] = int(delta) if delta is not None else None
        if delta is not None and delta > 0:
            grew.append(f"{label} +{int(delta)}")
    observed = {
        "totals": totals,
        "deltas": deltas,
        "loopback": [
            str(n) for n, c in interfaces.items() if isinstance(c, Mapping) and c.get("loopback")
        ],
        "interval_s": facts.get("interval_s"),
    }
    if grew:
        return warned("drops/errors grew during the run: " + ", ".join(grew), grew=grew, **observed)
    nonzero = {n: t for n, t in totals.items() if t}
    reading = (
        ", ".join(f"{safe_text(n)} {t}" for n, t in nonzero.items())
        if nonzero
        else "0 on all interfaces"
    )
    no_delta = all(d is None for d in deltas.values())
    tail = " (no delta: start snapshot missing)" if no_delta else "; none during the run"
    return passed(f"drops+errors since boot: {reading}{tail}", grew=[], **observed)


@rule("host.congestion")
def congestion(facts: Facts, thresholds: Thresholds) -> Outcome:
    limits = _limits("host.congestion", thresholds)
    tcp = _section(facts, "tcp")
    ratio = _number(tcp.get("retrans_percent_since_boot")) if tcp else None
    run_ratio = _number(tcp.get("retrans_percent_run")) if tcp else None
    jitter_rows = facts.get("jitter")
    jitter_rows = (
        [r for r in jitter_rows if isinstance(r, Mapping)] if isinstance(jitter_rows, list) else []
    )
    jitter_limit = _number(limits.get("warn_jitter_us"))

    jitter_obs: dict[str, Any] = {}
    jittery: list[str] = []
    stalled: list[str] = []
    for row in jitter_rows:
        name = str(row.get("target"))
        jit = _number(row.get("jitter_us"))
        jitter_obs[name] = {
            "p50_us": row.get("p50_us"),
            "p99_us": row.get("p99_us"),
            "jitter_us": row.get("jitter_us"),
            "stdev_us": row.get("stdev_us"),
            "samples": row.get("samples"),
        }
        if jit is not None and jitter_limit is not None and jit > jitter_limit:
            if row.get("server_stalls"):
                # Redis ran slow commands while its PINGs were timed: the server, not the path.
                stalled.append(f"{safe_text(name)} p99-p50 {int(jit)} µs")
                continue
            jittery.append(f"{safe_text(name)} p99-p50 {int(jit)} µs")
    observed: dict[str, Any] = {
        "retrans_percent_since_boot": ratio,
        "retrans_percent_run": run_ratio,
        "retrans_segs": tcp.get("retrans_segs") if tcp else None,
        "out_segs": tcp.get("out_segs") if tcp else None,
        "jitter": jitter_obs,
    }
    has_jitter = any(_number(v["jitter_us"]) is not None for v in jitter_obs.values())
    if ratio is None and not has_jitter:
        why = _why(tcp, "retrans_percent_since_boot", "no tcp facts")
        return skipped(f"retransmissions unknown ({why}) and no latency samples", **observed)

    parts: list[str] = []
    status = "pass"
    if ratio is not None:
        status = graded(ratio, limits)
        text = f"TCP retransmits {ratio:.2f}% of segments since boot"
        if run_ratio is not None:
            text += f" ({run_ratio:.2f}% during the run)"
        if status != "pass":
            text += f", above {limits.get('fail_above' if status == 'fail' else 'warn_above')}%"
        parts.append(text)
    else:
        parts.append(
            f"retransmissions unknown ({_why(tcp, 'retrans_percent_since_boot', 'no tcp facts')})"
        )
    if jittery:
        status = _worst(status, "warn")
        parts.append(f"latency jitter above {int(jitter_limit or 0)} µs: " + ", ".join(jittery))
    elif has_jitter:
        worst = max(
            (
                int(v["jitter_us"])
                for v in jitter_obs.values()
                if _number(v["jitter_us"]) is not None
            ),
        )
        parts.append(f"worst jitter p99-p50 {worst} µs")
    else:
        parts.append("no latency samples for jitter")
    if stalled:
        parts.append(
            "jitter from server-side stalls, not the network (redis.slow_commands): "
            + ", ".join(stalled)
        )
        observed["jitter_from_server_stalls"] = stalled
    observed["jittery"] = jittery
    return _outcome(status, "; ".join(parts), observed)
