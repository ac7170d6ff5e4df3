"""Whole values for a full decode: read only when a layout asks, and always bounded.

Redis: GETRANGE key 0 LIMIT-1, sent only for values whose STRLEN was under LIMIT, so
the reply is bounded even if a value grew in between (never an unbounded GET); a reply
of LIMIT bytes means it did grow, and the caller leaves it out. Memcached: a meta get,
sent only for items the crawler or an earlier read sized under the bound. Each read is
a lookup the server counts (a keyspace hit, a get_hit): callers count them and say so.
"""

from __future__ import annotations

from cachediag.clients.memcache_text import MemcachedClient
from cachediag.clients.resp import RedisClient
from cachediag.keyspace.entities import WHOLE_VALUE_LIMIT
from cachediag.keyspace.payload_survey import ValueReader


def redis_reader(client: RedisClient, limit: int = WHOLE_VALUE_LIMIT) -> ValueReader:
    def read(keys: list[bytes]) -> dict[bytes, bytes]:
        replies = client.pipeline([("GETRANGE", key, 0, limit - 1) for key in keys])
        # b"": the key is gone (GETRANGE of a missing key); an error: not a string any more.
        return {
            key: reply
            for key, reply in zip(keys, replies, strict=True)
            if isinstance(reply, bytes) and reply
        }

    return read


def memcached_reader(client: MemcachedClient) -> ValueReader:
    def read(keys: list[bytes]) -> dict[bytes, bytes]:
        return {key: value for key, (value, _ttl, _flags) in client.meta_get(keys).items()}

    return read
