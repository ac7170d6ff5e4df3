"""`cachediag inspect` end to end: cache-kit envelopes (golden bytes), corrupt entries, samples."""

from __future__ import annotations

from test_bigkeys import READ_COMMANDS, commandstats, sent_commands, validate
from test_scan import settle

# Golden entries from cache-kit's own test suite (../shared/guide/cache-kit-facts.md).
USER_V1 = bytes.fromhex("434b4954012a05416c69636511616c696365406578616d706c652e636f6d")
PRODUCT_V1 = bytes.fromhex("434b4954010870726f645f313233065769646765748fc2f5285cff584001")
USER_V2 = b"CKIT\x02" + USER_V1[5:]
USER_V300 = b"CKIT\xac\x02" + USER_V1[5:]  # version 300: a two-byte varint
BAD_MAGIC = b"CKIU\x01" + USER_V1[5:]  # one byte off
BROKEN_VERSION = b"CKIT\xff\xff\xff\xff\xff\xff"  # not a u32 varint
NO_PAYLOAD = b"CKIT\x01"


def seed_cache_kit(server) -> None:
    r = server.client()
    for i in range(6):
        r.set(f"user:{i}", USER_V1)
    r.set("user:10", USER_V2)
    r.set("user:11", USER_V2, ex=600)
    r.set("user:12", BAD_MAGIC)
    r.set("user:13", BROKEN_VERSION)
    r.set("user:14", NO_PAYLOAD)
    r.set("product:123", PRODUCT_V1)
    r.set("product:456", PRODUCT_V1)
    r.set("order:1", USER_V300)
    for i in range(4):
        r.set(f"page:{i}", b"<html>plain</html>")
    r.hset("profile:1", mapping={"a": 1})


def test_inspect_keys_decodes_golden_envelopes(redis_server, cachediag) -> None:
    seed_cache_kit(redis_server)
    redis_server.client().set(b"bin:\xff\x1b[2J", USER_V1)
    before = commandstats(redis_server)
    run = cachediag(
        "inspect",
        "--redis",
        redis_server.url,
        "--json",
        "user:0",
        "product:123",
        "order:1",
        "user:12",
        "user:13",
        "user:14",
        "page:0",
        "profile:1",
        "missing:1",
        "bin:\udcff\x1b[2J",
    )
    after = commandstats(redis_server)
    assert run.code == 1, run.err  # the seeded undecodable entries are corrupt entries found
    doc = run.json()
    assert doc["schema"] == "cachediag.inspect/v1" and doc["mode"] == "keys"
    validate(doc, "inspect")
    keys = {k["key"]: k for k in doc["targets"][0]["keys"]}
    user = keys["user:0"]
    assert (user["type"], user["length"], user["ttl_ms"], user["encoding"]) == (
        "string",
        30,
        -1,
        "embstr",
    )
    assert user["memory"] > 30
    assert user["envelope"]["state"] == "valid" and user["envelope"]["magic_valid"]
    assert user["envelope"]["schema_version"] == 1 and user["envelope"]["payload_length"] == 25
    assert user["envelope"]["hex_preview"] == USER_V1.hex()
    product = keys["product:123"]["envelope"]
    assert product["schema_version"] == 1 and product["payload_length"] == len(PRODUCT_V1) - 5
    assert keys["order:1"]["envelope"]["schema_version"] == 300
    assert (
        keys["user:12"]["envelope"]["magic_valid"] is False
        and keys["user:12"]["envelope"]["cache_kit"]
    )
    assert keys["user:13"]["envelope"]["state"] == "undecodable"
    assert keys["user:14"]["envelope"]["state"] == "undecodable"
    assert keys["page:0"]["envelope"]["cache_kit"] is False
    assert keys["profile:1"]["type"] == "hash" and keys["profile:1"]["length"] == 1
    assert keys["profile:1"]["envelope"] is None
    assert keys["missing:1"]["exists"] is False
    assert (
        keys["bin:\\xff\\x1b[2J"]["envelope"]["state"] == "valid"
    )  # a binary name, typed as bytes
    sent = sent_commands(before, after)
    assert sent <= READ_COMMANDS, sent - READ_COMMANDS

    table = cachediag(
        "inspect",
        "--redis",
        redis_server.url,
        "user:0",
        "user:12",
        "missing:1",
        "bin:\udcff\x1b[2J",
    )
    # user:12 (a header one byte off the magic) is a corrupt entry: exit 1, as the help says
    assert table.code == 1, table.out
    assert "header valid (magic CKIT, schema version 1); payload 25 bytes" in table.out
    assert "invalid magic header 434b4955" in table.out
    assert "-2 (does not exist)" in table.out and "-1 (no expiration set" in table.out
    assert "\x1b" not in table.out and "bin:\\xff\\x1b[2J" in table.out


def test_inspect_sample_counts_per_namespace_and_lists_affected(redis_server, cachediag) -> None:
    seed_cache_kit(redis_server)
    before = commandstats(redis_server)
    run = cachediag("inspect", "--redis", redis_server.url, "--json")
    after = commandstats(redis_server)
    assert run.code == 1, run.err  # corrupt entries found
    validate(run.json(), "inspect")
    target = run.json()["targets"][0]
    assert target["complete"] and target["entries"] == 19
    rows = {row["namespace"]: row for row in target["namespaces"]}
    user = rows["user:*"]
    assert (user["valid"], user["invalid_magic"], user["undecodable"], user["not_cache_kit"]) == (
        8,
        1,
        2,
        0,
    )
    assert user["schema_versions"] == {"1": 6, "2": 2}
    assert {a["key"] for a in user["affected"]} == {"user:12", "user:13", "user:14"}
    assert rows["product:*"]["valid"] == 2 and rows["order:*"]["schema_versions"] == {"300": 1}
    assert (rows["page:*"]["not_cache_kit"], rows["page:*"]["invalid_magic"]) == (4, 0)
    assert rows["profile:*"]["not_cache_kit"] == 1
    assert target["schema_versions"] == {"1": 8, "2": 2, "300": 1}
    texts = " ".join(f["text"] for f in target["findings"])
    assert "user:*: 1 with an invalid magic header and 2 that cannot be decoded" in texts
    assert "several schema versions" in texts
    assert sent_commands(before, after) <= READ_COMMANDS

    pattern = cachediag("inspect", "--redis", redis_server.url, "--pattern", "product:*", "--json")
    assert pattern.code == 0
    assert [row["namespace"] for row in pattern.json()["targets"][0]["namespaces"]] == ["product:*"]

    table = cachediag("inspect", "--redis", redis_server.url)
    assert (
        "Entries by namespace" in table.out
        and "Affected keys" in table.out
        and "user:13" in table.out
    )


def test_inspect_sample_is_bounded(redis_server, cachediag) -> None:
    redis_server.client().mset({f"user:{i}": USER_V1 for i in range(3000)})
    run = cachediag(
        "inspect", "--redis", redis_server.url, "--json", "--max-keys", "500", "--count", "100"
    )
    target = run.json()["targets"][0]
    assert not target["complete"] and 500 <= target["entries"] < 700
    assert target["resume_cursor"]


def test_inspect_memcached_keys_and_sample(memcached_server, cachediag) -> None:
    mc = memcached_server.client()
    for i in range(20):
        mc.set(f"user:{i}", USER_V1, expire=0 if i else 900)
    mc.set("user:99", BAD_MAGIC)
    mc.set("product:prod_123", PRODUCT_V1)
    mc.set("page:1", b"plain")
    settle()
    keys = cachediag(
        "inspect", "--memcached", memcached_server.address, "--json", "user:0", "user:1", "nope"
    )
    assert keys.code == 0, keys.err
    rows = {k["key"]: k for k in keys.json()["targets"][0]["keys"]}
    assert rows["user:1"]["envelope"]["schema_version"] == 1 and rows["user:1"]["ttl_ms"] == -1
    assert 0 < rows["user:0"]["ttl_ms"] <= 900_000
    assert rows["nope"]["exists"] is False

    sample = cachediag("inspect", "--memcached", memcached_server.address, "--json")
    assert sample.code == 1
    validate(sample.json(), "inspect")
    validate(keys.json(), "inspect")
    target = sample.json()["targets"][0]
    assert target["entries"] == 23
    user = {row["namespace"]: row for row in target["namespaces"]}["user:*"]
    assert (user["valid"], user["invalid_magic"]) == (20, 1)
    assert user["affected"][0]["key"] == "user:99"

    bad = cachediag("inspect", "--memcached", memcached_server.address, "has space")
    assert bad.code == 2 and "not a valid Memcached key" in bad.err


def test_inspect_memcached_without_crawler(memcached_factory, cachediag) -> None:
    server = memcached_factory("-o", "no_lru_crawler")
    server.client().set("user:1", USER_V1)
    run = cachediag("inspect", "--memcached", server.address)
    assert run.code == 1 and "LRU crawler is disabled" in run.out
    named = cachediag("inspect", "--memcached", server.address, "--json", "user:1")
    assert named.code == 0 and named.json()["targets"][0]["keys"][0]["envelope"]["state"] == "valid"


def test_named_keys_exit_codes(cachediag, redis_factory) -> None:
    server = redis_factory()
    client = server.client()
    client.set("user:ok", b"CKIT\x01payload")
    client.set("user:bad", b"CKIT")  # magic, then nothing: cannot be decoded
    client.set("secret:1", b"v")
    server.cli("ACL", "SETUSER", "limited", "on", ">pw", "~user:*", "+@all")
    assert cachediag("inspect", "user:ok", "--redis", server.url).code == 0
    assert cachediag("inspect", "user:ok", "user:bad", "--redis", server.url).code == 1
    hidden = cachediag(
        "inspect", "secret:1", "--json", "--redis", f"redis://limited:pw@127.0.0.1:{server.port}"
    )
    assert hidden.code == 3
    key = hidden.json()["targets"][0]["keys"][0]
    assert key["exists"] is None and "NOPERM" in key["error"]


def test_values_an_acl_user_cannot_read_are_said_not_guessed(cachediag, redis_factory) -> None:
    server = redis_factory()
    server.client().set("user:1", b"CKIT\x01payload")
    server.cli("ACL", "SETUSER", "norange", "on", ">pw", "~*", "+@all", "-getrange")
    url = f"redis://norange:pw@127.0.0.1:{server.port}"
    run = cachediag("inspect", "--json", "--redis", url)
    target = run.json()["targets"][0]
    assert "getrange" in target["values_unreadable"]
    assert run.code == 3
    check = cachediag("check", "--json", "--redis", url, "--only", "redis.serialization")
    assert check.json()["results"][0]["status"] == "error"


def test_a_refused_scan_is_an_up_target_that_cannot_be_read(cachediag, redis_factory) -> None:
    server = redis_factory()
    server.client().set("user:1", b"CKIT\x01payload")
    server.cli("ACL", "SETUSER", "noscan", "on", ">pw", "~*", "+@all", "-scan")
    url = f"redis://noscan:pw@127.0.0.1:{server.port}"
    run = cachediag("inspect", "--json", "--redis", url)
    assert run.code == 3  # not 1: nothing is down, and nothing was found corrupt
    validate(run.json(), "inspect")
    (target,) = run.json()["targets"]
    assert target["status"] == "up" and target["stop_reason"] == "server-error"
    assert "SCAN failed" in target["error"]["message"]
    text = cachediag("inspect", "--redis", url)
    assert text.code == 3 and "NOPERM" in text.out
    # check's sample says why it is missing, as before (skip: `sample_gap`)
    check = cachediag("check", "--json", "--redis", url, "--only", "redis.serialization")
    (result,) = check.json()["results"]
    assert result["status"] == "skip" and "SCAN failed" in result["summary"]
