"""cachediag.writes: plan, confirm (dry run, --yes, a terminal), apply and read back.

eviction-policy --set is tested end to end in test_eviction_policy.py; here the parts
purge will use too: deletes with counts in the confirmation, and what each mode does.
The keys are written by redis-py and pymemcache, as an application would.
"""

from __future__ import annotations

import io

import pytest

from cachediag import writes
from cachediag.errors import UsageError
from cachediag.targets.parse import parse_memcached, parse_redis
from cachediag.writes import Mode


def _plans(redis_server, memcached_server) -> list[writes.WritePlan]:  # type: ignore[no-untyped-def]
    client = redis_server.client()
    client.mset({f"session:{i}": "s" for i in range(1200)} | {"user:1": "u"})
    mc = memcached_server.client()
    # Acknowledged sets (pymemcache's default is noreply): a test reading on another
    # connection must not race the last of them.
    for i in range(300):
        mc.set(f"session:{i}", b"s", noreply=False)
    mc.set("user:1", b"u", noreply=False)
    redis_keys = [f"session:{i}".encode() for i in range(1200)]
    # A key stored over the binary protocol may hold a space: never sent as text.
    memcached_keys = [f"session:{i}".encode() for i in range(300)] + [b"session:x flush_all"]
    return [
        writes.delete_plan(
            parse_redis(redis_server.url, "flag"), redis_keys, "matching 'session:*'"
        ),
        writes.delete_plan(
            parse_memcached(memcached_server.address, "flag"),
            memcached_keys,
            "matching 'session:*'",
        ),
    ]


def test_a_dry_run_shows_the_counts_and_changes_nothing(redis_server, memcached_server) -> None:
    plans = _plans(redis_server, memcached_server)
    out = io.StringIO()
    asked: list[str] = []
    applied = writes.confirm(
        plans, Mode.DRY_RUN, what="the keyspace", out=out, ask=asked.append, dry_run_hint=""
    )
    assert applied is False and asked == []
    text = out.getvalue()
    redis_name, memcached_name = (plan.target.name for plan in plans)
    assert text == (
        "cachediag will change:\n"
        f"  {redis_name}: UNLINK 1,200 keys matching 'session:*' in 3 batches of 500\n"
        f"  {memcached_name}: md 300 keys matching 'session:*'\n"
        f"  {memcached_name}: 1 key left alone: the text protocol cannot carry them\n"
        "in all: 1,500 keys on 2 targets\n"
        "dry run: nothing was changed\n"
    )
    assert redis_server.client().dbsize() == 1201
    assert memcached_server.client().get("session:299") == b"s"


def test_deletes_are_applied_and_read_back(redis_server, memcached_server) -> None:
    plans = _plans(redis_server, memcached_server)
    assert writes.confirm(plans, Mode.YES, what="the keyspace", out=io.StringIO(), ask=bool)
    redis_outcome, memcached_outcome = writes.apply_all(plans, timeout=5)
    assert redis_outcome.to_dict() == {
        "action": "delete",
        "matched": 1200,
        "deleted": 1200,
        "still_present": 0,
        "verified": True,
        "error": None,
    }
    assert memcached_outcome.deleted == 300 and memcached_outcome.verified
    assert redis_server.client().keys("*") == [b"user:1"]
    mc = memcached_server.client()
    assert mc.get("session:0") is None and mc.get("user:1") == b"u"


def test_a_refused_delete_is_reported_not_verified(redis_factory) -> None:
    server = redis_factory()
    server.client().mset({"session:1": "s", "session:2": "s"})
    server.cli("ACL", "SETUSER", "reader", "on", ">pw", "~*", "+@all", "-unlink")
    target = parse_redis(f"redis://reader:pw@127.0.0.1:{server.port}", "flag")
    plan = writes.delete_plan(target, [b"session:1", b"session:2"], "matching 'session:*'")
    (outcome,) = writes.apply_all([plan], timeout=5)
    assert not outcome.verified and outcome.deleted == 0
    assert outcome.error and outcome.error.startswith("UNLINK failed after 0 keys: NOPERM")
    assert server.client().dbsize() == 2


def test_asking_happens_only_on_a_terminal(redis_server) -> None:
    target = parse_redis(redis_server.url, "flag")
    plan = writes.config_plan(target, [("maxmemory-policy", "allkeys-lru", "allkeys-lfu")], False)
    questions: list[str] = []

    def answer(yes: bool):  # type: ignore[no-untyped-def]
        return lambda question: questions.append(question) or yes

    def confirm(mode: Mode, terminal: bool, yes: bool) -> bool:
        return writes.confirm(
            [plan],
            mode,
            what="the eviction settings",
            out=io.StringIO(),
            ask=answer(yes),
            is_terminal=lambda: terminal,
        )

    with pytest.raises(UsageError, match="refusing to change the eviction settings"):
        confirm(Mode.ASK, terminal=False, yes=True)
    assert questions == []  # off a terminal nobody is asked, whatever stdin holds
    with pytest.raises(UsageError, match="not confirmed: nothing was changed"):
        confirm(Mode.ASK, terminal=True, yes=False)
    assert confirm(Mode.ASK, terminal=True, yes=True) is True
    assert questions == ["Apply these changes?", "Apply these changes?"]
    assert confirm(Mode.YES, terminal=False, yes=False) is True


def test_config_plan_commands_and_confirmation(redis_server) -> None:
    target = parse_redis(redis_server.url, "flag")
    plan = writes.config_plan(
        target,
        [("maxmemory-policy", "noeviction", "allkeys-lru"), ("maxmemory", 0, 1024)],
        rewrite=True,
        show=lambda name, value: f"<{value}>",
    )
    assert [c.words for c in plan.commands] == [
        ("CONFIG", "SET", "maxmemory-policy", "allkeys-lru", "maxmemory", "1024"),
        ("CONFIG", "REWRITE"),
    ]
    assert writes.plan_text([plan]).splitlines()[1:] == [
        f"  {target.name}: CONFIG SET maxmemory-policy <noeviction> → <allkeys-lru>",
        f"  {target.name}: CONFIG SET maxmemory <0> → <1024>",
        f"  {target.name}: CONFIG REWRITE (persist the configuration file)",
    ]
    assert writes.config_set(("maxmemory", "2gb")).shell() == "CONFIG SET maxmemory 2gb"
