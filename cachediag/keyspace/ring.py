"""`cachediag ring KEY...`: which server of a Memcached pool owns each key under each common
client hashing, and which servers actually hold it (`mg KEY t s`: a read, no value sent
back). Two applications that hash differently show as a key held where one hashing puts
it and looked up where another does.
"""

from __future__ import annotations

from typing import Any

from cachediag.errors import ProbeError
from cachediag.keyspace.hashing import owner
from cachediag.safety.textsafe import safe_text
from cachediag.targets.target import Target


def _holdings(
    server: Target, timeout: float, keys: list[bytes]
) -> tuple[set[int], dict[str, Any] | None]:
    """Indexes of the keys `server` holds, or the error that kept us from asking."""
    from cachediag.clients.memcache_text import MemcachedClient

    try:
        with MemcachedClient(server, timeout).connect() as client:
            return {i for i, key in enumerate(keys) if client.meta_ttl(key) is not None}, None
    except ProbeError as error:
        return set(), error.to_dict()


def ring_report(
    servers: list[Target], timeout: float, keys: list[bytes], hashings: list[str]
) -> dict[str, Any]:
    from cachediag.probes.fanout import per_target

    names = [server.address for server in servers]
    readings = per_target(servers, lambda server: _holdings(server, timeout, keys))
    down = {
        server.address: error for server, (_, error) in zip(servers, readings, strict=True) if error
    }
    rows: list[dict[str, Any]] = []
    fits = {hashing: 0 for hashing in hashings}
    for index, key in enumerate(keys):
        owners = {hashing: names[owner(hashing, names, key)] for hashing in hashings}
        present = [
            name
            for name, (held, error) in zip(names, readings, strict=True)
            if not error and index in held
        ]
        for hashing, name in owners.items():
            if present == [name]:
                fits[hashing] += 1
        rows.append(
            {
                "key": safe_text(key),
                "owners": owners,
                "present_on": present,
                "agree": len(set(owners.values())) == 1,
            }
        )
    held = [row for row in rows if row["present_on"]]
    found = sum(len(row["present_on"]) for row in rows)
    findings = []
    if held:
        best = max(fits.values())
        matching = [hashing for hashing, count in fits.items() if count == best and best > 0]
        if matching and best == len(held):
            findings.append(
                f"every key found sits where {' and '.join(matching)} puts it: "
                "the writers hash that way"
            )
        elif matching:
            findings.append(
                f"{best} of {len(held)} keys found sit where {' and '.join(matching)} puts "
                "them; the others were written by a client hashing differently "
                "(or with another server list)"
            )
        else:
            findings.append(
                "no key found sits where any of these hashings puts it: the writers use "
                "another server list or order, or another hashing"
            )
        spread = [row for row in held if len(row["present_on"]) > 1]
        if spread:
            findings.append(
                f"{len(spread)} key(s) held on more than one server: two clients hashing "
                "differently each wrote their copy (stale reads after updates)"
            )
    if down:
        findings.append(f"{len(down)} server(s) could not be asked: {', '.join(down)}")
    return {
        "servers": names,
        "hashings": hashings,
        "keys": rows,
        "fits": fits,
        "down": down,
        "findings": findings,
        # Every server is asked about every key: one get each (a hit where it is held).
        "lookups_added": {
            "hits": found,
            "misses": len(rows) * (len(names) - len(down)) - found,
            "exact": True,
        },
    }
