"""`redis.replication`: a replica judged as a replica, a primary by its replicas.

Read from INFO replication alone. A replica whose link to its primary is down still
answers PING and serves reads, of data frozen when the link went: every other check
passes on it, so this one says so. On a primary, each `slaveN` line tells how far that
replica is behind (bytes of replication stream, seconds since it last acknowledged).
"""

from __future__ import annotations

from typing import Any

from cachediag.checks.base import Facts, Outcome, Thresholds, failed, passed, rule, skipped, warned
from cachediag.checks.facts_view import human_bytes, human_seconds, number, plural, section
from cachediag.checks.rules.cache import info_gap


def _value(text: str) -> Any:
    """'12' -> 12, anything else stays text (INFO's own typing, kept out of the probes)."""
    return int(text) if text.lstrip("-").isdigit() else text


def replica_lines(replication: dict[str, Any]) -> list[dict[str, Any]]:
    """The `slaveN:ip=..,port=..,state=..,offset=..,lag=..` lines of a primary, in order."""
    lines = []
    for name, value in replication.items():
        if not (name.startswith("slave") and name[5:].isdigit()):
            continue
        if isinstance(value, str):  # INFO keeps these as text; parse the name=value pairs
            fields = dict(part.partition("=")[::2] for part in value.split(",") if "=" in part)
            value = {key: _value(text) for key, text in fields.items()}
        if isinstance(value, dict):
            lines.append({"name": name, **value})
    return sorted(lines, key=lambda line: int(line["name"][5:]))


def _replica(replication: dict[str, Any], th: Thresholds) -> Outcome:
    primary = f"{replication.get('master_host', '?')}:{replication.get('master_port', '?')}"
    link = replication.get("master_link_status")
    last_io = number(replication, "master_last_io_seconds_ago")
    syncing = number(replication, "master_sync_in_progress") == 1
    down_for = number(replication, "master_link_down_since_seconds")
    observed: dict[str, Any] = {
        "role": "replica",
        "primary": primary,
        "link": link,
        "last_io_seconds": last_io,
        "sync_in_progress": syncing,
        "link_down_seconds": down_for,
        "offset": number(replication, "slave_repl_offset"),
    }
    if syncing:
        left = number(replication, "master_sync_left_bytes")
        progress = f", {human_bytes(left)} left" if left and left > 0 else ""
        return warned(
            f"replica of {primary}: a full sync from its primary is in progress{progress}; "
            "until it ends the replica holds only part of the data",
            cause="syncing",
            **observed,
        )
    if link != "up":
        since = (
            f" for {human_seconds(down_for)}"
            if down_for is not None and down_for >= 0
            else " (it has not synced since it started)"
        )
        return failed(
            f"replica of {primary}: the link to its primary is {link or 'not reported'}{since}; "
            "it serves data frozen when the link went and takes no updates",
            cause="link_down",
            **observed,
        )
    warn_io = th.get("warn_last_io_seconds_above", 30)
    if last_io is not None and last_io > warn_io:
        return warned(
            f"replica of {primary}: link up, but nothing heard from its primary for "
            f"{human_seconds(last_io)} (above {warn_io} s): the link may be dying",
            **observed,
        )
    heard = f", last heard from it {human_seconds(last_io)} ago" if last_io is not None else ""
    return passed(f"replica of {primary}: link up{heard}", **observed)


def _primary(replication: dict[str, Any], th: Thresholds) -> Outcome:
    replicas = replica_lines(replication)
    connected = number(replication, "connected_slaves") or len(replicas)
    offset = number(replication, "master_repl_offset")
    observed: dict[str, Any] = {"role": "primary", "connected_replicas": connected, "replicas": []}
    if not connected:
        return skipped(
            "a primary with no replica connected: nothing replicates from it", **observed
        )
    warn_lag = th.get("warn_lag_seconds_above", 10)
    warn_bytes = th.get("warn_offset_lag_bytes_above", 1024 * 1024)
    problems = []
    for line in replicas:
        where = f"{line.get('ip', '?')}:{line.get('port', '?')}"
        behind = offset - line["offset"] if offset is not None and "offset" in line else None
        observed["replicas"].append(
            {
                "address": where,
                "state": line.get("state"),
                "lag_seconds": line.get("lag"),
                "offset_lag_bytes": behind,
            }
        )
        if line.get("state") != "online":
            problems.append(f"{where} is {line.get('state', 'in an unknown state')}, not online")
        elif isinstance(line.get("lag"), (int, float)) and line["lag"] > warn_lag:
            problems.append(f"{where} last acknowledged {human_seconds(line['lag'])} ago")
        elif behind is not None and behind > warn_bytes:
            problems.append(f"{where} is {human_bytes(behind)} of writes behind")
    text = f"a primary with {plural(connected, 'replica')}"
    if problems:
        return warned(f"{text}: {'; '.join(problems)}", **observed)
    return passed(f"{text}, all online and in step", **observed)


@rule("redis.replication")
def replication(facts: Facts, th: Thresholds) -> Outcome:
    if gap := info_gap(facts):
        return gap
    info = section(facts, "replication")
    role = info.get("role")
    if role == "slave":
        return _replica(info, th)
    if role == "master":
        return _primary(info, th)
    return skipped(f"INFO replication reported role {role!r}")
