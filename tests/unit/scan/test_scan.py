"""The scanning engine against real servers: every type, TTLs, odd names, budgets, resume, ACLs."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from servers import LoopbackServer

from cachediag.clients.memcache_text import MemcachedClient
from cachediag.clients.resp import RedisClient
from cachediag.errors import CrawlerUnavailable, ProbeError
from cachediag.keyspace.namespaces import namespace_of
from cachediag.scan.memcached import (
    CrawlOptions,
    Item,
    class_counts,
    class_quotas,
    crawl,
    parse_block,
    sample_items,
)
from cachediag.scan.redis import KeyInfo, Namespacer, ScanOptions, scan_keyspace, scan_sample
from cachediag.targets.parse import parse_memcached, parse_redis

MARKUP_KEY = b"user:[bold red]boom[/]\x1b[31m\n"
BINARY_KEY = b"bin:\xff\xfe\x00\x01"


def connect(server, url: str | None = None) -> RedisClient:
    return RedisClient(parse_redis(url or server.url, "flag"), 5).connect()


def seed_types(server) -> dict[bytes, tuple[str, int]]:
    """One key of every type (plus a few namespaces of each), with the expected type and length."""
    r = server.client()
    expected: dict[bytes, tuple[str, int]] = {}
    pipe = r.pipeline(transaction=False)
    for i in range(50):
        pipe.set(f"str:{i}", "x" * i)
        expected[f"str:{i}".encode()] = ("string", i)
        pipe.hset(f"hash:{i}", mapping={f"f{j}": j for j in range(i + 1)})
        expected[f"hash:{i}".encode()] = ("hash", i + 1)
        pipe.rpush(f"list:{i}", *range(i + 2))
        expected[f"list:{i}".encode()] = ("list", i + 2)
        pipe.sadd(f"set:{i}", *range(3))
        expected[f"set:{i}".encode()] = ("set", 3)
        pipe.zadd(f"zset:{i}", {"a": 1, "b": 2})
        expected[f"zset:{i}".encode()] = ("zset", 2)
    pipe.xadd("stream:1", {"a": "1"})
    pipe.xadd("stream:1", {"b": "2"})
    expected[b"stream:1"] = ("stream", 2)
    pipe.set("ttl:1", "v", ex=3600)
    expected[b"ttl:1"] = ("string", 1)
    pipe.set(MARKUP_KEY, "m")
    expected[MARKUP_KEY] = ("string", 1)
    pipe.set(BINARY_KEY, b"\x00\x01")
    expected[BINARY_KEY] = ("string", 2)
    pipe.execute()
    return expected


def full_scan(client: RedisClient, **options) -> tuple[list[KeyInfo], object]:
    found: list[KeyInfo] = []
    result = scan_keyspace(client, ScanOptions(**options), found.extend)
    return found, result


def test_every_type_is_read_with_its_length_ttl_and_memory(redis_server) -> None:
    expected = seed_types(redis_server)
    with connect(redis_server) as client:
        found, result = full_scan(client, count=100, max_keys=0)
    assert result.complete and result.stop_reason is None
    by_key = {info.key: info for info in found}
    assert set(by_key) == set(expected)  # binary and markup names come back byte for byte
    for key, (kind, length) in expected.items():
        info = by_key[key]
        assert (info.type, info.length) == (kind, length), key
        assert info.memory and info.memory > 0
    assert 3_500_000 < by_key[b"ttl:1"].ttl_ms <= 3_600_000
    assert by_key[b"str:1"].ttl_ms == -1
    assert by_key[b"hash:3"].namespace == "hash:*"
    # Strings are guessed first: other types are re-inspected, yet no key is reported twice.
    assert result.misguesses > 0
    assert len(found) == len(by_key) == result.inspected == result.scanned


def test_pattern_and_type_filters(redis_server) -> None:
    seed_types(redis_server)
    with connect(redis_server) as client:
        hashes, _ = full_scan(client, type="hash", count=100)
        users, _ = full_scan(client, match="list:1*", count=100)
    assert {i.type for i in hashes} == {"hash"} and len(hashes) == 50
    assert {i.key for i in users} == {b"list:1"} | {f"list:{n}".encode() for n in range(10, 20)}
    assert all(i.length == int(i.key.split(b":")[1]) + 2 for i in users)


def test_budget_stop_and_resume_cover_the_keyspace(redis_server) -> None:
    r = redis_server.client()
    r.mset({f"k:{i}": i for i in range(3000)})
    with connect(redis_server) as client:
        first, result = full_scan(client, count=100, max_keys=1000)
        assert not result.complete and result.stop_reason == "max-keys" and result.cursor != 0
        assert 1000 <= len(first) < 1300  # stops at the first batch edge past the budget
        second, resumed = full_scan(client, count=100, cursor=result.cursor)
    assert resumed.complete
    seen = [i.key for i in first + second]
    assert set(seen) == {f"k:{i}".encode() for i in range(3000)}
    assert len(seen) - len(set(seen)) < 50  # SCAN may repeat a few keys, never skip one


def test_interrupt_keeps_what_was_reported_and_the_cursor_to_resume(redis_server) -> None:
    r = redis_server.client()
    r.mset({f"k:{i}": i for i in range(2000)})
    reported: list[bytes] = []
    calls = 0

    def on_batch(infos: list[KeyInfo]) -> None:
        nonlocal calls
        calls += 1
        if calls == 4:
            raise KeyboardInterrupt  # Ctrl-C in the middle of the scan
        reported.extend(i.key for i in infos)

    with connect(redis_server) as client:
        result = scan_keyspace(client, ScanOptions(count=100), on_batch)
    assert result.stop_reason == "interrupted" and not result.complete
    with connect(redis_server) as client:
        rest, resumed = full_scan(client, count=100, cursor=result.cursor)
    assert resumed.complete
    assert set(reported) | {i.key for i in rest} == {f"k:{i}".encode() for i in range(2000)}


def test_max_seconds_sleep_and_backoff(redis_server) -> None:
    redis_server.client().mset({f"k:{i}": i for i in range(2000)})
    with connect(redis_server) as client:
        _, timed = full_scan(client, count=100, max_seconds=0)
        _, slept = full_scan(client, count=500, sleep_ms=20)
        # A threshold no PING can meet: the engine must slow down, and still finish.
        _, backed = full_scan(client, count=500, backoff_above_ms=0.000_001, ping_every_s=0)
    assert timed.stop_reason == "max-seconds" and timed.cursor != 0 and timed.batches <= 3
    assert slept.complete and slept.slept_s >= 0.02 * (slept.batches - 1)
    assert backed.complete and backed.backoffs >= 1 and backed.slept_s > 0


def test_keys_deleted_mid_scan_are_skipped(redis_server) -> None:
    r = redis_server.client()
    keys = [f"k:{i}" for i in range(3000)]
    r.mset(dict.fromkeys(keys, "v"))
    reported: list[bytes] = []

    def on_batch(infos: list[KeyInfo]) -> None:
        if not reported:
            # SCAN has already returned the next batches (in flight): delete them under it.
            done = {i.key.decode() for i in infos}
            r.delete(*[k for k in keys if k not in done])
        reported.extend(i.key for i in infos)

    with connect(redis_server) as client:
        result = scan_keyspace(client, ScanOptions(count=100, ping_every_s=3600), on_batch)
    assert result.complete
    assert result.deleted > 0
    assert result.inspected + result.deleted == result.scanned
    assert len(reported) == result.inspected and all(info for info in reported)


def test_memory_denied_by_acl_falls_back_to_lengths(redis_server) -> None:
    seed_types(redis_server)
    redis_server.cli("ACL", "SETUSER", "scanner", "on", ">s3cret", "~*", "+@all", "-memory")
    url = f"redis://scanner:s3cret@127.0.0.1:{redis_server.port}/0"
    with connect(redis_server, url) as client:
        found, result = full_scan(client, count=100)
        sample = scan_sample(client, max_keys=50)
    assert result.complete and not result.memory_available
    assert "memory" in (result.memory_reason or "").lower()
    by_key = {i.key: i for i in found}
    assert all(i.memory is None for i in found)
    assert by_key[b"str:10"].size == len(b"str:10") + 10  # a string's bytes
    assert by_key[b"hash:9"].length == 10 and by_key[b"hash:9"].size > 10
    assert not sample.memory_available and len(sample.keys) == 50


def test_scan_sample_keeps_its_contract(redis_server) -> None:
    r = redis_server.client()
    r.mset({f"k:{i}": "CKIT\x01payload" for i in range(300)})
    with connect(redis_server) as client:
        sample = scan_sample(client, max_keys=100)
        whole = scan_sample(client, max_keys=1000)
    assert len(sample.keys) == 100 and not sample.complete
    assert whole.complete and len(whole.keys) == 300
    fact = whole.keys[0].to_fact()
    assert fact["head_hex"].startswith("434b495401") and fact["type"] == "string"


@pytest.mark.parametrize(
    "key",
    [
        "user:123",
        "user:42:profile",
        "123",
        "plain",
        "a:b:c",
        "session:550e8400-e29b-41d4-a716-446655440000",
        "ev:2026-11-26T04:00:00Z:x",
        "x:deadbeef1234",
        "user:-5",
        "user:12:",
        ":12",
        "x:20261126040000",
        "a:1b:12",
        "a:deadbeef1234:12",
        "\udcff:12",
    ],
)
def test_namespacer_agrees_with_namespace_of(key: str) -> None:
    namespacer = Namespacer(":")
    raw = key.encode("utf-8", "surrogateescape")
    assert namespacer(raw) == namespacer(raw) == namespace_of(key)


# -- Memcached ---------------------------------------------------------------------------


def settle() -> None:
    """Let memcached's LRU maintainer move fresh items out of the hot LRU.

    The crawler skips items that move between LRUs while it walks them: right after
    a burst of writes a dump may miss some (memcached's behaviour, on every client).
    """
    time.sleep(1.0)


def test_memcached_crawl_lists_every_item(memcached_server) -> None:
    mc = memcached_server.client()
    for i in range(500):
        mc.set(f"user:{i}", b"x" * i, expire=0 if i % 2 else 600)
    mc.set(b"odd:\xff%key", b"v")
    settle()
    items: list[Item] = []
    target = parse_memcached(memcached_server.address, "flag")
    with MemcachedClient(target, 5).connect() as client:
        result = crawl(client, CrawlOptions(), items.extend)
    assert result.complete and result.spec == "hash"
    keys = {i.key for i in items}
    assert len(items) == 501 and b"odd:\xff%key" in keys
    by_key = {i.key: i for i in items}
    assert by_key[b"user:1"].exp == -1 and by_key[b"user:2"].exp > result.server_time
    assert by_key[b"user:300"].size > by_key[b"user:3"].size
    assert by_key[b"user:7"].namespace == "user:*"

    partial: list[Item] = []
    with MemcachedClient(target, 5).connect() as client:
        stopped = crawl(
            client, CrawlOptions(max_keys=100, spec="all", match="user:*"), partial.extend
        )
    assert stopped.stop_reason == "max-keys" and len(partial) == 100
    assert all(i.key.startswith(b"user:") for i in partial)


class BusyCrawler(LoopbackServer):
    """A Memcached whose LRU crawler answers BUSY to the first `busy` metadump requests.

    A real one answers BUSY only while its crawler is caught between two requests (a
    dump just cut short at a budget): a moment no test can hit on purpose.
    """

    def __init__(self, busy: int) -> None:
        self.busy = busy
        self.requests = 0
        super().__init__()

    def handle(self, conn: socket.socket) -> None:
        threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn, conn.makefile("rb") as lines:
            for line in lines:
                if line.startswith(b"stats"):
                    conn.sendall(b"STAT time 1700000000\r\nSTAT curr_items 1\r\nEND\r\n")
                elif line.startswith(b"lru_crawler metadump"):
                    self.requests += 1
                    if self.requests <= self.busy:
                        conn.sendall(b"BUSY currently processing crawler request\r\n")
                    else:
                        item = b"key=user%3A1 exp=-1 la=1700000000 cas=1 fetch=no cls=1 size=60"
                        conn.sendall(item + b"\nEND\r\n")


@pytest.mark.parametrize(("busy", "waits"), [(3, True), (10_000, False)])
def test_a_crawl_waits_a_moment_for_a_busy_crawler(
    monkeypatch: pytest.MonkeyPatch, busy: int, waits: bool
) -> None:
    """One dump at a time: a crawler that frees itself soon is waited for, one that does not
    is reported as busy (within BUSY_WAIT_S), never a hang and never a crash."""
    import cachediag.scan.memcached as engine

    monkeypatch.setattr(engine, "BUSY_WAIT_S", 0.5)
    server = BusyCrawler(busy)
    try:
        target = parse_memcached(f"127.0.0.1:{server.port}", "flag")
        got: list[Item] = []
        with MemcachedClient(target, 5).connect() as client:
            if waits:
                result = crawl(client, CrawlOptions(spec="all"), got.extend)
                assert result.complete and [i.key for i in got] == [b"user:1"]
                assert server.requests == busy + 1
            else:
                started = time.monotonic()
                with pytest.raises(CrawlerUnavailable, match="busy with another request"):
                    crawl(client, CrawlOptions(spec="all"), got.extend)
                assert 0.5 <= time.monotonic() - started < 2
    finally:
        server.close()


def test_memcached_without_crawler_says_so(memcached_factory) -> None:
    server = memcached_factory("-o", "no_lru_crawler")
    server.client().set("k", b"v")
    client = MemcachedClient(parse_memcached(server.address, "flag"), 5).connect()
    with client, pytest.raises(ProbeError) as raised:
        crawl(client, CrawlOptions(), lambda items: None)
    assert raised.value.kind == "crawler"
    assert "LRU crawler is disabled" in raised.value.message


# Issue 10, case 2: many small items in a few small slab classes, fewer big ones spread
# over several classes. (key prefix, items, value sizes, expiry)
SKEWED = (
    ("session", 12_000, (150, 330), 3600),
    ("user", 8_000, (400, 440), 0),
    ("page", 1_500, (9_000, 16_000), 0),
)


def seed_skewed(server) -> dict[str, float]:
    """Store the SKEWED population; returns each namespace's share of the items."""
    import random

    rnd = random.Random(7)
    client = server.client()
    for prefix, count, (low, high), expire in SKEWED:
        values = {f"{prefix}:{i}": b"v" * rnd.randint(low, high) for i in range(count)}
        client.set_many(values, expire=expire, noreply=True)
    settle()
    total = sum(count for _, count, _, _ in SKEWED)
    return {f"{prefix}:*": count / total for prefix, count, _, _ in SKEWED}


def server_average(server) -> float:
    target = parse_memcached(server.address, "flag")
    with MemcachedClient(target, 5).connect() as client:
        stats = client.stats()
    return int(stats["bytes"]) / int(stats["curr_items"])


def shares_of(items: list[Item]) -> dict[str, float]:
    from collections import Counter

    return {ns: n / len(items) for ns, n in Counter(i.namespace for i in items).items()}


@pytest.mark.parametrize("spec", ["hash", "all"])
def test_a_memcached_sample_stands_for_a_skewed_keyspace(memcached_factory, spec: str) -> None:
    server = memcached_factory("-m", "128")
    truth = seed_skewed(server)
    average = server_average(server)
    target = parse_memcached(server.address, "flag")
    # The sample first: the naive crawl is cut short at its budget, and a crawler still
    # winding down that dump answers BUSY for a while (longer on a loaded machine).
    with MemcachedClient(target, 5).connect() as client:
        sample, result = sample_items(client, 1000, spec=spec)
    with MemcachedClient(target, 5).connect() as client:
        naive: list[Item] = []
        crawl(client, CrawlOptions(max_keys=1000, spec=spec), naive.extend)
    assert result.spec == spec and len(sample) == 1000 and not result.complete
    sampled = sum(i.size for i in sample) / len(sample)
    assert abs(sampled - average) / average < 0.1, (sampled, average)
    shares = shares_of(sample)
    for namespace, share in truth.items():
        assert abs(shares.get(namespace, 0) - share) < 0.03, (namespace, shares, truth)
    if spec == "all":
        # What the sample replaces: the LRU walk's first lines, several times the true average.
        assert sum(i.size for i in naive) / len(naive) > 2.5 * average


def test_the_check_and_memory_read_a_skewed_memcached_right(memcached_factory, cachediag) -> None:
    server = memcached_factory("-m", "128")
    truth = seed_skewed(server)
    average = server_average(server)
    memory = cachediag("memory", "--memcached", server.address, "--json").json()["targets"][0]
    readings = {r["name"]: r for r in memory["readings"]}
    stored = readings["bytes"]["value"] / readings["curr_items"]["value"]
    assert readings["average_entry_bytes"]["value"] == pytest.approx(stored)
    assert "(bytes / curr_items)" in readings["average_entry_bytes"]["display"]
    assert memory["projection"]["estimated_bytes"] == pytest.approx(
        readings["bytes"]["value"], 1e-3
    )
    sampled = readings["average_entry_bytes"]["verdict"]["observed"]["average_bytes"]
    assert abs(sampled - average) / average < 0.1, (sampled, average)
    text = cachediag("memory", "--memcached", server.address).out
    assert "(bytes / curr_items)" in text and "sampled entries)" not in text

    check = cachediag("check", "--json", "--memcached", server.address, "--only", "memcached.ttl")
    observed = check.json()["results"][0]["observed"]
    without = truth["user:*"] + truth["page:*"]
    assert abs(observed["share_without_ttl"] - without) < 0.04, observed
    assert observed["namespaces_without_ttl"][0].startswith("user:*"), observed

    ttl = cachediag("ttl", "--memcached", server.address, "--max-keys", "1000", "--json")
    row = ttl.json()["targets"][0]
    assert row["sampled"] == 1000 and row["namespaces"][0]["namespace"] == "user:*"
    assert abs(row["buckets"]["no expiry"] / 1000 - without) < 0.04


def test_class_quotas_are_proportional_and_add_up() -> None:
    counts = class_counts(
        {"items:5:number": "1316", "items:9:number": 5479, "items:22:number": "3", "total": "9"}
    )
    assert counts == {5: 1316, 9: 5479, 22: 3}
    quotas = class_quotas(counts, 1000)
    assert quotas is not None and sum(quotas.values()) == 1000
    # 193.59, 805.97 and 0.44 of 1000: floors give 998, the two largest remainders the rest.
    assert quotas == {5: 194, 9: 806, 22: 0}
    assert class_quotas(counts, 10_000) is None  # room for every item: no shares


def test_metadump_blocks_of_both_shapes_parse_alike() -> None:
    namespacer = Namespacer(":")
    current = (
        b"key=user%3A1 exp=-1 la=1700000000 cas=7 fetch=yes cls=1 size=65\n"
        b"key=odd%3A%FF%25x exp=1700000600 la=1700000001 cas=8 fetch=no cls=3 size=130\n"
    )
    older = (  # no cas field, fields in another order: read by name
        b"key=user%3A1 exp=-1 la=1700000000 fetch=yes cls=1 size=65\n"
        b"key=odd%3A%FF%25x la=1700000001 exp=1700000600 fetch=no cls=3 size=130\n"
    )
    for block in (current, older):
        items = list(parse_block(block, namespacer))
        assert [(i.key, i.exp, i.la, i.fetch, i.cls, i.size, i.namespace) for i in items] == [
            (b"user:1", -1, 1700000000, True, 1, 65, "user:*"),
            (b"odd:\xff%x", 1700000600, 1700000001, False, 3, 130, "odd:\udcff%x"),
        ]


@pytest.mark.parametrize("delimiter", [":", "::", "/"])
def test_namespacer_batches_agree_with_namespace_of(delimiter: str) -> None:
    keys = [
        b"user:123",
        b"user:456:profile",
        b"123",
        b"abc",
        b"a:b:c",
        b"x:deadbeef1234",
        b"user:12:",
        b":12",
        b"a:1b:12",
        b"user:",
        b"user:5",
        b"user:*",
        b"12:34",
        b"a/7/b",
        b"a::7",
        b"\xff:12",
        b"x:1\n2",
        b"s:550e8400-e29b-41d4-a716-446655440000",
        b"n:\x00:1",
    ]
    plain = [k for k in keys if not any(c in k for c in (b"-", b"\n", b"\x00"))]
    for batch in (keys, plain, [b"user:", b"user:5", b"user:"]):
        expected = [namespace_of(k.decode("utf-8", "surrogateescape"), delimiter) for k in batch]
        warm = Namespacer(delimiter)
        assert [warm(k) for k in batch] == expected  # key by key, filling the caches
        assert warm.many(batch) == expected  # then by batch, from them
        assert Namespacer(delimiter).many(batch) == expected


def test_keys_an_acl_user_cannot_read_are_skipped_not_fatal(cachediag, redis_factory) -> None:
    server = redis_factory()
    client = server.client()
    for i in range(50):
        client.set(f"user:{i}", "v")
        client.set(f"other:{i}", "v")
    server.cli("ACL", "SETUSER", "limited", "on", ">pw", "~user:*", "+@all")
    run = cachediag("bigkeys", "--json", "--redis", f"redis://limited:pw@127.0.0.1:{server.port}")
    target = run.json()["targets"][0]
    assert target["status"] == "up"
    assert target["scan"]["denied"] == 50
    assert target["scan"]["inspected"] == 50
    assert target["size_source"] == "MEMORY USAGE"  # MEMORY itself is allowed
    check = cachediag(
        "check",
        "--json",
        "--redis",
        f"redis://limited:pw@127.0.0.1:{server.port}",
        "--only",
        "redis.entry_size",
    )
    assert check.json()["results"][0]["status"] == "pass"


def test_a_key_scan_returned_twice_is_listed_once() -> None:
    from cachediag.keyspace.keystats import Entry, _Top

    top = _Top(3)
    entry = Entry(b"user:1", "string", 500, 5, None, "user:*")
    top.push(500, entry)
    top.push(500, entry)
    top.push(100, Entry(b"user:2", "string", 100, 1, None, "user:*"))
    assert [e.key for e in top.ranked()] == [b"user:1", b"user:2"]


def test_a_ttl_only_exact_sample_sends_pttl_alone_and_keeps_exactly_its_size(
    redis_server,
) -> None:
    seed_types(redis_server)
    redis_server.cli("CONFIG", "RESETSTAT")
    with connect(redis_server) as client:
        found, result = full_scan(
            client, max_keys=100, exact_sample=True, with_type=False, use_memory=False
        )
        whole, complete = full_scan(client, max_keys=10_000, exact_sample=True, with_type=False)
    assert len(found) == result.scanned == 100 and result.dropped > 0  # COUNT 1000: one batch
    assert not result.complete and result.stop_reason == "max-keys"
    assert {(i.type, i.length) for i in found} == {("", None)}
    assert complete.complete and len(whole) == len(seed_types(redis_server))
    by_key = {i.key: i for i in whole}
    assert 3_500_000 < by_key[b"ttl:1"].ttl_ms <= 3_600_000 and by_key[b"str:1"].ttl_ms == -1
    stats = redis_server.cli("INFO", "commandstats")
    sent = {line.split(":")[0].removeprefix("cmdstat_") for line in stats.split() if ":" in line}
    assert {"scan", "pttl"} <= sent
    assert not sent & {"type", "strlen", "hlen", "llen", "getrange"}  # no type was asked


def test_max_batches_bounds_a_sparse_pattern(redis_server) -> None:
    redis_server.client().mset({f"k:{i}": i for i in range(5000)})
    with connect(redis_server) as client:
        found, result = full_scan(client, match="nomatch:*", count=100, max_batches=5)
    assert not found and result.batches == 5 and result.stop_reason == "max-batches"
    assert not result.complete and result.cursor != 0


def test_keys_only_lists_keys_and_stops_when_the_caller_has_enough(redis_server) -> None:
    redis_server.client().mset({f"k:{i}": i for i in range(5000)})
    redis_server.cli("CONFIG", "RESETSTAT")
    found: list[KeyInfo] = []

    def add(infos: list[KeyInfo]) -> bool:
        found.extend(infos)
        return len(found) >= 250

    with connect(redis_server) as client:
        result = scan_keyspace(client, ScanOptions(count=100, keys_only=True), add)
    assert result.stop_reason == "enough" and not result.complete and result.cursor != 0
    assert 250 <= len(found) < 400 and {(i.type, i.length, i.namespace) for i in found} == {
        ("", None, "k:*")
    }
    stats = redis_server.cli("INFO", "commandstats")
    calls = {
        line.split(":")[0].removeprefix("cmdstat_"): int(line.split("calls=")[1].split(",")[0])
        for line in stats.split()
        if line.startswith("cmdstat_")
    }
    assert calls["scan"] == result.batches  # not one SCAN past the batch that was enough
    assert not {"pttl", "strlen", "memory", "type"} & set(calls)


class _ExistsRider:
    """Rides an EXISTS of each batch's keys behind the next SCAN; counts what landed."""

    def __init__(self) -> None:
        self.queue: list[bytes] = []
        self.sent = 0
        self.landed_keys = 0
        self.rides = 0

    def on_keys(self, keys: list[bytes], names: list[str]) -> bool:
        assert len(keys) == len(names) and all(n.endswith("*") for n in names)
        self.queue.extend(keys)
        return False

    def ride(self) -> tuple[bytes, int]:
        from cachediag.clients.resp import pack

        if not self.queue:
            return b"", 0
        keys, self.queue = self.queue, []
        self.sent += len(keys)
        return pack(b"EXISTS", *keys), 1

    def landed(self, replies: list) -> None:  # type: ignore[type-arg]
        self.rides += 1
        self.landed_keys += replies[0]


def test_a_rider_sends_behind_each_scan_in_one_round_trip(redis_server) -> None:
    r = redis_server.client()
    r.mset({f"ride:{i}": 1 for i in range(5000)})
    rider = _ExistsRider()
    with connect(redis_server) as client:
        result = scan_keyspace(
            client,
            ScanOptions(
                count=500, match="ride:*", keys_only=True, rider=rider, on_keys=rider.on_keys
            ),
            lambda batch: pytest.fail("on_keys takes the batches"),
        )
    assert result.complete and rider.sent == rider.landed_keys == 5000
    assert rider.rides >= result.batches - 1
    # One round trip a batch (the rider's commands go right behind the next SCAN), plus
    # DBSIZE, the PINGs and at most the last ride sent alone.
    pings = int(result.elapsed_s / 0.5) + 1 + result.backoffs
    assert result.batches >= 8 and result.round_trips <= result.batches + 4 + 1 + pings


def test_on_keys_can_end_the_scan_and_the_cursor_resumes(redis_server) -> None:
    r = redis_server.client()
    r.mset({f"k:{i}": 1 for i in range(3000)})
    seen: list[bytes] = []

    def enough(keys: list[bytes], names: list[str]) -> bool:
        seen.extend(keys)
        return len(seen) >= 1000

    with connect(redis_server) as client:
        first = scan_keyspace(client, ScanOptions(count=200, keys_only=True, on_keys=enough), list)
        assert first.stop_reason == "enough" and not first.complete
        rest = scan_keyspace(
            client,
            ScanOptions(
                count=200, keys_only=True, cursor=first.cursor, on_keys=lambda k, n: seen.extend(k)
            ),
            list,
        )
    assert rest.complete and set(seen) == {f"k:{i}".encode() for i in range(3000)}


class _UnlinkRider(_ExistsRider):
    """UNLINKs each batch; counts its commands sent and not yet answered at each send."""

    def __init__(self, overlap: bool) -> None:
        super().__init__()
        self.overlap = overlap
        self.unanswered = 0
        self.deepest = 0

    def ride(self) -> tuple[bytes, int]:
        from cachediag.clients.resp import pack

        if not self.queue:
            return b"", 0
        keys, self.queue = self.queue, []
        self.sent += len(keys)
        self.unanswered += 1
        self.deepest = max(self.deepest, self.unanswered)
        return pack(b"UNLINK", *keys), 1

    def landed(self, replies: list) -> None:  # type: ignore[type-arg]
        self.unanswered -= 1
        super().landed(replies)


@pytest.mark.parametrize("overlap", [True, False])
def test_an_overlapping_rider_has_two_writes_in_flight_at_most(redis_server, overlap) -> None:
    """overlap: the next batch's commands go out before the last ones' replies are read
    (two unanswered at most); without it, each is answered before the next is built."""
    r = redis_server.client()
    r.mset({f"ride:{i}": 1 for i in range(5000)})
    r.mset({f"keep:{i}": 1 for i in range(100)})
    rider = _UnlinkRider(overlap)
    with connect(redis_server) as client:
        result = scan_keyspace(
            client,
            ScanOptions(
                count=250, match="ride:*", keys_only=True, rider=rider, on_keys=rider.on_keys
            ),
            lambda batch: pytest.fail("on_keys takes the batches"),
        )
    assert result.complete and rider.sent == rider.landed_keys == 5000
    assert rider.unanswered == 0 and rider.deepest == (2 if overlap else 1)
    assert r.dbsize() == 100
    pings = int(result.elapsed_s / 0.5) + 1 + result.backoffs
    assert result.round_trips <= result.batches + 4 + pings  # one round trip a batch


def test_enough_with_an_overlapping_rider_lands_everything_and_resumes(redis_server) -> None:
    r = redis_server.client()
    r.mset({f"ride:{i}": 1 for i in range(3000)})
    rider = _UnlinkRider(True)

    def enough(keys: list[bytes], names: list[str]) -> bool:
        rider.on_keys(keys, names)
        return rider.sent + len(rider.queue) >= 1000

    with connect(redis_server) as client:
        first = scan_keyspace(
            client,
            ScanOptions(count=200, match="ride:*", keys_only=True, rider=rider, on_keys=enough),
            list,
        )
        assert first.stop_reason == "enough" and rider.unanswered == 0
        assert rider.sent == rider.landed_keys == 3000 - r.dbsize()
        rest = _UnlinkRider(True)
        scan_keyspace(
            client,
            ScanOptions(
                count=200,
                match="ride:*",
                keys_only=True,
                cursor=first.cursor,
                rider=rest,
                on_keys=rest.on_keys,
            ),
            list,
        )
    assert r.dbsize() == 0


@pytest.mark.parametrize("overlap", [True, False])
def test_a_rider_over_a_sparse_match_with_empty_batches(redis_server, overlap) -> None:
    """Batches with nothing to ride between ones that do: each reply is read as what it
    answers (the rider's last commands before the next SCAN's reply)."""
    r = redis_server.client()
    r.mset({f"other:{i}": 1 for i in range(6000)})
    r.mset({f"ride:{i}": 1 for i in range(300)})
    rider = _UnlinkRider(overlap)
    with connect(redis_server) as client:
        result = scan_keyspace(
            client,
            ScanOptions(
                count=100, match="ride:*", keys_only=True, rider=rider, on_keys=rider.on_keys
            ),
            lambda batch: pytest.fail("on_keys takes the batches"),
        )
    assert result.complete and rider.sent == rider.landed_keys == 300
    assert rider.unanswered == 0 and r.dbsize() == 6000
