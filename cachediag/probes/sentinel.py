"""Redis Sentinel: which primary and replicas the sentinels name for a master, and whether
they agree. Read-only: SENTINEL GET-MASTER-ADDR-BY-NAME, MASTER, REPLICAS, CKQUORUM.

`discover` turns a redis+sentinel:// target into its data nodes (the primary the
sentinels agree on, first, then its replicas), each a node of the set; `read_all`
records what every sentinel said, the facts redis.sentinel judges.
"""

from __future__ import annotations

import dataclasses
from collections import Counter

from cachediag.probes.facts import SentinelAnswer, SystemDocument
from cachediag.targets.target import SentinelSpec, Target

SYSTEM_KIND = "redis-sentinel"


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _pairs(flat: object) -> dict[str, str]:
    if not isinstance(flat, list):
        return {}
    return {_text(flat[i]): _text(flat[i + 1]) for i in range(0, len(flat) - 1, 2)}


def _sentinel_target(spec: SentinelSpec, host: str, port: int, tls: Target) -> Target:
    return Target(
        "redis",
        f"sentinel {host}:{port}",
        tls.source,
        host=host,
        port=port,
        username=spec.username,
        password=spec.password,
        tls=tls.tls,
        tls_options=tls.tls_options,
    )


def ask(spec: SentinelSpec, host: str, port: int, timeout: float, like: Target) -> SentinelAnswer:
    """What one sentinel says of the master: its address, the replicas, quorum, flags."""
    from cachediag.clients.resp import RedisClient, ReplyError
    from cachediag.errors import ProbeError

    said: SentinelAnswer = {"address": f"{host}:{port}", "reachable": False, "error": None}
    try:
        with RedisClient(_sentinel_target(spec, host, port, like), timeout).connect() as client:
            addr, master, replicas, quorum = client.pipeline(
                [
                    ("SENTINEL", "GET-MASTER-ADDR-BY-NAME", spec.master),
                    ("SENTINEL", "MASTER", spec.master),
                    ("SENTINEL", "REPLICAS", spec.master),
                    ("SENTINEL", "CKQUORUM", spec.master),
                ]
            )
    except ProbeError as error:
        said["error"] = error.message
        return said
    said["reachable"] = True
    if isinstance(addr, ReplyError):
        said["error"] = f"SENTINEL GET-MASTER-ADDR-BY-NAME failed: {addr.text}"
        return said
    said["primary"] = f"{_text(addr[0])}:{_text(addr[1])}" if isinstance(addr, list) else None
    fields = _pairs(master) if not isinstance(master, ReplyError) else {}
    flags = fields.get("flags", "")
    said["flags"] = flags
    said["failover_in_progress"] = "failover_in_progress" in flags or (
        fields.get("failover-state", "none") not in ("none", "", "SENTINEL_FAILOVER_STATE_NONE")
    )
    said["other_sentinels"] = (
        int(fields["num-other-sentinels"])
        if fields.get("num-other-sentinels", "").isdigit()
        else None
    )
    said["quorum"] = int(fields["quorum"]) if fields.get("quorum", "").isdigit() else None
    said["replicas"] = [
        {
            "address": f"{entry.get('ip')}:{entry.get('port')}",
            "flags": entry.get("flags", ""),
            "link": entry.get("master-link-status"),
        }
        for entry in map(_pairs, replicas if isinstance(replicas, list) else [])
    ]
    said["ckquorum"] = {
        "ok": not isinstance(quorum, ReplyError),
        "message": quorum.text if isinstance(quorum, ReplyError) else _text(quorum),
    }
    return said


def read_all(target: Target, timeout: float) -> SystemDocument:
    """Every sentinel's answer, asked at once: the facts of the set (facts["systems"])."""
    from concurrent.futures import ThreadPoolExecutor

    spec = target.sentinel
    assert spec is not None
    with ThreadPoolExecutor(max_workers=len(spec.addresses)) as pool:
        answers = list(
            pool.map(lambda hp: ask(spec, hp[0], hp[1], timeout, target), spec.addresses)
        )
    return {
        "name": target.system or system_name(target),
        "kind": SYSTEM_KIND,
        "master": spec.master,
        "sentinels": answers,
    }


def system_name(target: Target) -> str:
    return target.name


def agreed_primary(answers: list[SentinelAnswer]) -> str | None:
    votes = Counter(a["primary"] for a in answers if a.get("primary"))
    return votes.most_common(1)[0][0] if votes else None


def _node(target: Target, address: str, role: str) -> Target:
    host, _, port = address.rpartition(":")
    return dataclasses.replace(
        target,
        name=f"{'rediss' if target.tls else 'redis'}://{host}:{port}/{target.db}",
        host=host,
        port=int(port),
        system=system_name(target),
        role=role,
    )


def discover(target: Target, timeout: float) -> list[Target]:
    """The set's data nodes: the primary most sentinels name, then its replicas. With no
    sentinel able to say, the target itself, which the probe reports as down, saying why."""
    facts = read_all(target, timeout)
    primary = agreed_primary(facts["sentinels"])
    if primary is None:
        return [dataclasses.replace(target, system=system_name(target), role="unresolved")]
    # Each node keeps the spec: check asks the sentinels again for redis.sentinel's facts.
    replicas: list[str] = []
    for answer in facts["sentinels"]:
        for replica in answer.get("replicas") or []:
            if replica["address"] not in replicas and "s_down" not in replica["flags"]:
                replicas.append(replica["address"])
    return [_node(target, primary, "primary")] + [_node(target, r, "replica") for r in replicas]
