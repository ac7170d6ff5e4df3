"""A Memcached target's readings as the bundle's files: `stats` and its groups, nothing else.

Sent: stats, stats settings, stats slabs, stats items, stats conns. Never a dump of keys
or values (no metadump, no get): a bundle carries counters and settings, not the cache.
"""

from __future__ import annotations

import time

from cachediag.bundle.files import BundleFile, target_folder
from cachediag.errors import ProbeError
from cachediag.safety.textsafe import safe_text
from cachediag.targets.target import Target

GROUPS: tuple[tuple[str, str], ...] = (
    ("stats.txt", ""),
    ("stats-settings.txt", "settings"),
    ("stats-slabs.txt", "slabs"),
    ("stats-items.txt", "items"),
    ("stats-conns.txt", "conns"),
)
SENT = tuple(f"stats {group}".strip() for _, group in GROUPS)


def collect(target: Target, timeout: float) -> list[BundleFile]:
    from cachediag.backends import backend_for
    from cachediag.clients.memcache_text import MemcachedClient

    folder = f"memcached/{target_folder(target.address)}"
    files: list[BundleFile] = []
    started = time.perf_counter()
    try:
        client = backend_for(target).connect(target, timeout)
        assert isinstance(client, MemcachedClient)
    except ProbeError as error:
        file = BundleFile(f"{folder}/stats.txt", "stats", error=f"connect: {error.message}")
        file.duration_ms = round((time.perf_counter() - started) * 1000, 3)
        return [file]
    lost: str | None = None
    with client:
        for name, group in GROUPS:
            command = f"stats {group}".strip()
            file = BundleFile(f"{folder}/{name}", command, patterns="server")
            files.append(file)
            if lost is not None:
                file.error = f"not sent: {lost}"
                continue
            begun = time.perf_counter()
            try:
                values = client.stats(group)
                file.text = "".join(
                    f"STAT {safe_text(k)} {safe_text(v)}\n" for k, v in values.items()
                )
            except ProbeError as error:
                file.error = error.message
                if error.kind != "error":  # a timeout or a dropped connection: stop here
                    lost = f"an earlier command failed ({error.message})"
            file.duration_ms = round((time.perf_counter() - begun) * 1000, 3)
    return files
