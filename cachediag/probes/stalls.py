"""Server-side stalls of one Redis: SLOWLOG GET and LATENCY LATEST, read-only and bounded.

A slow round trip is either the network or Redis's single thread busy with something
else (a slow command, a fork, an eviction cycle). SLOWLOG records commands whose
execution took longer than slowlog-log-slower-than; LATENCY LATEST records stalls by
event once latency-monitor-threshold is set. Reading both before and after cachediag's
own round trips tells which stalls happened while it measured.

Slow commands carry their arguments, and a slow SET carries a value (a session, a
token, a password in CONFIG SET requirepass): only the command's name, its number of
arguments and of keys are kept; every argument is replaced by a placeholder here,
before anything reaches the facts, a bundle or the screen. SLOWLOG RESET is a write
and is never sent.

Facts (under "stalls"):
  slowlog: entries [{id, at, age_s, duration_us, command, args, keys, masked, client,
           during}], length, log_slower_than_us, max_len, own_skipped, error
  latency: events [{event, at, age_s, latest_ms, max_ms, during}], threshold_ms, error
  server_time, since_id (the newest SLOWLOG id before cachediag's round trips)
"""

from __future__ import annotations

import re
from typing import Any

from cachediag.clients.resp import RedisClient, ReplyError
from cachediag.errors import ProbeError
from cachediag.safety.textsafe import safe_text

SLOWLOG_ENTRIES = 32
# Commands whose first argument names a subcommand: "DEBUG SLEEP", "CONFIG SET".
_SUBCOMMANDS = frozenset(
    b"ACL CLIENT CLUSTER COMMAND CONFIG DEBUG FUNCTION LATENCY MEMORY MODULE OBJECT "
    b"PUBSUB SCRIPT SLOWLOG XGROUP XINFO".split()
)
_WORD = re.compile(rb"[A-Za-z][A-Za-z0-9_-]{0,31}")
# SLOWLOG shows at most 32 arguments, the last one then reads "... (N more arguments)".
_MORE_ARGS = re.compile(rb"^\.\.\. \((\d+) more arguments\)$")
# Commands whose keys are counted by their numkeys argument (argv[2]); the *STORE ones
# also write to the key at argv[1].
_NUMKEYS_AT_2 = frozenset(b"EVAL EVALSHA EVAL_RO EVALSHA_RO FCALL FCALL_RO".split())
_DESTINATION_THEN_NUMKEYS = frozenset(b"ZUNIONSTORE ZINTERSTORE ZDIFFSTORE".split())
_PLACEHOLDERS_SHOWN = 6

BEFORE_COMMANDS: list[tuple[str, ...]] = [("SLOWLOG", "GET", "1"), ("LATENCY", "LATEST")]
_AFTER_COMMANDS: list[tuple[str, ...]] = [
    ("SLOWLOG", "GET", str(SLOWLOG_ENTRIES)),
    ("SLOWLOG", "LEN"),
    ("LATENCY", "LATEST"),
    ("TIME",),
    ("CONFIG", "GET", "slowlog-log-slower-than"),
    ("CONFIG", "GET", "slowlog-max-len"),
    ("CONFIG", "GET", "latency-monitor-threshold"),
]


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _events(reply: Any) -> dict[str, dict[str, Any]] | None:
    """LATENCY LATEST as {event: {at, latest_ms, max_ms}}; None when it was refused."""
    if not isinstance(reply, list):
        return None
    events = {}
    for row in reply:
        if isinstance(row, list) and len(row) >= 4 and all(isinstance(v, int) for v in row[1:4]):
            events[safe_text(row[0])] = {"at": row[1], "latest_ms": row[2], "max_ms": row[3]}
    return events


def parse_before(replies: list[Any]) -> dict[str, Any]:
    """The baseline from BEFORE_COMMANDS' replies: the newest SLOWLOG id, the latency events."""
    slowlog, latency = replies
    since_id = None
    if isinstance(slowlog, list):
        since_id = -1  # an empty slowlog: every entry read later is new
        if slowlog and isinstance(slowlog[0], list) and isinstance(slowlog[0][0], int):
            since_id = slowlog[0][0]
    return {"since_id": since_id, "events": _events(latency)}


def read_before(client: RedisClient) -> dict[str, Any]:
    try:
        return parse_before(client.pipeline(BEFORE_COMMANDS))
    except ProbeError:
        return {"since_id": None, "events": None}


def _config_int(reply: Any) -> int | None:
    if isinstance(reply, list) and len(reply) == 2 and isinstance(reply[1], bytes):
        text = reply[1].decode("ascii", "replace")
        return int(text) if text.lstrip("-").isdigit() else None
    return None


def _key_spec(reply: Any) -> tuple[int, int, int, bool] | None:
    """(first key, last key, step, movable) from one COMMAND INFO entry."""
    if not isinstance(reply, list) or len(reply) < 6:
        return None
    flags = reply[2] if isinstance(reply[2], list) else []
    first, last, step = reply[3:6]
    if not all(isinstance(v, int) for v in (first, last, step)):
        return None
    return first, last, step, b"movablekeys" in flags


def _argc(argv: list[bytes]) -> int:
    """The command's real argument count, SLOWLOG's "... (N more arguments)" included."""
    if argv and (more := _MORE_ARGS.match(argv[-1])):
        return len(argv) - 1 + int(more.group(1))
    return len(argv)


def _key_positions(
    name: bytes, argv: list[bytes], spec: tuple[int, int, int, bool] | None
) -> set[int] | None:
    """Which positions of argv are keys, or None when that cannot be told."""
    argc = _argc(argv)
    if name in _NUMKEYS_AT_2 or name in _DESTINATION_THEN_NUMKEYS:
        count = argv[2] if len(argv) > 2 else b""
        if not count.isdigit():
            return None
        keys = set(range(3, min(3 + int(count), argc)))
        return keys | {1} if name in _DESTINATION_THEN_NUMKEYS else keys
    if spec is None:
        return None
    first, last, step, movable = spec
    if movable and first == 0:
        return None
    if first <= 0 or step <= 0:
        return set()
    end = last if last >= 0 else argc + last
    return set(range(first, min(end, argc - 1) + 1, step))


def command_name(argv: list[bytes]) -> bytes:
    """The command as people name it: "SET", "DEBUG SLEEP" (subcommands that are words only)."""
    if not argv or not isinstance(argv[0], bytes):
        return b"?"
    name = argv[0].upper()
    if name in _SUBCOMMANDS and len(argv) > 1 and _WORD.fullmatch(argv[1]):
        return name + b" " + argv[1].upper()
    return name


def mask_entry(argv: list[bytes], spec: tuple[int, int, int, bool] | None) -> dict[str, Any]:
    """The command's name, its argument and key counts, and every argument as a placeholder."""
    name = command_name(argv)
    words = len(name.split())
    argc = _argc(argv)
    positions = _key_positions(argv[0].upper() if argv else b"", argv, spec)
    placeholders = [
        "<key>" if positions is not None and index in positions else "<arg>"
        for index in range(words, min(argc, words + _PLACEHOLDERS_SHOWN))
    ]
    hidden = argc - words - len(placeholders)
    masked = " ".join([safe_text(name), *placeholders])
    if hidden > 0:
        masked += f" … ({hidden} more)"
    return {
        "command": safe_text(name),
        "args": argc - words,
        "keys": len(positions) if positions is not None else None,
        "masked": masked,
    }


def _own(addr: str, own_addresses: tuple[str, ...]) -> bool:
    return bool(addr) and addr in own_addresses


def _entries(
    client: RedisClient,
    reply: list[Any],
    since_id: int | None,
    server_time: float | None,
    own_addresses: tuple[str, ...],
) -> tuple[list[dict[str, Any]], int]:
    raw = [
        row for row in reply if isinstance(row, list) and len(row) >= 4 and isinstance(row[3], list)
    ]
    kept = [row for row in raw if not _own(_text(row[4]) if len(row) > 4 else "", own_addresses)]
    names = sorted({command_name(row[3]) for row in kept if row[3]})
    specs: dict[bytes, tuple[int, int, int, bool] | None] = {}
    if names:
        # Redis 7 answers "object|encoding"; older servers know the container only.
        asks = [n.replace(b" ", b"|").lower() for n in names] + [n.split()[0] for n in names]
        try:
            infos = client.pipeline([("COMMAND", "INFO", ask) for ask in asks])
        except ProbeError:
            infos = [None] * len(asks)
        for index, name in enumerate(names):
            full, container = infos[index], infos[len(names) + index]
            first = full[0] if isinstance(full, list) and full else None
            second = container[0] if isinstance(container, list) and container else None
            specs[name] = _key_spec(first) or _key_spec(second)
    entries = []
    for row in kept:
        entry_id, at, duration, argv = row[0], row[1], row[2], row[3]
        argv = [a if isinstance(a, bytes) else str(a).encode() for a in argv]
        entries.append(
            {
                "id": entry_id,
                "at": at,
                "age_s": round(server_time - at, 1)
                if server_time and isinstance(at, int)
                else None,
                "duration_us": duration,
                **mask_entry(argv, specs.get(command_name(argv))),
                "client": safe_text(row[4]) if len(row) > 4 else None,
                "during": entry_id > since_id if isinstance(since_id, int) else None,
            }
        )
    return entries, len(raw) - len(kept)


def read(
    client: RedisClient, before: dict[str, Any] | None, own_addresses: tuple[str, ...] = ()
) -> dict[str, Any]:
    """SLOWLOG, LATENCY LATEST and their settings now, set against the baseline `before`."""
    before = before or {}
    out: dict[str, Any] = {
        "slowlog": {"entries": [], "length": None, "error": None},
        "latency": {"events": [], "threshold_ms": None, "error": None},
        "server_time": None,
        "since_id": before.get("since_id"),
    }
    try:
        slowlog, length, latency, now, slower, max_len, threshold = client.pipeline(_AFTER_COMMANDS)
    except ProbeError as error:
        out["slowlog"]["error"] = out["latency"]["error"] = error.message
        return out
    if isinstance(now, list) and len(now) == 2 and all(isinstance(v, bytes) for v in now):
        out["server_time"] = int(now[0]) + int(now[1]) / 1e6
    log = out["slowlog"]
    log.update(
        log_slower_than_us=_config_int(slower),
        max_len=_config_int(max_len),
        length=length if isinstance(length, int) else None,
    )
    if isinstance(slowlog, list):
        log["entries"], log["own_skipped"] = _entries(
            client, slowlog, before.get("since_id"), out["server_time"], own_addresses
        )
        # Only the newest SLOWLOG_ENTRIES are read: counts of a busier log are lower bounds.
        busier = len(slowlog) >= SLOWLOG_ENTRIES and (log["length"] or 0) > len(slowlog)
        log["truncated"] = len(slowlog) if busier else None
    else:
        log["error"] = f"SLOWLOG GET is unavailable: {_text(getattr(slowlog, 'text', slowlog))}"
    monitor = out["latency"]
    monitor["threshold_ms"] = _config_int(threshold)
    events = _events(latency)
    if events is None:
        why = latency.text if isinstance(latency, ReplyError) else _text(latency)
        monitor["error"] = f"LATENCY LATEST is unavailable: {why}"
        return out
    earlier = before.get("events")
    for name, event in events.items():
        seen = (earlier or {}).get(name)
        monitor["events"].append(
            {
                "event": name,
                **event,
                "age_s": round(out["server_time"] - event["at"], 1) if out["server_time"] else None,
                # A new event, or a newer latest sample of one: it happened while we measured.
                "during": (seen is None or event["at"] > seen["at"])
                if earlier is not None
                else None,
            }
        )
    return out


def own_addresses(client: RedisClient) -> tuple[str, ...]:
    """How SLOWLOG names this connection ("ip:port"), to leave cachediag's own commands out."""
    try:
        assert client.sock is not None
        host, port = client.sock.getsockname()[:2]
    except (AssertionError, OSError, ValueError, TypeError):
        return ()
    return (f"{host}:{port}", f"[{host}]:{port}")
