"""HostProbe on this real machine, plus its parsers and its failure paths."""

from __future__ import annotations

import json
import os
import stat
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from cachediag.probes import host
from cachediag.probes.host import HostProbe

LINUX = sys.platform.startswith("linux")
TARGET = "redis://127.0.0.1:6379/0"


def _finish(tmp_path: Path, samples: list[int] | None = None) -> dict[str, Any]:
    probe = HostProbe.start()
    return probe.finish(
        [{"target": TARGET, "dir": str(tmp_path), "tcp_backlog": 511}],
        [{"target": TARGET, "samples_us": samples if samples is not None else [100, 200, 300]}],
    )


def _is_num(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def test_finish_on_this_machine(tmp_path: Path) -> None:
    facts = _finish(tmp_path)
    text = json.dumps(facts)  # plain JSON all the way down
    assert json.loads(text) == facts

    assert facts["platform"] == sys.platform
    assert facts["interval_s"] >= host.MIN_INTERVAL_S - 0.001

    cpu = facts["cpu"]
    assert _is_num(cpu["percent"]) and 0.0 <= cpu["percent"] <= 100.0
    assert isinstance(cpu["cores"], int) and cpu["cores"] >= 1

    mem = facts["memory"]
    assert mem["total_bytes"] > 0
    assert 0 <= mem["available_bytes"] <= mem["total_bytes"]
    assert 0.0 <= mem["available_percent"] <= 100.0
    assert 0 <= mem["swap_used_bytes"] <= max(mem["swap_total_bytes"], mem["swap_used_bytes"])

    load = facts["load"]
    for key in ("load1", "load5", "load15", "load1_per_core"):
        assert _is_num(load[key]) and load[key] >= 0
    assert load["load1_per_core"] == pytest.approx(load["load1"] / load["cores"], abs=0.01)

    assert isinstance(facts["oom"]["unavailable"], dict)
    if facts["oom"]["oom_kill"] is not None:
        assert facts["oom"]["oom_kill"] >= 0
    else:
        assert facts["oom"]["unavailable"]["oom_kill"]
    if facts["oom"]["log_lines"] is None:
        assert facts["oom"]["unavailable"]["log_lines"]
    else:
        assert isinstance(facts["oom"]["log_lines"], list)
        assert len(facts["oom"]["log_lines"]) <= host.MAX_OOM_LINES

    kern = facts["kernel"]
    for key in ("thp_enabled", "overcommit_memory", "somaxconn"):
        assert kern[key] is not None or kern["unavailable"][key]
    if kern["thp_enabled"] is not None:
        assert kern["thp_enabled"] in ("always", "madvise", "never")
    if kern["overcommit_memory"] is not None:
        assert kern["overcommit_memory"] in (0, 1, 2)

    ifaces = facts["net"]["interfaces"]
    assert isinstance(ifaces, dict) and ifaces
    for counters in ifaces.values():
        assert counters["total"] == sum(
            counters[k] for k in ("rx_drops", "tx_drops", "rx_errors", "tx_errors")
        )
        assert counters["delta"] is None or counters["delta"] >= 0
    if "lo" in ifaces:
        assert ifaces["lo"]["loopback"] is True

    assert facts["local_redis"] == [{"target": TARGET, "dir": str(tmp_path), "tcp_backlog": 511}]
    jit = facts["jitter"][0]
    assert jit["target"] == TARGET
    assert (jit["p50_us"], jit["p99_us"], jit["jitter_us"]) == (200, 300, 100)


@pytest.mark.skipif(not LINUX, reason="/proc is Linux-only")
def test_linux_proc_facts_are_read() -> None:
    facts = HostProbe.start().finish([], [])
    tcp = facts["tcp"]
    assert isinstance(tcp["out_segs"], int) and tcp["out_segs"] >= 0
    assert isinstance(tcp["retrans_segs"], int) and tcp["retrans_segs"] >= 0
    assert tcp["out_segs_run"] is not None and tcp["out_segs_run"] >= 0
    if tcp["out_segs"]:
        assert tcp["retrans_percent_since_boot"] == pytest.approx(
            100.0 * tcp["retrans_segs"] / tcp["out_segs"], abs=0.001
        )
    assert facts["kernel"]["somaxconn"] == int(Path("/proc/sys/net/core/somaxconn").read_text())


def test_finish_waits_for_the_minimum_interval() -> None:
    t0 = time.monotonic()
    probe = HostProbe.start()
    facts = probe.finish([], [])
    elapsed = time.monotonic() - t0
    assert elapsed >= host.MIN_INTERVAL_S
    assert elapsed < 1.0
    assert facts["interval_s"] >= host.MIN_INTERVAL_S - 0.001


def test_finish_does_not_sleep_again_after_the_interval() -> None:
    probe = HostProbe.start()
    time.sleep(host.MIN_INTERVAL_S + 0.05)
    t0 = time.monotonic()
    facts = probe.finish([], [])
    assert time.monotonic() - t0 < 0.5
    assert facts["interval_s"] >= host.MIN_INTERVAL_S + 0.05


def test_local_redis_dirs_are_reported(tmp_path: Path) -> None:
    facts = _finish(tmp_path)
    mine = [d for d in facts["disks"] if str(tmp_path) in d["paths"]]
    assert len(mine) == 1
    entry = mine[0]
    assert TARGET in entry["targets"]
    assert entry["mountpoint"] and os.path.ismount(entry["mountpoint"])
    assert 0.0 <= entry["used_percent"] <= 100.0
    assert entry["total_bytes"] >= entry["used_bytes"] >= 0
    # "/" is always first; the dirs are deduplicated by mount point
    assert "/" in facts["disks"][0]["paths"]
    mounts = [d["mountpoint"] for d in facts["disks"] if d["mountpoint"]]
    assert len(mounts) == len(set(mounts))


def test_two_dirs_on_one_mount_share_an_entry(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    facts = HostProbe.start().finish(
        [
            {"target": "redis://h:1/0", "dir": str(a), "tcp_backlog": 511},
            {"target": "redis://h:2/0", "dir": str(b), "tcp_backlog": 511},
        ],
        [],
    )
    shared = [d for d in facts["disks"] if str(a) in d["paths"]]
    assert len(shared) == 1
    assert str(b) in shared[0]["paths"]
    assert {"redis://h:1/0", "redis://h:2/0"} <= set(shared[0]["targets"])


def test_missing_redis_dir_is_a_reason_not_an_exception(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    facts = HostProbe.start().finish(
        [{"target": TARGET, "dir": str(missing), "tcp_backlog": None}], []
    )
    entry = next(d for d in facts["disks"] if str(missing) in d["paths"])
    assert entry["used_percent"] is None
    assert "nope" in entry["unavailable"]["used_percent"]
    assert entry["targets"] == [TARGET]
    assert facts["local_redis"][0]["tcp_backlog"] is None


def test_everything_unreadable_becomes_none_with_reasons(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def denied(*_a: Any, **_k: Any) -> Any:
        raise psutil.AccessDenied()

    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setattr(host, "PROC", str(empty))
    monkeypatch.setattr(host, "SYS", str(empty))
    monkeypatch.setattr(host, "KMSG_PATH", str(empty / "kmsg"))
    monkeypatch.setenv("PATH", str(empty))  # no dmesg either
    for name in (
        "cpu_times",
        "virtual_memory",
        "swap_memory",
        "disk_usage",
        "getloadavg",
        "net_io_counters",
        "net_if_stats",
    ):
        monkeypatch.setattr(psutil, name, denied)

    probe = HostProbe.start()
    facts = probe.finish([{"target": TARGET, "dir": str(tmp_path), "tcp_backlog": 511}], [])
    json.dumps(facts)

    assert facts["cpu"]["percent"] is None and facts["cpu"]["unavailable"]["percent"]
    assert facts["memory"]["available_percent"] is None
    assert facts["memory"]["unavailable"]["swap_used_bytes"]
    assert all(d["used_percent"] is None and d["unavailable"] for d in facts["disks"])
    assert facts["load"]["load1_per_core"] is None and facts["load"]["unavailable"]["load1"]
    assert facts["oom"]["oom_kill"] is None and facts["oom"]["unavailable"]["oom_kill"]
    assert facts["oom"]["log_lines"] is None
    assert "dmesg" in facts["oom"]["unavailable"]["log_lines"]
    assert facts["net"]["interfaces"] is None and facts["net"]["unavailable"]["interfaces"]
    for key in ("out_segs", "retrans_percent_since_boot", "retrans_percent_run"):
        assert facts["tcp"][key] is None and facts["tcp"]["unavailable"][key]
    for key in ("thp_enabled", "overcommit_memory", "somaxconn"):
        assert facts["kernel"][key] is None and facts["kernel"]["unavailable"][key]


# --- kernel log via a stand-in dmesg -----------------------------------------------


def _fake_dmesg(directory: Path, body: str) -> None:
    script = directory / "dmesg"
    script.write_text("#!/bin/sh\n" + body + "\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


@pytest.mark.skipif(os.name != "posix", reason="needs a shell script as dmesg")
def test_dmesg_fallback_finds_cache_oom_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_dmesg(
        tmp_path,
        "echo '[ 1.0] eth0: link up'\n"
        "echo '[ 2.0] Out of memory: Killed process 4242 (redis-server) total-vm:1kB'\n"
        "echo '[ 2.1] Out of memory: Killed process 17 (java) total-vm:1kB'\n"
        "echo '[ 3.0] oom-kill:constraint=CONSTRAINT_NONE,task=memcached,pid=9,uid=0'",
    )
    monkeypatch.setattr(host, "KMSG_PATH", str(tmp_path / "no-kmsg"))
    monkeypatch.setenv("PATH", str(tmp_path))
    oom = host._oom()
    assert oom["log_source"] == "dmesg"
    assert oom["log_records_scanned"] == 4
    assert len(oom["log_lines"]) == 2
    assert "redis-server" in oom["log_lines"][0]
    assert "memcached" in oom["log_lines"][1]


@pytest.mark.skipif(os.name != "posix", reason="needs a shell script as dmesg")
def test_dmesg_denied_is_a_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_dmesg(
        tmp_path, "echo 'dmesg: read kernel buffer failed: Operation not permitted' >&2\nexit 1"
    )
    monkeypatch.setattr(host, "KMSG_PATH", str(tmp_path / "no-kmsg"))
    monkeypatch.setenv("PATH", str(tmp_path))
    oom = host._oom()
    assert oom["log_lines"] is None
    assert "Operation not permitted" in oom["unavailable"]["log_lines"]


@pytest.mark.skipif(os.name != "posix", reason="needs a shell script as dmesg")
def test_slow_dmesg_times_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_dmesg(tmp_path, "exec /bin/sleep 5")
    monkeypatch.setattr(host, "KMSG_PATH", str(tmp_path / "no-kmsg"))
    monkeypatch.setenv("PATH", str(tmp_path))
    t0 = time.monotonic()
    oom = host._oom()
    assert time.monotonic() - t0 < host.DMESG_TIMEOUT_S + 0.5
    assert oom["log_lines"] is None
    assert "no answer" in oom["unavailable"]["log_lines"]


# --- parsers -----------------------------------------------------------------------


def test_parse_snmp_tcp() -> None:
    text = (
        "Ip: Forwarding DefaultTTL\nIp: 1 64\n"
        "Tcp: RtoAlgorithm RtoMin OutSegs RetransSegs\nTcp: 1 200 1097 12\n"
        "Udp: InDatagrams\nUdp: 5\n"
    )
    assert host.parse_snmp_tcp(text) == {
        "RtoAlgorithm": 1,
        "RtoMin": 200,
        "OutSegs": 1097,
        "RetransSegs": 12,
    }
    with pytest.raises(ValueError):
        host.parse_snmp_tcp("Udp: InDatagrams\nUdp: 5\n")


@pytest.mark.parametrize(
    ("text", "value"),
    [("always [madvise] never\n", "madvise"), ("[always] madvise never", "always")],
)
def test_parse_thp(text: str, value: str) -> None:
    assert host.parse_thp(text) == value


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ("Out of memory: Killed process 4242 (redis-server) total-vm:1kB", True),
        ("redis-server invoked oom-killer: gfp_mask=0x100cca", True),
        ("oom-kill:constraint=CONSTRAINT_NONE,task=memcached,pid=9", True),
        ("Killed process 12 (Memcached) anon-rss:1kB", True),
        ("Out of memory: Killed process 17 (java)", False),
        ("redis-server[12]: segfault at 0", False),
    ],
)
def test_is_oom_line(line: str, match: bool) -> None:
    assert host.is_oom_line(line) is match


def test_kmsg_message() -> None:
    record = b"3,1234,5678901,-;Out of memory: Killed process 1 (redis-server)\n SUBSYSTEM=x\n"
    assert host.kmsg_message(record) == "Out of memory: Killed process 1 (redis-server)"


def test_jitter_stats() -> None:
    samples = list(range(1, 101))  # 1..100 µs
    stats = host.jitter_stats("t", samples)
    assert (stats["p50_us"], stats["p99_us"], stats["jitter_us"]) == (50, 99, 49)
    assert (stats["min_us"], stats["max_us"], stats["samples"]) == (1, 100, 100)
    assert stats["stdev_us"] == pytest.approx(28.9, abs=0.05)
    single = host.jitter_stats("t", [250])
    assert (single["p50_us"], single["p99_us"], single["jitter_us"]) == (250, 250, 0)
    empty = host.jitter_stats("t", [])
    assert empty["jitter_us"] is None and empty["unavailable"]["jitter_us"]
