"""Issue 10, cases 9 and 10, against real servers.

9: a valid header is not a valid entry. Without a layout cachediag says it verified the
   magic and the schema version only; with `[entities]` in cachediag.toml it decodes the
   payload and names the first field that fails, reading big values whole only within a
   bound, and counting those reads.
10: one classification of a value in `inspect KEY`, the sample and `check`, and
    `inspect KEY` exits 1 on a corrupt entry.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_bigkeys import READ_COMMANDS, commandstats, sent_commands, validate
from test_scan import settle

USER_V1 = bytes.fromhex("434b4954012a05416c69636511616c696365406578616d706c652e636f6d")
TRUNCATED = bytes.fromhex("434b4954012a05416c")  # the issue's: "Al" of a 5-byte name
TEN_FF = b"CKIT\x01" + b"\xff" * 10  # the issue's: ten 0xff bytes after CKIT 01
GARBAGE = b"garbage value"
BAD_MAGIC = b"CKIU\x01" + USER_V1[5:]  # one byte off the magic
CHECK_COMMANDS = READ_COMMANDS | {"config|get"}  # what check and inspect send: reads only
# check also reads the server's stalls (SLOWLOG GET/LEN, LATENCY LATEST, TIME; COMMAND INFO
# for the key counts of slow commands): reads too, never SLOWLOG RESET.
CHECK_COMMANDS |= {"slowlog|get", "slowlog|len", "latency|latest", "time", "command|info"}
LAYOUT = '[entities."user"]\nfields = ["id: u64", "name: string", "email: string"]\n'


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def user_entry(user_id: int, name: str, email: str, version: int = 1) -> bytes:
    """A cache-kit User entry as the library writes it: postcard of {magic, version, payload}."""
    fields = varint(user_id)
    for text in (name, email):
        raw = text.encode()
        fields += varint(len(raw)) + raw
    return b"CKIT" + varint(version) + fields


def test_user_entry_matches_the_golden_bytes() -> None:
    assert user_entry(42, "Alice", "alice@example.com") == USER_V1


def config(tmp_path: Path, text: str = LAYOUT) -> str:
    path = tmp_path / "layouts.toml"
    path.write_text(text)
    return str(path)


def seed_case9(server) -> None:
    r = server.client()
    for i in range(1, 6):
        r.set(f"user:{i}", USER_V1)
    r.set("user:7", TRUNCATED)
    r.set("user:8", TEN_FF)


def serialization(cachediag, url: str, *extra: str):
    run = cachediag("check", "--json", "--redis", url, "--only", "redis.serialization", *extra)
    (result,) = run.json()["results"]
    return run, result


# -- case 9 ---------------------------------------------------------------------------------


def test_without_a_layout_only_the_header_is_verified_and_said_so(redis_factory, cachediag):
    server = redis_factory()
    seed_case9(server)
    run, result = serialization(cachediag, server.url)
    assert (run.code, result["status"]) == (0, "pass")
    assert result["summary"] == (
        "7 sampled cache-kit entries have a valid header (magic and schema version); "
        "payloads not decoded: no [entities] layout in cachediag.toml"
    )
    assert result["observed"]["verified"] == "header"

    keys = cachediag("inspect", "--json", "--redis", server.url, "user:7", "user:8")
    assert keys.code == 0, keys.out
    validate(keys.json(), "inspect")
    for key in keys.json()["targets"][0]["keys"]:
        assert key["envelope"]["verdict"] == "valid" and "payload" not in key["envelope"]
    text = cachediag("inspect", "--redis", server.url, "user:7")
    assert text.code == 0
    flat = " ".join(text.out.split())
    assert (
        "cache-kit header valid (magic CKIT, schema version 1); payload 4 bytes, not decoded"
        in (flat)
    )
    assert "decode cleanly" not in text.out

    sample = cachediag("inspect", "--redis", server.url)
    assert sample.code == 0
    assert "payloads not decoded: only headers (magic and schema version) are checked" in " ".join(
        sample.out.split()
    )


def test_with_a_layout_the_first_field_that_fails_is_named(redis_factory, cachediag, tmp_path):
    server = redis_factory()
    seed_case9(server)
    layouts = config(tmp_path)
    before = commandstats(server)
    run, result = serialization(cachediag, server.url, "--config", layouts)
    assert (run.code, result["status"]) == (1, "fail")
    assert result["summary"] == (
        "user:*: 2 whose payload does not decode as user among 7 sampled entries "
        "(e.g. user:7: field 2 name (string) at byte 6: string of 5 bytes runs past the end "
        "of the value (2 bytes left))"
    )
    observed = result["observed"]
    assert observed["namespaces"]["user:*"] == {"valid": 5, "invalid_magic": 0, "undecodable": 2}
    assert observed["payloads"]["user:*"] == {
        "entity": "user",
        "decoded": 5,
        "broken": 2,
        "trailing": 0,
        "no_layout": 0,
        "not_read": 0,
    }
    # every value fits in the 64-byte head: nothing more was read
    assert observed["values_read_whole"] == 0 and observed["verified"] == "header and payload"

    keys = cachediag(
        "inspect",
        "--json",
        "--config",
        layouts,
        "--redis",
        server.url,
        "user:1",
        "user:7",
        "user:8",
    )
    assert keys.code == 1, keys.out
    validate(keys.json(), "inspect")
    assert keys.json()["targets"][0]["values_read_whole"] == 0  # the preview held them whole
    rows = {key["key"]: key["envelope"] for key in keys.json()["targets"][0]["keys"]}
    assert rows["user:1"]["verdict"] == "valid" and rows["user:1"]["payload"]["state"] == "ok"
    truncated = rows["user:7"]
    assert truncated["state"] == "valid" and truncated["verdict"] == "undecodable"
    assert {k: truncated["payload"][k] for k in ("state", "field", "field_name", "offset")} == {
        "state": "broken",
        "field": 2,
        "field_name": "name",
        "offset": 6,
    }
    ff = rows["user:8"]["payload"]
    assert (ff["field"], ff["field_type"], ff["offset"]) == (1, "u64", 5)
    assert "longer than the 10 bytes" in ff["reason"]
    text = cachediag("inspect", "--config", layouts, "--redis", server.url, "user:7")
    assert text.code == 1
    assert "payload does not decode as user: field 2 name (string) at byte 6" in " ".join(
        text.out.split()
    )

    sample = cachediag("inspect", "--json", "--config", layouts, "--redis", server.url)
    assert sample.code == 1
    validate(sample.json(), "inspect")
    target = sample.json()["targets"][0]
    user = {row["namespace"]: row for row in target["namespaces"]}["user:*"]
    assert (user["valid"], user["invalid_magic"], user["undecodable"]) == (5, 0, 2)
    assert user["payload"]["broken"] == 2 and target["payloads"]["values_read_whole"] == 0
    assert {a["key"]: a["payload"]["field"] for a in user["affected"]} == {"user:7": 2, "user:8": 1}
    assert any("2 whose payload does not decode as user" in f["text"] for f in target["findings"])
    sent = sent_commands(before, commandstats(server))
    assert sent <= CHECK_COMMANDS and "get" not in sent  # never GET, never KEYS


def test_big_values_are_read_whole_within_a_bound_and_counted(redis_factory, cachediag, tmp_path):
    server = redis_factory()
    r = server.client()
    long_mail = "a" * 400 + "@example.com"
    for i in range(1, 4):
        r.set(f"user:{i}", user_entry(i, f"user {i}", long_mail))
    cut = user_entry(4, "cut", long_mail)[:300]  # cut inside the email: past the 64-byte head
    r.set("user:4", cut)
    r.set("user:5", user_entry(5, "huge", "x" * 70_000))  # over the 64 KiB read bound
    for i in range(200):
        r.get(f"miss:{i}")  # lookups enough for redis.hit_rate to judge
    layouts = config(tmp_path)

    before = commandstats(server)
    run = cachediag(
        "check", "--json", "--redis", server.url, "--config", layouts,
        "--only", "redis.serialization,redis.hit_rate",
    )  # fmt: skip
    after = commandstats(server)
    results = {r["id"]: r for r in run.json()["results"]}
    result = results["redis.serialization"]
    assert (run.code, result["status"]) == (1, "fail")
    assert result["summary"] == (
        "user:*: 1 whose payload does not decode as user among 5 sampled entries (e.g. user:4: "
        "field 3 email (string) at byte 10: string of 412 bytes runs past the end of the value "
        "(288 bytes left))"
    )
    assert result["observed"]["values_read_whole"] == 4
    assert result["observed"]["payloads"]["user:*"]["not_read"] == 1
    # 5 heads + 4 whole values, each a bounded GETRANGE; no GET of any size
    assert after["getrange"] - before.get("getrange", 0) == 5 + 4
    assert sent_commands(before, after) <= CHECK_COMMANDS
    # and the whole reads are counted as the lookups they are
    without = cachediag("check", "--json", "--redis", server.url, "--only", "redis.hit_rate")
    own = results["redis.hit_rate"]["observed"]["sample_lookups_per_run"]
    assert own - without.json()["results"][0]["observed"]["sample_lookups_per_run"] == 4

    sample = cachediag("inspect", "--json", "--config", layouts, "--redis", server.url)
    payloads = sample.json()["targets"][0]["payloads"]
    assert (payloads["values_read_whole"], payloads["not_read"], payloads["broken"]) == (4, 1, 1)
    text = cachediag("inspect", "--config", layouts, "--redis", server.url)
    assert "4 values read whole for it (4 more lookups on the server)" in " ".join(text.out.split())
    named = cachediag(
        "inspect", "--json", "--config", layouts, "--redis", server.url, "user:4", "user:5"
    )
    rows = {k["key"]: k["envelope"]["payload"] for k in named.json()["targets"][0]["keys"]}
    assert (rows["user:4"]["state"], rows["user:4"]["field_name"]) == ("broken", "email")
    assert rows["user:5"]["state"] == "not_read" and "64 KiB read bound" in rows["user:5"]["reason"]
    assert named.json()["targets"][0]["values_read_whole"] == 1


def test_bytes_past_the_layout_warn(redis_factory, cachediag, tmp_path):
    server = redis_factory()
    r = server.client()
    r.set("user:1", USER_V1)
    r.set("user:2", USER_V1 + b"\x01\x02")  # a field the layout does not know
    layouts = config(tmp_path)
    run, result = serialization(cachediag, server.url, "--config", layouts)
    assert (run.code, result["status"]) == (0, "warn")
    assert result["summary"] == (
        "user:*: 1 entry holds bytes past the last field of the user layout (e.g. user:2: "
        "2 bytes): a field added without a schema-version bump, or a layout out of date"
    )
    keys = cachediag("inspect", "--config", layouts, "--redis", server.url, "user:2")
    assert keys.code == 0  # the app reads it (postcard ignores what follows): a warning
    assert "2 bytes left after the last field" in " ".join(keys.out.split())


def test_memcached_payloads_are_decoded_from_the_values_fetched(
    memcached_server, cachediag, tmp_path
):
    mc = memcached_server.client()
    for i in range(1, 6):
        mc.set(f"user:{i}", USER_V1)
    mc.set("user:7", TRUNCATED)
    mc.set("user:8", TEN_FF)
    settle()
    layouts = config(tmp_path)
    address = memcached_server.address
    check = cachediag(
        "check", "--json", "--memcached", address, "--config", layouts,
        "--only", "memcached.serialization",
    )  # fmt: skip
    (result,) = check.json()["results"]
    assert (check.code, result["status"]) == (1, "fail")
    assert "user:*: 2 whose payload does not decode as user" in result["summary"]
    assert "e.g. user:7: field 2 name (string) at byte 6" in result["summary"]

    sample = cachediag("inspect", "--json", "--config", layouts, "--memcached", address)
    assert sample.code == 1
    validate(sample.json(), "inspect")
    target = sample.json()["targets"][0]
    user = {row["namespace"]: row for row in target["namespaces"]}["user:*"]
    assert (user["valid"], user["undecodable"]) == (5, 2)
    assert target["payloads"]["values_read_whole"] == 0  # Memcached values are fetched whole

    keys = cachediag("inspect", "--json", "--config", layouts, "--memcached", address, "user:8")
    assert keys.code == 1
    assert keys.json()["targets"][0]["keys"][0]["envelope"]["payload"]["field_name"] == "id"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[entities."user"]\nfields = ["u64", "strin"]\n',
            "entities.\"user\" field 2: unknown type 'strin' (known: ",
        ),
        ("entities = 5\n", "'entities' must be tables like [entities.\"user\"]"),
        ('[entities]\nuser = "u64"\n', 'entities."user" must be a table with fields = [...]'),
        ('[entities."user"]\nfields = "u64"\n', "fields must be a list of postcard type names"),
        ('[entities."user"]\nfields = [1, 2]\n', "fields must be a list of postcard type names"),
        ('[entities."user"]\nfields = []\n', "fields is empty"),
        ('[entities."user"]\nfeilds = ["u64"]\n', "unknown key 'feilds' (known: fields, versions)"),
        ('[entities."user"]\n', "needs fields = [...] or versions"),
        ('[entities."user"]\nversions = { v1 = ["u64"] }\n', "version 'v1' is not a schema"),
        ('[entities."user"]\nversions = ["u64"]\n', "'versions' must be a table"),
        ('[entities."user"]\nfields = ["option<u8"]\n', "expected '>' in type 'option<u8'"),
        ('[entities."user"]\nfields = ["price: Decimal"]\n', "cannot be read back"),
    ],
)
def test_bad_layouts_are_a_one_sentence_usage_error(cachediag, tmp_path, text, message) -> None:
    path = config(tmp_path, text)
    for command in ("check", "inspect"):
        run = cachediag(command, "--config", path, "--redis", "redis://127.0.0.1:1")
        assert run.code == 2, (command, run.err)
        assert run.out == ""
        assert run.err.count("\n") == 1 and run.err.startswith("cachediag: error: config ")
        assert message in run.err, run.err


# -- case 10 --------------------------------------------------------------------------------


def seed_case10(server) -> None:
    r = server.client()
    for i in range(1, 6):
        r.set(f"user:{i}", USER_V1)
    r.set("user:9", GARBAGE)  # in a cache-kit namespace: a damaged entry
    for i in range(3):
        r.set(f"page:{i}", b"<html>plain</html>")  # no cache-kit entry at all: not ours
    r.set("legacy:1", BAD_MAGIC)  # one byte off the magic, alone in its namespace
    r.set("legacy:2", b"plain")


def key_verdicts(cachediag, url: str, *keys: str) -> dict[str, str]:
    verdicts = {}
    for name in keys:  # one at a time: each judged from the server, not from its fellows
        run = cachediag("inspect", "--json", "--redis", url, name)
        validate(run.json(), "inspect")
        (key,) = run.json()["targets"][0]["keys"]
        verdicts[name] = key["envelope"]["verdict"]
        assert run.code == (1 if verdicts[name] in ("invalid_magic", "undecodable") else 0)
    return verdicts


def test_one_classification_in_inspect_the_sample_and_check(redis_factory, cachediag) -> None:
    server = redis_factory()
    seed_case10(server)
    before = commandstats(server)
    verdicts = key_verdicts(
        cachediag, server.url, "user:9", "page:0", "legacy:1", "legacy:2", "user:1"
    )
    assert sent_commands(before, commandstats(server)) <= READ_COMMANDS
    assert verdicts == {
        "user:9": "invalid_magic",  # was "not a cache-kit value", exit 0
        "page:0": "not_cache_kit",
        "legacy:1": "invalid_magic",
        "legacy:2": "not_cache_kit",
        "user:1": "valid",
    }

    sample = cachediag("inspect", "--json", "--redis", server.url)
    rows = {row["namespace"]: row for row in sample.json()["targets"][0]["namespaces"]}
    counts = {
        ns: {c: row[c] for c in ("valid", "invalid_magic", "undecodable")}
        for ns, row in rows.items()
        if row["valid"] or row["invalid_magic"] or row["undecodable"]
    }
    assert counts == {
        "user:*": {"valid": 5, "invalid_magic": 1, "undecodable": 0},
        "legacy:*": {"valid": 0, "invalid_magic": 1, "undecodable": 0},
    }
    assert rows["page:*"]["not_cache_kit"] == 3 and rows["legacy:*"]["not_cache_kit"] == 1
    affected = {a["key"]: a["problem"] for row in rows.values() for a in row["affected"]}
    assert affected == {"user:9": "invalid_magic", "legacy:1": "invalid_magic"}

    run, result = serialization(cachediag, server.url)
    assert (run.code, result["status"]) == (1, "fail")
    assert result["observed"]["namespaces"] == counts  # the check counts as the sample does
    assert result["summary"] == (
        "legacy:*: 1 with an invalid magic header among 2 sampled entries (e.g. legacy:1); "
        "user:*: 1 with an invalid magic header among 6 sampled entries (e.g. user:9); "
        "headers only: no [entities] layout to decode payloads with"
    )


def test_inspect_key_names_its_evidence_and_exits_1_on_a_corrupt_entry(
    redis_factory, cachediag
) -> None:
    server = redis_factory()
    seed_case10(server)
    alone = cachediag("inspect", "--json", "--redis", server.url, "user:9")
    assert alone.code == 1
    envelope = alone.json()["targets"][0]["keys"][0]["envelope"]
    assert envelope["namespace_evidence"] == {
        "source": "neighbours",
        "looked_at": 5,
        "cache_kit_entries": 5,
        "scan_calls": 1,
        "namespace": "user:*",
    }
    assert alone.json()["targets"][0]["neighbours_read"] == 5
    text = cachediag("inspect", "--redis", server.url, "user:9")
    assert text.code == 1
    flat = " ".join(text.out.split())
    assert "invalid magic header 67617262 (expected 434b4954 'CKIT')" in flat
    assert "user:* holds cache-kit entries (5 of 5 neighbouring keys read)" in flat
    assert "the first bytes of 5 neighbouring keys to judge them: 5 more lookups" in flat
    page = cachediag("inspect", "--redis", server.url, "page:0")
    assert page.code == 0
    assert "no cache-kit entry among 2 neighbouring keys of page:* read" in " ".join(
        page.out.split()
    )

    # a cache-kit entry named beside it is evidence enough: no SCAN at all
    before = commandstats(server)
    both = cachediag("inspect", "--json", "--redis", server.url, "user:1", "user:9")
    assert both.code == 1
    assert "scan" not in sent_commands(before, commandstats(server))
    evidence = both.json()["targets"][0]["keys"][1]["envelope"]["namespace_evidence"]
    assert evidence == {
        "source": "named keys",
        "looked_at": 1,
        "cache_kit_entries": 1,
        "namespace": "user:*",
    }
    help_text = " ".join(cachediag("inspect", "--help").out.split())
    assert "1 corrupt entries found" in help_text


def test_memcached_inspect_key_looks_at_its_neighbours(memcached_server, cachediag) -> None:
    mc = memcached_server.client()
    for i in range(1, 6):
        mc.set(f"user:{i}", USER_V1)
    mc.set("user:9", GARBAGE)
    mc.set("page:1", b"plain")
    settle()
    address = memcached_server.address
    corrupt = cachediag("inspect", "--json", "--memcached", address, "user:9")
    assert corrupt.code == 1
    envelope = corrupt.json()["targets"][0]["keys"][0]["envelope"]
    assert envelope["verdict"] == "invalid_magic"
    assert envelope["namespace_evidence"]["cache_kit_entries"] == 5
    plain = cachediag("inspect", "--json", "--memcached", address, "page:1")
    assert plain.code == 0
    assert plain.json()["targets"][0]["keys"][0]["envelope"]["verdict"] == "not_cache_kit"
    sample = cachediag("inspect", "--json", "--memcached", address)
    user = {r["namespace"]: r for r in sample.json()["targets"][0]["namespaces"]}["user:*"]
    assert user["invalid_magic"] == 1


def test_memcached_without_crawler_says_the_verdict_is_incomplete(
    memcached_factory, cachediag
) -> None:
    server = memcached_factory("-o", "no_lru_crawler")
    server.client().set("user:9", GARBAGE)
    run = cachediag("inspect", "--json", "--memcached", server.address, "user:9")
    assert run.code == 3  # its namespace could not be read: the verdict needed it
    evidence = run.json()["targets"][0]["keys"][0]["envelope"]["namespace_evidence"]
    assert "crawler" in evidence["error"]
    text = cachediag("inspect", "--memcached", server.address, "user:9")
    assert "user:* could not be read to judge it" in " ".join(text.out.split())


def test_the_facts_of_a_decoded_sample_validate(redis_factory, memcached_server) -> None:
    """The payload outcomes are facts a bundle carries: cachediag.facts/v1 names them."""
    import json

    from test_schemas import assert_rejected, assert_valid, broken

    from cachediag.keyspace.entities import parse_entities
    from cachediag.probes.collect import collect_facts
    from cachediag.targets.parse import TargetRequest, resolve_targets

    server = redis_factory()
    seed_case9(server)
    server.client().set("user:30", user_entry(30, "long", "m" * 200))  # read whole
    mc = memcached_server.client()
    mc.set("user:7", TRUNCATED)
    mc.set("user:1", USER_V1)
    settle()
    targets = resolve_targets(
        TargetRequest(redis_flags=(server.url,), memcached_flags=(memcached_server.address,))
    )
    entities = parse_entities({"user": {"fields": ["u64", "string", "string"]}}, "t")
    facts = json.loads(json.dumps(collect_facts(targets, 2.0, 100, host=False, entities=entities)))
    assert_valid("facts", facts)
    redis, memcached = facts["targets"]
    assert redis["sample"]["payloads"]["values_read_whole"] == 1
    states = {k["key"]: k["payload"]["state"] for k in redis["sample"]["keys"]}
    assert states == {
        **{f"user:{i}": "ok" for i in range(1, 6)},
        "user:7": "broken",
        "user:8": "broken",
        "user:30": "ok",
    }
    assert {k["key"]: k["payload"]["state"] for k in memcached["sample"]["keys"]} == {
        "user:1": "ok",
        "user:7": "broken",
    }
    first = next(i for i, k in enumerate(redis["sample"]["keys"]) if k["key"] == "user:7")
    path = ("targets", 0, "sample", "keys", first, "payload", "state")
    assert_rejected("facts", broken(facts, path, "fine"))
