"""host.* rules over hand-written facts: every status boundary of every rule."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from typing import Any

import pytest

from cachediag.checks.base import RULES, Outcome
from cachediag.checks.rules import host as host_rules

HOST_IDS = (
    "host.cpu",
    "host.memory",
    "host.disk",
    "host.load",
    "host.oom",
    "host.kernel",
    "host.packet_drops",
    "host.congestion",
)

# Thresholds exactly as the checklist TOML spells them.
TOML: dict[str, dict[str, Any]] = {
    "host.cpu": {"warn_above": 80, "fail_above": 95},
    "host.memory": {"warn_available_below": 10, "fail_available_below": 5, "warn_on_swap": True},
    "host.disk": {"warn_above": 80, "fail_above": 95},
    "host.load": {"warn_above": 1.0, "fail_above": 2.0},
    "host.oom": {},
    "host.kernel": {},
    "host.packet_drops": {},
    "host.congestion": {"warn_above": 1.0, "fail_above": 5.0, "warn_jitter_us": 10000},
}

GiB = 1024**3


def healthy() -> dict[str, Any]:
    """Facts of a quiet, well-configured host with one local Redis."""
    return {
        "platform": "linux",
        "interval_s": 0.21,
        "cpu": {"percent": 12.3, "cores": 4, "unavailable": {}},
        "memory": {
            "total_bytes": 16 * GiB,
            "available_bytes": 8 * GiB,
            "available_percent": 50.0,
            "swap_total_bytes": 2 * GiB,
            "swap_used_bytes": 0,
            "unavailable": {},
        },
        "disks": [
            {
                "mountpoint": "/",
                "paths": ["/"],
                "targets": [],
                "total_bytes": 100 * GiB,
                "used_bytes": 40 * GiB,
                "free_bytes": 60 * GiB,
                "used_percent": 40.0,
                "unavailable": {},
            },
            {
                "mountpoint": "/var/lib/redis",
                "paths": ["/var/lib/redis"],
                "targets": ["redis://127.0.0.1:6379/0"],
                "total_bytes": 10 * GiB,
                "used_bytes": 3 * GiB,
                "free_bytes": 7 * GiB,
                "used_percent": 30.0,
                "unavailable": {},
            },
        ],
        "load": {
            "load1": 1.0,
            "load5": 0.8,
            "load15": 0.5,
            "cores": 4,
            "load1_per_core": 0.25,
            "load5_per_core": 0.2,
            "load15_per_core": 0.125,
            "unavailable": {},
        },
        "oom": {
            "oom_kill": 0,
            "log_source": "/dev/kmsg",
            "log_lines": [],
            "log_records_scanned": 900,
            "log_truncated": False,
            "unavailable": {},
        },
        "net": {
            "interfaces": {
                "eth0": {
                    "loopback": False,
                    "rx_drops": 5,
                    "tx_drops": 0,
                    "rx_errors": 2,
                    "tx_errors": 0,
                    "total": 7,
                    "delta": 0,
                },
                "lo": {
                    "loopback": True,
                    "rx_drops": 0,
                    "tx_drops": 0,
                    "rx_errors": 0,
                    "tx_errors": 0,
                    "total": 0,
                    "delta": 0,
                },
            },
            "unavailable": {},
        },
        "tcp": {
            "out_segs": 100000,
            "retrans_segs": 50,
            "retrans_percent_since_boot": 0.05,
            "out_segs_run": 200,
            "retrans_segs_run": 0,
            "retrans_percent_run": 0.0,
            "unavailable": {},
        },
        "kernel": {
            "thp_enabled": "madvise",
            "overcommit_memory": 1,
            "somaxconn": 4096,
            "unavailable": {},
        },
        "local_redis": [
            {"target": "redis://127.0.0.1:6379/0", "dir": "/var/lib/redis", "tcp_backlog": 511}
        ],
        "jitter": [
            {
                "target": "redis://127.0.0.1:6379/0",
                "samples": 50,
                "p50_us": 120,
                "p99_us": 400,
                "jitter_us": 280,
                "stdev_us": 40.5,
                "min_us": 90,
                "max_us": 450,
                "unavailable": {},
            }
        ],
    }


def run(check_id: str, facts: dict[str, Any], **overrides: Any) -> Outcome:
    outcome = RULES[check_id](facts, {**TOML[check_id], **overrides})
    assert isinstance(outcome, Outcome)
    json.dumps(outcome.observed)  # observed must stay JSON-serializable
    assert outcome.summary
    return outcome


def test_all_host_ids_registered() -> None:
    for check_id in HOST_IDS:
        assert check_id in RULES
        assert RULES[check_id].__module__ == host_rules.__name__


def test_healthy_host_passes_everything() -> None:
    facts = healthy()
    statuses = {cid: run(cid, facts).status for cid in HOST_IDS}
    assert statuses == dict.fromkeys(HOST_IDS, "pass")


def test_rules_do_not_import_psutil() -> None:
    code = (
        "import sys; import cachediag.checks.rules.host; "
        "sys.exit(1 if 'psutil' in sys.modules else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_rules_do_not_mutate_facts() -> None:
    facts = healthy()
    before = copy.deepcopy(facts)
    for check_id in HOST_IDS:
        run(check_id, facts)
    assert facts == before


@pytest.mark.parametrize("check_id", HOST_IDS)
def test_empty_facts_skip(check_id: str) -> None:
    assert run(check_id, {}).status == "skip"


# --- host.cpu ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("percent", "status"),
    [(0.0, "pass"), (80.0, "pass"), (80.1, "warn"), (95.0, "warn"), (95.1, "fail"), (100, "fail")],
)
def test_cpu_boundaries(percent: float, status: str) -> None:
    facts = healthy()
    facts["cpu"]["percent"] = percent
    out = run("host.cpu", facts)
    assert out.status == status
    assert out.observed["cpu_percent"] == percent
    assert out.observed["interval_s"] == 0.21
    assert f"{float(percent):.1f}%" in out.summary
    assert "0.21 s" in out.summary


def test_cpu_thresholds_come_from_toml() -> None:
    facts = healthy()
    facts["cpu"]["percent"] = 50.0
    assert run("host.cpu", facts, warn_above=40, fail_above=60).status == "warn"
    assert run("host.cpu", facts, warn_above=20, fail_above=45).status == "fail"


def test_cpu_unreadable_skips_with_reason() -> None:
    facts = healthy()
    facts["cpu"] = {"percent": None, "cores": 4, "unavailable": {"percent": "AccessDenied: x"}}
    out = run("host.cpu", facts)
    assert out.status == "skip"
    assert "AccessDenied" in out.summary


# --- host.memory -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("available", "status"),
    [(50.0, "pass"), (10.0, "pass"), (9.9, "warn"), (5.0, "warn"), (4.9, "fail"), (0.0, "fail")],
)
def test_memory_boundaries(available: float, status: str) -> None:
    facts = healthy()
    facts["memory"]["available_percent"] = available
    out = run("host.memory", facts)
    assert out.status == status
    assert out.observed["available_percent"] == available


def test_memory_swap_in_use_warns() -> None:
    facts = healthy()
    facts["memory"]["swap_used_bytes"] = 300 * 1024**2
    out = run("host.memory", facts)
    assert out.status == "warn"
    assert out.observed["swap_used_bytes"] == 300 * 1024**2
    assert "swap" in out.summary
    assert run("host.memory", facts, warn_on_swap=False).status == "pass"


def test_memory_swap_does_not_lower_fail() -> None:
    facts = healthy()
    facts["memory"]["available_percent"] = 2.0
    facts["memory"]["swap_used_bytes"] = 1
    assert run("host.memory", facts).status == "fail"


def test_memory_unreadable_skips() -> None:
    facts = healthy()
    facts["memory"]["available_percent"] = None
    facts["memory"]["unavailable"] = {"available_percent": "no /proc/meminfo"}
    out = run("host.memory", facts)
    assert out.status == "skip"
    assert "no /proc/meminfo" in out.summary


# --- host.disk ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("used", "status"),
    [(80.0, "pass"), (80.5, "warn"), (95.0, "warn"), (95.5, "fail")],
)
def test_disk_boundaries_name_the_worst_path(used: float, status: str) -> None:
    facts = healthy()
    facts["disks"][1]["used_percent"] = used
    out = run("host.disk", facts)
    assert out.status == status
    assert out.observed["worst_used_percent"] == used
    assert out.observed["worst_path"] == "/var/lib/redis"
    assert "/var/lib/redis" in out.summary


def test_disk_root_worst() -> None:
    facts = healthy()
    facts["disks"][0]["used_percent"] = 97.0
    out = run("host.disk", facts)
    assert out.status == "fail"
    assert out.observed["worst_path"] == "/"
    assert out.summary.startswith("disk /:")


def test_disk_partly_unreadable_still_grades_and_says_so() -> None:
    facts = healthy()
    facts["disks"][1].update(used_percent=None, unavailable={"used_percent": "PermissionError"})
    out = run("host.disk", facts)
    assert out.status == "pass"
    assert "unreadable: /var/lib/redis" in out.summary
    assert out.observed["unreadable"][0]["reason"] == "PermissionError"


def test_disk_all_unreadable_skips() -> None:
    facts = healthy()
    for entry in facts["disks"]:
        entry.update(used_percent=None, unavailable={"used_percent": "statvfs failed"})
    out = run("host.disk", facts)
    assert out.status == "skip"
    assert "statvfs failed" in out.summary


# --- host.load ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("per_core", "status"),
    [(0.25, "pass"), (1.0, "pass"), (1.01, "warn"), (2.0, "warn"), (2.01, "fail")],
)
def test_load_boundaries(per_core: float, status: str) -> None:
    facts = healthy()
    facts["load"]["load1_per_core"] = per_core
    out = run("host.load", facts)
    assert out.status == status
    assert out.observed["load1_per_core"] == per_core
    assert out.observed["cores"] == 4


def test_load_unreadable_skips() -> None:
    facts = healthy()
    facts["load"]["load1_per_core"] = None
    facts["load"]["unavailable"] = {"load1_per_core": "OSError: getloadavg"}
    out = run("host.load", facts)
    assert out.status == "skip"
    assert "getloadavg" in out.summary


# --- host.oom ----------------------------------------------------------------------


def test_oom_kills_since_boot_warn() -> None:
    facts = healthy()
    facts["oom"]["oom_kill"] = 3
    out = run("host.oom", facts)
    assert out.status == "warn"
    assert out.observed["oom_kill"] == 3
    assert "3 OOM kill" in out.summary


def test_oom_kernel_line_naming_redis_fails_and_is_quoted_safely() -> None:
    facts = healthy()
    facts["oom"]["oom_kill"] = 1
    line = "Out of memory: Killed process 4242 (redis-server) total-vm:9000kB \x1b[31mred"
    facts["oom"]["log_lines"] = [line]
    out = run("host.oom", facts)
    assert out.status == "fail"
    assert "Killed process 4242 (redis-server)" in out.summary
    assert "\x1b" not in out.summary
    assert "\\x1b[31m" in out.summary
    assert out.observed["log_matches"] == 1
    assert "\x1b" not in out.observed["log_lines"][0]


def test_oom_kernel_line_fails_even_without_counter() -> None:
    facts = healthy()
    facts["oom"]["oom_kill"] = None
    facts["oom"]["unavailable"] = {"oom_kill": "no oom_kill in /proc/vmstat"}
    facts["oom"]["log_lines"] = ["memcached invoked oom-killer: gfp_mask=0x100cca"]
    assert run("host.oom", facts).status == "fail"


def test_oom_unreadable_counter_skips_with_reason() -> None:
    facts = healthy()
    facts["oom"].update(
        oom_kill=None,
        log_lines=None,
        log_source=None,
        unavailable={
            "oom_kill": "PermissionError: /proc/vmstat",
            "log_lines": "dmesg: Operation not permitted",
        },
    )
    out = run("host.oom", facts)
    assert out.status == "skip"
    assert "PermissionError: /proc/vmstat" in out.summary


def test_oom_zero_with_unreadable_log_passes_and_says_so() -> None:
    facts = healthy()
    facts["oom"].update(
        log_lines=None, log_source=None, unavailable={"log_lines": "dmesg: not permitted"}
    )
    out = run("host.oom", facts)
    assert out.status == "pass"
    assert "kernel log unreadable" in out.summary
    assert out.observed["log_matches"] is None


# --- host.kernel -------------------------------------------------------------------


def test_kernel_skips_without_local_redis() -> None:
    facts = healthy()
    facts["local_redis"] = []
    out = run("host.kernel", facts)
    assert out.status == "skip"
    assert "no local Redis" in out.summary


def test_kernel_thp_always_warns_with_fix() -> None:
    facts = healthy()
    facts["kernel"]["thp_enabled"] = "always"
    out = run("host.kernel", facts)
    assert out.status == "warn"
    assert "echo never > /sys/kernel/mm/transparent_hugepage/enabled" in out.summary
    assert out.observed["thp_enabled"] == "always"


@pytest.mark.parametrize("value", [0, 2])
def test_kernel_overcommit_not_1_warns_with_fix(value: int) -> None:
    facts = healthy()
    facts["kernel"]["overcommit_memory"] = value
    out = run("host.kernel", facts)
    assert out.status == "warn"
    assert "sysctl vm.overcommit_memory=1" in out.summary


def test_kernel_somaxconn_below_backlog_warns_with_fix() -> None:
    facts = healthy()
    facts["kernel"]["somaxconn"] = 128
    facts["local_redis"].append(
        {"target": "redis://127.0.0.1:6380/0", "dir": None, "tcp_backlog": 1024}
    )
    out = run("host.kernel", facts)
    assert out.status == "warn"
    assert "sysctl net.core.somaxconn=1024" in out.summary
    assert "redis://127.0.0.1:6380/0" in out.summary
    assert out.observed["somaxconn"] == 128
    assert out.observed["tcp_backlogs"]["redis://127.0.0.1:6379/0"] == 511


def test_kernel_somaxconn_equal_to_backlog_passes() -> None:
    facts = healthy()
    facts["kernel"]["somaxconn"] = 511
    assert run("host.kernel", facts).status == "pass"


def test_kernel_lists_every_finding() -> None:
    facts = healthy()
    facts["kernel"].update(thp_enabled="always", overcommit_memory=0, somaxconn=128)
    out = run("host.kernel", facts)
    assert out.status == "warn"
    assert len(out.observed["findings"]) == 3
    for fix in ("echo never", "vm.overcommit_memory=1", "net.core.somaxconn=511"):
        assert fix in out.summary


def test_kernel_all_unreadable_skips() -> None:
    facts = healthy()
    facts["kernel"] = {
        "thp_enabled": None,
        "overcommit_memory": None,
        "somaxconn": None,
        "unavailable": {
            "thp_enabled": "FileNotFoundError",
            "overcommit_memory": "FileNotFoundError",
            "somaxconn": "FileNotFoundError",
        },
    }
    assert run("host.kernel", facts).status == "skip"


def test_kernel_partly_unreadable_passes_with_note() -> None:
    facts = healthy()
    facts["kernel"]["thp_enabled"] = None
    facts["kernel"]["unavailable"] = {"thp_enabled": "FileNotFoundError: no THP"}
    out = run("host.kernel", facts)
    assert out.status == "pass"
    assert "THP unknown" in out.summary


# --- host.packet_drops -------------------------------------------------------------


def test_drops_growth_warns_naming_interface_and_delta() -> None:
    facts = healthy()
    facts["net"]["interfaces"]["eth0"].update(rx_drops=17, total=19, delta=12)
    out = run("host.packet_drops", facts)
    assert out.status == "warn"
    assert "eth0 +12" in out.summary
    assert out.observed["deltas"]["eth0"] == 12
    assert out.observed["totals"]["eth0"] == 19


def test_drops_growth_of_one_warns() -> None:
    facts = healthy()
    facts["net"]["interfaces"]["eth0"].update(total=8, delta=1)
    out = run("host.packet_drops", facts)
    assert out.status == "warn"
    assert out.observed["grew"] == ["eth0 +1"]


def test_drops_without_start_snapshot_pass_on_totals() -> None:
    facts = healthy()
    for counters in facts["net"]["interfaces"].values():
        counters["delta"] = None
    out = run("host.packet_drops", facts)
    assert out.status == "pass"
    assert "start snapshot missing" in out.summary


def test_drops_growth_on_loopback_is_flagged() -> None:
    facts = healthy()
    facts["net"]["interfaces"]["lo"].update(total=4, delta=4)
    out = run("host.packet_drops", facts)
    assert out.status == "warn"
    assert "lo (loopback) +4" in out.summary
    assert out.observed["loopback"] == ["lo"]


def test_drops_totals_without_growth_pass_with_totals() -> None:
    out = run("host.packet_drops", healthy())
    assert out.status == "pass"
    assert "eth0 7" in out.summary
    assert out.observed["totals"] == {"eth0": 7, "lo": 0}
    assert out.observed["grew"] == []


def test_drops_unreadable_skip() -> None:
    facts = healthy()
    facts["net"] = {"interfaces": None, "unavailable": {"interfaces": "AccessDenied: net"}}
    out = run("host.packet_drops", facts)
    assert out.status == "skip"
    assert "AccessDenied" in out.summary


# --- host.congestion ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("ratio", "status"),
    [(0.05, "pass"), (1.0, "pass"), (1.01, "warn"), (5.0, "warn"), (5.01, "fail")],
)
def test_congestion_retrans_boundaries(ratio: float, status: str) -> None:
    facts = healthy()
    facts["tcp"]["retrans_percent_since_boot"] = ratio
    out = run("host.congestion", facts)
    assert out.status == status
    assert out.observed["retrans_percent_since_boot"] == ratio
    assert out.observed["jitter"]["redis://127.0.0.1:6379/0"]["jitter_us"] == 280


@pytest.mark.parametrize(("jitter", "status"), [(10000, "pass"), (10001, "warn")])
def test_congestion_jitter_boundary(jitter: int, status: str) -> None:
    facts = healthy()
    facts["jitter"][0].update(p50_us=100, p99_us=100 + jitter, jitter_us=jitter)
    out = run("host.congestion", facts)
    assert out.status == status
    assert out.observed["jitter"]["redis://127.0.0.1:6379/0"]["p99_us"] == 100 + jitter
    if status == "warn":
        assert "redis://127.0.0.1:6379/0" in out.summary
        assert out.observed["jittery"]


def test_congestion_jitter_from_server_stalls_is_not_the_network() -> None:
    facts = healthy()
    facts["jitter"][0].update(p50_us=100, p99_us=30_100, jitter_us=30_000)
    facts["jitter"][0]["server_stalls"] = "slow commands DEBUG SLEEP ×5 (up to 30.10 ms)"
    out = run("host.congestion", facts)
    assert out.status == "pass" and not out.observed["jittery"]
    assert "jitter from server-side stalls, not the network (redis.slow_commands)" in out.summary
    assert out.observed["jitter_from_server_stalls"] == [
        "redis://127.0.0.1:6379/0 p99-p50 30000 µs"
    ]


def test_congestion_jitter_threshold_from_toml() -> None:
    assert run("host.congestion", healthy(), warn_jitter_us=100).status == "warn"


def test_congestion_fail_beats_jitter_warn() -> None:
    facts = healthy()
    facts["tcp"]["retrans_percent_since_boot"] = 9.0
    facts["jitter"][0]["jitter_us"] = 50000
    assert run("host.congestion", facts).status == "fail"


def test_congestion_jitter_alone_without_tcp() -> None:
    facts = healthy()
    facts["tcp"] = {"retrans_percent_since_boot": None, "unavailable": {}}
    facts["jitter"][0]["jitter_us"] = 20000
    out = run("host.congestion", facts)
    assert out.status == "warn"
    assert out.observed["retrans_percent_since_boot"] is None


def test_congestion_nothing_known_skips() -> None:
    facts = healthy()
    facts["tcp"] = {
        "retrans_percent_since_boot": None,
        "unavailable": {"retrans_percent_since_boot": "FileNotFoundError: /proc/net/snmp"},
    }
    facts["jitter"] = []
    out = run("host.congestion", facts)
    assert out.status == "skip"
    assert "/proc/net/snmp" in out.summary
