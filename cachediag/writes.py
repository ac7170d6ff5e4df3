"""Every write cachediag makes to a server: planned, confirmed, applied, read back.

Diagnosis never writes. The commands that do (`eviction-policy --set` today, `purge`
next) build their writes here and nowhere else (tests/unit/test_layering.py fails on a write
command built in any other module), in four steps:

1. plan: a `WritePlan` per target: the commands it will send, and what they change,
   from what to what (or how many keys), as the confirmation shows it;
2. confirm: the plans are shown, then a dry run stops there, `--yes` goes on, and
   anything else asks on a terminal and refuses everywhere else;
3. apply: the commands are sent, per target concurrently;
4. read back: what the server holds afterwards is read and compared with the plan, so
   "done" means verified, not merely sent.

A new kind of write (purge's SCAN + UNLINK batches, Memcached `md`) is one more
`Action`, a plan builder and an `_apply_*` function with its read-back. The typer
prompt stays in the CLI: it is handed in as `ask`.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, TextIO

from cachediag.errors import ProbeError, UsageError
from cachediag.safety.textsafe import safe_text
from cachediag.targets.target import Target

Arg = str | bytes | int

# Which key the read-back of a delete checks in one EXISTS / one write of `mg`s.
READ_BACK_BATCH = 1000


class Action(str, Enum):
    CONFIG = "config"  # Redis CONFIG SET, read back with CONFIG GET; CONFIG REWRITE after
    DELETE = "delete"  # Redis UNLINK batches, Memcached md per key; read back as misses
    RESTORE = "restore"  # purge --restore: RESTORE of what a --backup file holds


class Mode(str, Enum):
    DRY_RUN = "dry-run"  # show the plan, change nothing (purge's default)
    ASK = "ask"  # show the plan and ask on a terminal; refuse anywhere else
    YES = "yes"  # show the plan and apply it (--yes)


@dataclass(frozen=True)
class Command:
    """One write as it goes on the wire, word by word."""

    words: tuple[Arg, ...]

    def shell(self) -> str:
        """The command as redis-cli takes it after its connection flags, quoted for a shell."""
        return shlex.join(
            w.decode("utf-8", "backslashreplace") if isinstance(w, bytes) else str(w)
            for w in self.words
        )


@dataclass(frozen=True)
class Change:
    """What a plan changes: `subject` goes from `before` to `after`; `shown` is how the
    confirmation says it. `count` is the number of items touched when that is a count
    (keys): the confirmation adds the counts up over the targets."""

    subject: str
    before: Any
    after: Any
    shown: str
    count: int | None = None


@dataclass(frozen=True)
class WritePlan:
    target: Target
    action: Action
    commands: tuple[Command, ...]
    changes: tuple[Change, ...]
    notes: tuple[str, ...] = ()  # further lines of the confirmation (CONFIG REWRITE)
    keys: tuple[bytes, ...] = ()  # a delete's keys, for its read-back

    def lines(self) -> list[str]:
        return [change.shown for change in self.changes] + list(self.notes)


@dataclass
class Outcome:
    """What applying a plan did, and what reading the server back found."""

    plan: WritePlan
    applied: list[str] = field(default_factory=list)  # the subjects the server accepted
    read_back: dict[str, str | None] = field(default_factory=dict)
    verified: bool = False
    rewrite: dict[str, Any] | None = None
    deleted: int = 0
    still_present: int = 0
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        if self.plan.action is Action.DELETE:
            return {
                "action": "delete",
                "matched": sum(c.count or 0 for c in self.plan.changes),
                "deleted": self.deleted,
                "still_present": self.still_present,
                "verified": self.verified,
                "error": self.error,
            }
        changes = []
        for change in self.plan.changes:
            entry: dict[str, Any] = {
                "parameter": change.subject,
                "from": change.before,
                "to": change.after,
            }
            if change.subject in self.read_back:
                entry["read_back"] = self.read_back[change.subject]
            changes.append(entry)
        return {
            "changes": changes,
            "applied": list(self.applied),
            "verified": self.verified,
            "rewrite": self.rewrite,
            "error": self.error,
        }


# -- commands: the only place they are built -------------------------------------------


def config_set(*pairs: tuple[str, Any]) -> Command:
    """CONFIG SET name value [name value ...] (several at once: Redis 7 and later)."""
    return Command(("CONFIG", "SET", *(str(v) for pair in pairs for v in pair)))


def config_rewrite() -> Command:
    return Command(("CONFIG", "REWRITE"))


def unlink(keys: Sequence[bytes]) -> Command:
    """UNLINK: Redis frees the values in the background, so a big batch does not block it."""
    return Command(("UNLINK", *keys))


def meta_delete(key: bytes) -> Command:
    return Command((b"md", key))


# -- plans -----------------------------------------------------------------------------


def config_plan(
    target: Target,
    settings: Sequence[tuple[str, Any, Any]],
    rewrite: bool,
    show: Callable[[str, Any], str] = lambda _name, value: str(value),
) -> WritePlan:
    """CONFIG SET each (name, from, to) in one command, then CONFIG REWRITE when asked.

    `show(name, value)` says a value as the confirmation prints it (sizes readable).
    """
    changes = tuple(
        Change(name, before, after, f"CONFIG SET {name} {show(name, before)} → {show(name, after)}")
        for name, before, after in settings
    )
    commands = [config_set(*((c.subject, c.after) for c in changes))] if changes else []
    notes: tuple[str, ...] = ()
    if rewrite:
        commands.append(config_rewrite())
        notes = ("CONFIG REWRITE (persist the configuration file)",)
    return WritePlan(target, Action.CONFIG, tuple(commands), changes, notes)


def delete_plan(target: Target, keys: Sequence[bytes], what: str, batch: int = 500) -> WritePlan:
    """Delete `keys` (what the scan matched, `what` says how: "matching 'session:*'"):
    UNLINK in batches on Redis, one `md` each on Memcached.

    Memcached keys the text protocol cannot carry (spaces, controls: sent raw they
    would become commands of their own) are never sent; the plan says how many.
    """
    from cachediag.clients.memcache_text import is_text_key

    if target.kind == "redis":
        sendable = list(keys)
        commands = tuple(unlink(sendable[i : i + batch]) for i in range(0, len(sendable), batch))
        how = f"UNLINK {_many(len(sendable), 'key')} {what} in {_many(len(commands), 'batch')}"
        how += f" of {batch:,}"
    else:
        sendable = [key for key in keys if is_text_key(key)]
        commands = tuple(meta_delete(key) for key in sendable)
        how = f"md {_many(len(sendable), 'key')} {what}"
    notes: tuple[str, ...] = ()
    if len(sendable) < len(keys):
        unsendable = len(keys) - len(sendable)
        notes = (f"{_many(unsendable, 'key')} left alone: the text protocol cannot carry them",)
    change = Change(f"keys {what}", len(sendable), 0, how, count=len(sendable))
    return WritePlan(target, Action.DELETE, commands, (change,), notes, tuple(sendable))


# -- confirm ---------------------------------------------------------------------------


def plan_text(plans: Sequence[WritePlan], header: str = "cachediag will change:") -> str:
    lines = [header]
    for plan in plans:
        name = safe_text(plan.target.name)
        lines.extend(f"  {name}: {line}" for line in plan.lines())
    counted = [c.count for plan in plans for c in plan.changes if c.count is not None]
    if counted:
        targets = sum(1 for plan in plans if any(c.count for c in plan.changes))
        lines.append(f"in all: {_many(sum(counted), 'key')} on {_many(targets, 'target')}")
    return "\n".join(lines) + "\n"


def confirm(
    plans: Sequence[WritePlan],
    mode: Mode,
    *,
    what: str,
    out: TextIO,
    ask: Callable[[str], bool],
    is_terminal: Callable[[], bool] | None = None,
    dry_run_hint: str = "",
) -> bool:
    """Show the plans on `out`; True when they are to be applied.

    A dry run shows them and returns False. Without --yes, the question is asked only
    where a person can answer it (stdin a terminal): a script or a cron job piping into
    cachediag must never change a server because some input happened to say "y".
    """
    out.write(plan_text(plans))
    out.flush()
    if mode is Mode.DRY_RUN:
        out.write(f"dry run: nothing was changed{dry_run_hint}\n")
        out.flush()
        return False
    if mode is Mode.YES:
        return True
    terminal = is_terminal() if is_terminal is not None else sys.stdin.isatty()
    if not terminal:
        raise UsageError(
            f"refusing to change {what} without confirmation: "
            "not on a terminal; run again with --yes to apply"
        )
    if not ask("Apply these changes?"):
        raise UsageError("not confirmed: nothing was changed")
    return True


# -- apply and read back ---------------------------------------------------------------


def apply(plan: WritePlan, timeout: float) -> Outcome:
    """Send the plan's commands and read the server back; failures are in the outcome."""
    outcome = Outcome(plan)
    try:
        if plan.action is Action.CONFIG:
            _apply_config(plan, timeout, outcome)
        elif plan.target.kind == "redis":
            _apply_redis_delete(plan, timeout, outcome)
        else:
            _apply_memcached_delete(plan, timeout, outcome)
    except ProbeError as error:
        outcome.error = error.message
    return outcome


def apply_all(plans: Sequence[WritePlan], timeout: float) -> list[Outcome]:
    """Every plan applied, all targets at once; the outcomes in the order of the plans."""
    from cachediag.probes.fanout import per_target

    by_name = {plan.target.name: plan for plan in plans}
    return per_target([plan.target for plan in plans], lambda t: apply(by_name[t.name], timeout))


def _apply_config(plan: WritePlan, timeout: float, outcome: Outcome) -> None:
    from cachediag.clients.resp import RedisClient, ReplyError

    with RedisClient(plan.target, timeout).connect() as client:
        if plan.changes:
            # Redis 7 applies several parameters in one CONFIG SET all-or-nothing, so a
            # refused maxmemory cannot leave the policy changed behind it.
            reply = client.call(*plan.commands[0].words)
            if isinstance(reply, ReplyError) and "wrong number of arguments" in reply.text:
                for change in plan.changes:  # Redis < 7: one parameter per call
                    one = client.call(*config_set((change.subject, change.after)).words)
                    if isinstance(one, ReplyError):
                        applied = ", ".join(outcome.applied) or "nothing"
                        outcome.error = (
                            f"CONFIG SET {change.subject} failed: {one.text} "
                            f"(already applied: {applied})"
                        )
                        return
                    outcome.applied.append(change.subject)
            elif isinstance(reply, ReplyError):
                outcome.error = f"CONFIG SET failed, nothing was changed: {reply.text}"
                return
            else:
                outcome.applied = [change.subject for change in plan.changes]
        mismatches = []
        for change in plan.changes:
            reply = client.call("CONFIG", "GET", change.subject)
            now = (
                reply[1].decode("utf-8", "replace")
                if isinstance(reply, list) and len(reply) == 2
                else None
            )
            outcome.read_back[change.subject] = now
            if now != str(change.after):
                mismatches.append(f"{change.subject} reads back as {now!r}, not {change.after!r}")
        if mismatches:
            outcome.error = "; ".join(mismatches)
            return
        outcome.verified = True
        if any(command == config_rewrite() for command in plan.commands):
            reply = client.call(*config_rewrite().words)
            if isinstance(reply, ReplyError):
                outcome.rewrite = {"ok": False, "error": f"CONFIG REWRITE failed: {reply.text}"}
                outcome.error = (
                    outcome.rewrite["error"]
                    + " (the change is live but will not survive a restart)"
                )
            else:
                outcome.rewrite = {"ok": True, "error": None}


def _apply_redis_delete(plan: WritePlan, timeout: float, outcome: Outcome) -> None:
    from cachediag.clients.resp import RedisClient, ReplyError

    with RedisClient(plan.target, timeout).connect() as client:
        for command in plan.commands:
            reply = client.call(*command.words)
            if isinstance(reply, ReplyError):
                outcome.error = f"UNLINK failed after {outcome.deleted:,} keys: {reply.text}"
                return
            outcome.deleted += int(reply)
        keys = plan.keys
        for start in range(0, len(keys), READ_BACK_BATCH):
            reply = client.call("EXISTS", *keys[start : start + READ_BACK_BATCH])
            if isinstance(reply, ReplyError):
                outcome.error = f"reading back failed: {reply.text}"
                return
            outcome.still_present += int(reply)
    _judge_delete(outcome)


def _apply_memcached_delete(plan: WritePlan, timeout: float, outcome: Outcome) -> None:
    from cachediag.clients.memcache_text import MemcachedClient
    from cachediag.clients.net import Deadline

    with MemcachedClient(plan.target, timeout).connect() as client:
        for start in range(0, len(plan.commands), READ_BACK_BATCH):
            batch = plan.commands[start : start + READ_BACK_BATCH]
            client.send(b"".join(b" ".join(_bytes(w) for w in c.words) + b"\r\n" for c in batch))
            deadline = Deadline(timeout)
            for _ in batch:
                line = client.read_line(deadline)
                if line == b"HD":
                    outcome.deleted += 1
                elif line != b"NF":  # NF: gone already (expired, evicted, deleted meanwhile)
                    outcome.error = (
                        f"md failed after {outcome.deleted:,} keys: {safe_text(line[:80])}"
                        + (" (meta commands need Memcached 1.6+)" if line == b"ERROR" else "")
                    )
                    return
        for start in range(0, len(plan.keys), READ_BACK_BATCH):
            keys = plan.keys[start : start + READ_BACK_BATCH]
            client.send(b"".join(b"mg " + key + b"\r\n" for key in keys))
            deadline = Deadline(timeout)
            for _ in keys:
                outcome.still_present += client.read_line(deadline) != b"EN"
    _judge_delete(outcome)


def _judge_delete(outcome: Outcome) -> None:
    if outcome.still_present:
        # Deleted and there again: the application wrote them back meanwhile (or the
        # delete did not take); either way the keyspace is not what the plan promised.
        outcome.error = f"{_many(outcome.still_present, 'key')} still there after the delete"
    else:
        outcome.verified = True


def _many(count: int, noun: str) -> str:
    plural = noun + ("es" if noun.endswith("ch") else "s")
    return f"{count:,} {noun if count == 1 else plural}"


def _bytes(word: Arg) -> bytes:
    return word if isinstance(word, bytes) else str(word).encode()


# -- purge: the streaming deletes of `cachediag purge` -----------------------------------
# A pattern purge cannot hold its keys in a plan (a million of them arrive batch by batch
# from SCAN or the crawler): its plan holds the count the dry run found, the confirmation
# is the same `confirm`, and each batch is applied here, on a connection the purge holds,
# by the functions below. They build every delete, guarded delete and RESTORE it sends.

# A guarded delete: the key is removed only if it still holds what the purge read and
# judged (its type; its length and first bytes when a value filter read them; its TTL and
# idle time against the filter's bound). Idle time first: the reads after it touch the key.
# ARGV: type ('' any), length ('' unchecked), head ('' unchecked; '=' + bytes), ttl rule
# ('' any, 'none', or 'above:<ms>'), idle rule ('' or '<seconds>'), '1' for a blocking DEL,
# the DUMP a --backup kept ('' unchecked: with it, the key goes only if it still holds
# exactly what the backup holds).
# Returns 1 deleted, 0 changed (left alone), -1 gone already.
GUARDED_DELETE_SCRIPT = """
local key = KEYS[1]
if ARGV[5] ~= '' then
  local idle = redis.call('OBJECT', 'IDLETIME', key)
  if not idle then return -1 end
  if idle < tonumber(ARGV[5]) then return 0 end
end
local t = redis.call('TYPE', key)['ok']
if t == 'none' then return -1 end
if ARGV[1] ~= '' and t ~= ARGV[1] then return 0 end
if ARGV[4] == 'none' then
  if redis.call('PTTL', key) ~= -1 then return 0 end
elseif ARGV[4] ~= '' then
  local pttl = redis.call('PTTL', key)
  if pttl < 0 or pttl <= tonumber(string.sub(ARGV[4], 7)) then return 0 end
end
if ARGV[2] ~= '' then
  local lengths = {string='STRLEN', list='LLEN', set='SCARD', zset='ZCARD', hash='HLEN',
                   stream='XLEN'}
  if redis.call(lengths[t], key) ~= tonumber(ARGV[2]) then return 0 end
end
if ARGV[3] ~= '' then
  local head = string.sub(ARGV[3], 2)
  if #head > 0 and redis.call('GETRANGE', key, 0, #head - 1) ~= head then return 0 end
end
if ARGV[7] ~= '' and redis.call('DUMP', key) ~= ARGV[7] then return 0 end
if ARGV[6] == '1' then redis.call('DEL', key) else redis.call('UNLINK', key) end
return 1
"""


# Delete a batch of keys backed up just before, each only if it still holds exactly what
# its backup holds. One call for the batch: a script call per key would cost the server
# more than the deletes. ARGV[1] '1' for a blocking DEL; ARGV[2] one letter per key
# (`backup_guard`): 's' for a string stored plain, compared by its value (GET: a fraction
# of a DUMP's cost, and a string of the same bytes restores the same), 'd' for any other,
# compared by its DUMP; then the value or DUMP of each key. The keys that pass go in one
# UNLINK (DEL) per thousand. Returns {deleted, changed (left alone), gone}.
BACKED_UP_DELETE_SCRIPT = """
local kinds = ARGV[2]
local doomed, changed, gone = {}, 0, 0
for i, key in ipairs(KEYS) do
  local have
  if string.byte(kinds, i) == 115 then
    have = redis.pcall('GET', key)
  else
    have = redis.call('DUMP', key)
  end
  if not have then
    gone = gone + 1
  elseif have ~= ARGV[i + 2] then
    changed = changed + 1  -- another value, or no string now (GET's error)
  else
    doomed[#doomed + 1] = key
  end
end
local delete = ARGV[1] == '1' and 'DEL' or 'UNLINK'
for first = 1, #doomed, 1000 do
  redis.call(delete, unpack(doomed, first, math.min(first + 999, #doomed)))
end
return {#doomed, changed, gone}
"""


def backup_guard(dump: bytes) -> tuple[bytes, bytes]:
    """What BACKED_UP_DELETE_SCRIPT compares a backed-up key with: (b's', the value) for
    a string whose DUMP holds it plain, else (b'd', the DUMP).

    A string's DUMP is its type (0), the RDB string, the RDB version (2 bytes) and a
    CRC64 (8 bytes); the RDB string is a 6- or 14-bit length and the bytes, or an
    integer, LZF or long-length encoding (those keep their DUMP). A payload read wrong
    can only make the comparison fail: the key is then left alone, never deleted.
    """
    size = len(dump)
    if size >= 12 and dump[0] == 0:
        head = dump[1]
        if head < 0x40:  # a 6-bit length
            if head + 12 == size:
                return b"s", dump[2 : size - 10]
        elif head < 0x80 and ((head & 0x3F) << 8 | dump[2]) + 13 == size:  # 14-bit
            return b"s", dump[3 : size - 10]
    return b"d", dump


@dataclass(frozen=True)
class Expectation:
    """What a guarded delete compares: what was read of the key and the filter's bounds."""

    type: str
    length: int | None = None
    head: bytes | None = None
    ttl_rule: str = ""  # "", "none", "above:<ms>"
    idle_at_least_s: int | None = None
    dump: bytes | None = None  # the DUMP payload a backup kept


@dataclass
class DeleteTally:
    """What a batch of deletes did, key by key: removed, gone already, changed (skipped)."""

    deleted: int = 0
    gone: int = 0
    changed: int = 0
    failed: int = 0
    error: str | None = None  # the first failure's reply
    # A cluster node's MOVED / ASK for a batch: its slot has (or is getting) another
    # owner. Unlinks: (keys, slot), to be sent to that owner; guarded deletes: their
    # slots, which this purge could not finish.
    redirected: list[tuple[list[bytes], int]] = field(default_factory=list)
    unfinished_slots: set[int] = field(default_factory=set)


def _pack(*words: bytes) -> bytes:
    from cachediag.clients.resp import pack

    return pack(*words)


_UNLINK_HEAD = b"$6\r\nUNLINK\r\n"
_DEL_HEAD = b"$3\r\nDEL\r\n"


def unlink_batch(keys: Sequence[bytes], sync: bool = False) -> bytes:
    """UNLINK (DEL with `sync`: servers before 4.0, or --sync) of `keys`, packed as RESP.

    Packed here by hand, one join: a million keys go through this."""
    from cachediag.clients.resp import key_args

    head = b"*%d\r\n" % (len(keys) + 1) + (_DEL_HEAD if sync else _UNLINK_HEAD)
    return head + b"".join(key_args(list(keys)))


def script_load() -> bytes:
    return _pack(b"SCRIPT", b"LOAD", GUARDED_DELETE_SCRIPT.encode())


def guarded_delete(key: bytes, expect: Expectation, sha: bytes, sync: bool = False) -> bytes:
    head = b"" if expect.head is None else b"=" + expect.head
    length = b"" if expect.length is None else b"%d" % expect.length
    idle = b"" if expect.idle_at_least_s is None else b"%d" % expect.idle_at_least_s
    return _pack(
        b"EVALSHA",
        sha,
        b"1",
        key,
        expect.type.encode(),
        length,
        head,
        expect.ttl_rule.encode(),
        idle,
        b"1" if sync else b"0",
        expect.dump or b"",
    )


def restore_command(key: bytes, expire_at_ms: int, dump: bytes, replace: bool) -> bytes:
    """RESTORE with the absolute expiry the backup recorded (0: none; ABSTTL: Redis 5+)."""
    words = [b"RESTORE", key, b"%d" % expire_at_ms, dump]
    if expire_at_ms:
        words.append(b"ABSTTL")
    if replace:
        words.append(b"REPLACE")
    return _pack(*words)


def memcached_delete(key: bytes, cas: int | None = None) -> bytes:
    """`md KEY` or, comparing the CAS the crawler saw, `md KEY C<cas>` (EX when it changed)."""
    return b"md " + key + (b" C%d" % cas if cas is not None else b"") + b"\r\n"


def load_guarded_delete(client: Any, script: str = GUARDED_DELETE_SCRIPT) -> bytes:
    """SCRIPT LOAD a guarded delete on `client`; its SHA1 for EVALSHA."""
    from cachediag.clients.resp import ReplyError

    client.send(_pack(b"SCRIPT", b"LOAD", script.encode()))
    reply = client.read_replies(1)[0]
    if isinstance(reply, ReplyError):
        raise ProbeError(f"cannot load the guarded-delete script: {reply.text}")
    return bytes(reply)


def apply_unlinks(client: Any, batches: Sequence[Sequence[bytes]], sync: bool) -> DeleteTally:
    """UNLINK (or DEL) each batch, all in one pipelined write; a key not removed was gone."""
    batches = [batch for batch in batches if batch]
    if not batches:
        return DeleteTally()
    client.send(b"".join(unlink_batch(batch, sync) for batch in batches))
    return tally_unlinks(batches, client.read_replies(len(batches)), sync)


def unlinks_riding(batches: Sequence[Sequence[bytes]], sync: bool) -> bytes:
    """The UNLINK (DEL) batches as one payload, for a scan to send behind its next SCAN;
    their replies go to `tally_unlinks`."""
    return b"".join(unlink_batch(batch, sync) for batch in batches if batch)


def tally_unlinks(
    batches: Sequence[Sequence[bytes]], replies: Sequence[Any], sync: bool
) -> DeleteTally:
    from cachediag.clients.resp import ReplyError
    from cachediag.keyspace.routing import redirection

    tally = DeleteTally()
    batches = [batch for batch in batches if batch]
    for batch, reply in zip(batches, replies, strict=True):
        moved = redirection(reply)
        if moved is not None:
            tally.redirected.append((list(batch), moved[1]))
            continue
        if isinstance(reply, ReplyError):
            tally.failed += len(batch)
            tally.error = tally.error or f"{'DEL' if sync else 'UNLINK'} failed: {reply.text}"
            continue
        tally.deleted += int(reply)
        tally.gone += len(batch) - int(reply)
    return tally


def apply_redirected_unlinks(
    router: Any, redirected: Sequence[tuple[list[bytes], int]], sync: bool
) -> DeleteTally:
    """The unlinks a cluster node redirected, sent to the slot's owner now (a
    `keyspace.routing.SlotRouter`: MOVED corrects its map, ASK is sent with ASKING). The
    keys matched by name, which a move does not change; a slot that still cannot be
    reached is reported unfinished, its keys neither deleted nor failed."""
    from cachediag.clients.resp import ReplyError
    from cachediag.errors import ProbeError

    tally = DeleteTally()
    for keys, slot in redirected:
        try:
            _, replies = router.pipeline(keys[0], [(b"DEL" if sync else b"UNLINK", *keys)])
        except ProbeError:
            tally.unfinished_slots.add(slot)
            continue
        reply = replies[0]
        if isinstance(reply, ReplyError):
            tally.unfinished_slots.add(slot)
            tally.error = (
                tally.error
                or f"{'DEL' if sync else 'UNLINK'} on the new owner failed: {reply.text}"
            )
            continue
        tally.deleted += int(reply)
        tally.gone += len(keys) - int(reply)
    return tally


def apply_backed_up_deletes(
    client: Any, records: Sequence[tuple[bytes, bytes]], sha: bytes, sync: bool
) -> DeleteTally:
    """Delete each (key, DUMP kept) in one script call, a key only if unchanged since."""
    if not records:
        return DeleteTally()
    client.send(backed_up_deletes_riding(records, sha, sync))
    return tally_backed_up(client.read_replies(1)[0], len(records))


def backed_up_deletes_riding(
    records: Sequence[tuple[bytes, bytes]], sha: bytes, sync: bool
) -> bytes:
    """The backed-up delete of `records` packed (one reply), for a scan's pipeline."""
    keys = [key for key, _ in records]
    flag = b"1" if sync else b"0"
    import hiredis  # packs a command of thousands of arguments in C

    guards = [backup_guard(dump) for _, dump in records]
    kinds = b"".join(kind for kind, _ in guards)
    words = (b"EVALSHA", sha, b"%d" % len(keys), *keys, flag, kinds, *(v for _, v in guards))
    return bytes(hiredis.pack_command(words))  # type: ignore[arg-type]


def tally_backed_up(reply: Any, count: int) -> DeleteTally:
    from cachediag.clients.resp import ReplyError

    tally = DeleteTally()
    if isinstance(reply, list) and len(reply) == 3:
        tally.deleted, tally.changed, tally.gone = (int(n) for n in reply)
    else:
        tally.failed = count
        text = reply.text if isinstance(reply, ReplyError) else repr(reply)[:80]
        tally.error = f"guarded delete failed: {text}"
    return tally


def apply_guarded_deletes(
    client: Any, items: Sequence[tuple[bytes, Expectation]], sha: bytes, sync: bool
) -> DeleteTally:
    """One guarded delete per key, pipelined: a key that changed since it was read stays."""
    from cachediag.clients.resp import ReplyError
    from cachediag.keyspace.routing import redirection

    tally = DeleteTally()
    if not items:
        return tally
    client.send(b"".join(guarded_delete(key, expect, sha, sync) for key, expect in items))
    for reply in client.read_replies(len(items)):
        moved = redirection(reply)
        if moved is not None:
            # What the filters read was read on this node: the new owner's copy is not
            # what was judged, so the slot is left for a run on the new topology.
            tally.unfinished_slots.add(moved[1])
        elif reply == 1:
            tally.deleted += 1
        elif reply == 0:
            tally.changed += 1
        elif reply == -1:
            tally.gone += 1
        else:
            tally.failed += 1
            if tally.error is None:
                text = reply.text if isinstance(reply, ReplyError) else repr(reply)[:80]
                tally.error = f"guarded delete failed: {text}"
    return tally


@dataclass
class RestoreTally:
    restored: int = 0
    present: int = 0  # already there (BUSYKEY): left alone without --replace
    failed: int = 0
    errors: list[str] = field(default_factory=list)  # the first few failures' replies


def apply_restores(
    client: Any, records: Sequence[tuple[bytes, int, bytes]], replace: bool
) -> RestoreTally:
    """RESTORE each (key, absolute expiry ms, DUMP payload), pipelined."""
    from cachediag.clients.resp import ReplyError

    tally = RestoreTally()
    if not records:
        return tally
    client.send(b"".join(restore_command(k, at, dump, replace) for k, at, dump in records))
    for (key, _, _), reply in zip(records, client.read_replies(len(records)), strict=True):
        if isinstance(reply, ReplyError):
            if reply.text.startswith("BUSYKEY"):
                tally.present += 1
            else:
                tally.failed += 1
                if len(tally.errors) < 5:
                    tally.errors.append(f"{safe_text(key[:80])}: {reply.text}")
        else:
            tally.restored += 1
    return tally


def apply_memcached_deletes(
    client: Any, items: Sequence[tuple[bytes, int | None]], timeout: float
) -> DeleteTally:
    """`md` per (key, CAS or None), pipelined: HD removed, NF gone, EX rewritten since seen."""
    from cachediag.clients.net import Deadline

    tally = DeleteTally()
    sendable = [(key, cas) for key, cas in items if _text_key(key)]
    tally.failed += len(items) - len(sendable)
    if len(sendable) < len(items):
        tally.error = "keys the text protocol cannot carry were left alone"
    for start in range(0, len(sendable), READ_BACK_BATCH):
        batch = sendable[start : start + READ_BACK_BATCH]
        client.send(b"".join(memcached_delete(key, cas) for key, cas in batch))
        deadline = Deadline(timeout)
        for _ in batch:
            line = client.read_line(deadline)
            if line == b"HD":
                tally.deleted += 1
            elif line == b"NF":
                tally.gone += 1
            elif line == b"EX":
                tally.changed += 1
            else:
                tally.failed += 1
                if tally.error is None:
                    tally.error = f"md failed: {safe_text(line[:80])}" + (
                        " (meta commands need Memcached 1.6+)" if line == b"ERROR" else ""
                    )
    return tally


def _text_key(key: bytes) -> bool:
    from cachediag.clients.memcache_text import is_text_key

    return is_text_key(key)


def purge_plan(
    target: Target, count: int, what: str, sync: bool = False, notes: Sequence[str] = ()
) -> WritePlan:
    """The confirmation of a purge: `count` keys `what` ("matching 'user:*'")."""
    how = ("DEL" if sync else "UNLINK") if target.kind == "redis" else "md"
    change = Change(f"keys {what}", count, 0, f"{how} {_many(count, 'key')} {what}", count=count)
    return WritePlan(target, Action.DELETE, (), (change,), tuple(notes))


def restore_plan(target: Target, count: int, source: str, replace: bool) -> WritePlan:
    how = "RESTORE ... REPLACE" if replace else "RESTORE (keys already present are left alone)"
    change = Change(
        f"keys from {source}", 0, count, f"{how} {_many(count, 'key')} from {source}", count=count
    )
    return WritePlan(target, Action.RESTORE, (), (change,))
