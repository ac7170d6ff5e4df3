"""A Redis target's readings, as the bundle's files: read-only commands, each under the timeout.

Sent, in this order, over one connection: INFO ALL, then (after the snapshot interval)
CONFIG GET *, DBSIZE, SLOWLOG GET 128, LATENCY LATEST, LATENCY DOCTOR, MEMORY DOCTOR,
MEMORY STATS, CLIENT LIST, INFO COMMANDSTATS, INFO ERRORSTATS, ROLE, CLUSTER INFO and
CLUSTER NODES (when clustered), ACL LIST, and INFO ALL again (rates). Never KEYS, never
a write, never SLOWLOG RESET. Once a command times out or the connection drops, the rest
are not sent: a hung server costs one timeout, not one per command.

Each reply is scrubbed where its structure is known: CONFIG GET values of credential
settings, SLOWLOG argument values (a slow SET carries its value), CLIENT LIST's `cmd`
arguments, ACL LIST passwords and hashes. The text pass (safety/redact) runs after.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from typing import Any

from cachediag.bundle.files import BundleFile, target_folder
from cachediag.clients.resp import ReplyError
from cachediag.errors import ProbeError, ServerRefused
from cachediag.safety.redact import MASK, Redactions, redact_acl_rules
from cachediag.safety.textsafe import safe_text
from cachediag.targets.target import Target

SLOWLOG_ENTRIES = 128
# CONFIG GET * names whose value is a credential (requirepass, masterauth, tls-*-pass...).
_SECRET_CONFIG = re.compile(r"(?i)(pass|auth|secret|token)")
_SECRET_CONFIG_NOT = frozenset({"masteruser", "tls-auth-clients", "tls-replication"})


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _plain(value: Any) -> Any:
    """A RESP reply as JSON data: bytes as text, lists as lists."""
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, bytes):
        return safe_text(value)
    return value


def config_lines(reply: Any) -> tuple[str, dict[str, int]]:
    """CONFIG GET *: `name value` lines, sorted, credential values masked."""
    if not isinstance(reply, list):
        raise ServerRefused(f"CONFIG GET answered {type(reply).__name__}")
    tally = Redactions()
    lines = []
    for name, value in sorted(zip(reply[::2], reply[1::2], strict=False), key=lambda p: p[0]):
        key, text = _text(name), _text(value)
        if text and _SECRET_CONFIG.search(key) and key not in _SECRET_CONFIG_NOT:
            text = MASK
            tally.add("config_secret")
        lines.append(f"{safe_text(key)} {safe_text(text)}\n")
    return "".join(lines), tally.counts


def slowlog_json(reply: Any) -> tuple[str, dict[str, int]]:
    """SLOWLOG GET: each entry's command, argument count and placeholders; no argument value."""
    from cachediag.probes.stalls import mask_entry

    if not isinstance(reply, list):
        raise ServerRefused(f"SLOWLOG GET answered {type(reply).__name__}")
    tally = Redactions()
    entries = []
    for row in reply:
        if not (isinstance(row, list) and len(row) >= 4 and isinstance(row[3], list)):
            continue
        argv = [a if isinstance(a, bytes) else str(a).encode() for a in row[3]]
        masked = mask_entry(argv, None)
        tally.add("slowlog_argument", masked["args"])
        entries.append(
            {
                "id": row[0],
                "at": row[1],
                "duration_us": row[2],
                **masked,
                "client": safe_text(row[4]) if len(row) > 4 else None,
                "client_name": safe_text(row[5]) if len(row) > 5 else None,
            }
        )
    return json.dumps(entries, indent=2) + "\n", tally.counts


_CMD_FIELD = re.compile(r"(?<!\S)cmd=(\S+)")


def client_list(reply: Any) -> tuple[str, dict[str, int]]:
    """CLIENT LIST with addresses and names kept; `cmd` reduced to the command's name."""
    tally = Redactions()

    def command_only(match: re.Match[str]) -> str:
        name = re.match(r"[A-Za-z0-9_|-]*", match.group(1))
        kept = name.group(0) if name else ""
        if kept != match.group(1):
            tally.add("client_cmd_args")
        return f"cmd={kept}"

    return _CMD_FIELD.sub(command_only, safe_text(_text(reply)).replace("\\n", "\n")), tally.counts


def acl_list(reply: Any) -> tuple[str, dict[str, int]]:
    if not isinstance(reply, list):
        raise ServerRefused(f"ACL LIST answered {type(reply).__name__}")
    tally = Redactions()
    text = redact_acl_rules("".join(f"{safe_text(_text(rule))}\n" for rule in reply), tally)
    return text, tally.counts


def _raw(reply: Any) -> str:
    """A text reply line by line, each made safe (server text is untrusted: someone will
    `cat` these files), with Redis' CRLF as plain newlines."""
    return "".join(f"{safe_text(line)}\n" for line in _text(reply).splitlines())


def _memory_stats(reply: Any) -> str:
    from cachediag.server.memory import parse_memory_stats

    return json.dumps(parse_memory_stats(reply), indent=2) + "\n"


def _json(reply: Any) -> str:
    return json.dumps(_plain(reply), indent=2) + "\n"


Formatter = Callable[[Any], "str | tuple[str, dict[str, int]]"]

# (file, the command, how its reply becomes the file), after the first INFO ALL.
COMMANDS: tuple[tuple[str, tuple[str, ...], Formatter], ...] = (
    ("config.txt", ("CONFIG", "GET", "*"), config_lines),
    ("dbsize.txt", ("DBSIZE",), _raw),
    ("slowlog.json", ("SLOWLOG", "GET", str(SLOWLOG_ENTRIES)), slowlog_json),
    ("latency-latest.json", ("LATENCY", "LATEST"), _json),
    ("latency-doctor.txt", ("LATENCY", "DOCTOR"), _raw),
    ("memory-doctor.txt", ("MEMORY", "DOCTOR"), _raw),
    ("memory-stats.json", ("MEMORY", "STATS"), _memory_stats),
    ("client-list.txt", ("CLIENT", "LIST"), client_list),
    ("commandstats.txt", ("INFO", "COMMANDSTATS"), _raw),
    ("errorstats.txt", ("INFO", "ERRORSTATS"), _raw),
    ("role.json", ("ROLE",), _json),
)
CLUSTER_COMMANDS: tuple[tuple[str, tuple[str, ...], Formatter], ...] = (
    ("cluster-info.txt", ("CLUSTER", "INFO"), _raw),
    ("cluster-nodes.txt", ("CLUSTER", "NODES"), _raw),
)
ACL_COMMAND: tuple[str, tuple[str, ...], Formatter] = ("acl-list.txt", ("ACL", "LIST"), acl_list)

# Every command a Redis collector may send (tests hold it read-only).
SENT: tuple[tuple[str, ...], ...] = (
    ("INFO", "ALL"),
    *(c for _, c, _ in COMMANDS),
    *(c for _, c, _ in CLUSTER_COMMANDS),
    ACL_COMMAND[1],
)


class _Session:
    """One connection's run of commands; after a failure that lost the connection, the rest
    are recorded as not sent."""

    def __init__(self, folder: str, client: Any) -> None:
        self.folder = folder
        self.client = client
        self.lost: str | None = None
        self.files: list[BundleFile] = []
        self.replies: dict[str, Any] = {}

    def run(self, name: str, command: tuple[str, ...], formatter: Formatter) -> None:
        file = BundleFile(f"{self.folder}/{name}", " ".join(command), patterns="server")
        self.files.append(file)
        if self.lost is not None:
            file.error = f"not sent: {self.lost}"
            return
        started = time.perf_counter()
        try:
            reply = self.client.call(*command)
            self.replies[name] = reply
            if isinstance(reply, ReplyError):
                file.error = f"{' '.join(command)} refused: {safe_text(reply.text)}"
            else:
                made = formatter(reply)
                file.text, file.redactions = made if isinstance(made, tuple) else (made, {})
        except ProbeError as error:
            file.error = error.message
            if error.kind in ("timeout", "closed", "unreachable", "refused", "protocol"):
                self.lost = f"an earlier command failed ({error.message})"
        except Exception as exc:  # noqa: BLE001 - a reply we cannot format is recorded
            file.error = f"{type(exc).__name__}: {exc}"
        file.duration_ms = round((time.perf_counter() - started) * 1000, 3)


def collect(
    target: Target, timeout: float, interval: float, facts_done: threading.Event | None = None
) -> tuple[list[BundleFile], Any]:
    """The target's files, and its MEMORY DOCTOR / MEMORY STATS replies (for the facts).

    The first INFO ALL goes out at once, beside the probe that collects the facts: a hung
    or dead server shows there, and costs its timeout once for both. The other commands
    wait for `facts_done`: CLIENT LIST on a server with many clients can take tens of
    milliseconds, and sent while the probe measures it would show in SLOWLOG as a stall
    of the server's own (redis.slow_commands) that cachediag itself caused.
    """
    from cachediag.backends import backend_for

    folder = f"redis/{target_folder(target.address)}"
    started = time.perf_counter()
    try:
        client = backend_for(target).connect(target, timeout)
    except ProbeError as error:
        file = BundleFile(f"{folder}/info-1.txt", "INFO ALL", error=f"connect: {error.message}")
        file.duration_ms = round((time.perf_counter() - started) * 1000, 3)
        return [file], {}
    with client:
        session = _Session(folder, client)
        first_at = time.monotonic()
        session.run("info-1.txt", ("INFO", "ALL"), _raw)
        if facts_done is not None and session.lost is None:
            facts_done.wait()
        for name, command, formatter in COMMANDS:
            session.run(name, command, formatter)
        info = _text(session.replies.get("info-1.txt", b""))
        if re.search(r"(?m)^cluster_enabled:1\b", info):
            for name, command, formatter in CLUSTER_COMMANDS:
                session.run(name, command, formatter)
        session.run(*ACL_COMMAND)
        if session.lost is None:
            remaining = interval - (time.monotonic() - first_at)
            if remaining > 0:
                time.sleep(remaining)
        session.run("info-2.txt", ("INFO", "ALL"), _raw)
    return session.files, _memory_facts(session)


def _memory_facts(session: _Session) -> dict[str, Any]:
    """MEMORY DOCTOR and MEMORY STATS as `memory` reads them (server/memory.py's shape)."""
    from cachediag.server.memory import parse_memory_stats

    out: dict[str, Any] = {}
    files = {f.path.rsplit("/", 1)[-1]: f for f in session.files}
    doctor, stats = files.get("memory-doctor.txt"), files.get("memory-stats.json")
    if doctor is not None:
        out["memory_doctor"] = {
            "available": doctor.error is None,
            "text": _text(session.replies["memory-doctor.txt"]).strip()
            if doctor.error is None
            else None,
            "reason": doctor.error,
        }
    if stats is not None:
        out["memory_stats"] = {
            "available": stats.error is None,
            "values": parse_memory_stats(session.replies.get("memory-stats.json"))
            if stats.error is None
            else {},
            "reason": stats.error,
        }
    return out
