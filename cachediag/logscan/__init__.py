"""Application log analysis: the cache-kit log patterns, by category, at grep speed.

Public API::

    from cachediag.logscan import scan_logs, LogScanError
    report = scan_logs(["app.log", "old/*.log.gz"], since="2h", until=None)

`scan_logs(paths, since=None, until=None, *, jobs=None, chunk_size=...)` returns the
`cachediag.logs/v1` document as a JSON-serializable dict (what `cachediag logs --json`
prints) and raises `LogScanError` (exit 2 in the CLI) for a missing file, an empty glob or
a bad time. `paths` are files, globs or "-" (stdin); gzip is recognised by its magic
bytes. `since`/`until`: a duration before now ("30m", "2h", "1d", "1h30m"), an ISO 8601
timestamp (no zone = local time), epoch seconds or a datetime.

JSON document `cachediag.logs/v1` (keys are stable; new keys may be added, none renamed):

    schema         "cachediag.logs/v1"
    version        cachediag version
    generated_at   ISO 8601 UTC
    duration_ms    wall time of the scan
    window         {"since": ISO|null, "until": ISO|null}   the filter in force
    sources        [{"name", "kind": "file"|"gzip"|"stdin", "size_bytes": int|null,
                     "scanned_bytes": int}]   (scanned = decompressed bytes read)
    counts         {category: count}   the per-category counts at a glance
    categories     {category: {...}} for every category, in this order:
                   serialization, pool_exhausted, backend_unavailable, timeout,
                   cache_error, fallback, flush, hit, miss
        severity           "error" | "warning" | "info"
        description        what the category matches
        count              matching lines (bulk categories in very dense chunks:
                           occurrences)
        first, last        earliest / latest timestamp, ISO 8601 UTC, or null
        untimed            lines counted with no timestamp before them (only without a
                           time filter: with one, such lines are not counted)
        histogram          {"YYYY-MM-DDTHH:MM:00Z": count} per minute, the most recent
                           1440 minutes with data
        histogram_dropped  count in older minutes left out of `histogram`
        samples            up to 5 [{"source", "offset" (byte offset of the line),
                           "time": ISO|null, "text"}], first in file order; text redacted
                           and escaped
        top_keys           up to 10 [{"key", "count"}] named in the category's lines
                           (error categories; [] for the others)
    keys           affected keys, `<prefix>:<id>` named in error lines (every category
                   but fallback, flush, hit and miss):
        mentions   lines x keys counted
        distinct   distinct keys tracked
        truncated  true when the cap on distinct keys dropped rare ones
        namespaces up to 50 [{"namespace", "mentions", "distinct_keys"}], most first
        top        up to 20 [{"key", "count"}], most first
                   (a key whose prefix names a credential - token, password, secret,
                   api key, auth - is counted with its id masked: `token:***`)
    fallback_proximity   for the app.fallback check:
        backend_error_categories  ["backend_unavailable", "timeout", "cache_error"]
        backend_errors            lines in any of those categories
        with_fallback_nearby      of which with a fallback line within `near_lines`
                                  lines or `near_seconds` seconds (looking 64 KiB
                                  either side)
        without_fallback_nearby   the others
        near_lines, near_seconds  5, 5.0
    engine         {"search": "libc-strstr"|"python", "bulk": "stringzilla"|"stdlib"
                   (what lowers chunks and counts hits and misses), "gzip":
                   "isal"|"zlib" (what inflates .gz files), "jobs" (processes),
                   "ranges", "chunk_bytes"} how it ran

Timestamps: see `timestamps` (ISO 8601, `2024-01-15 10:23:45`, syslog `Jan 15 10:23:45`;
a line without one inherits the last one seen). How it is fast: see `scanner`.
"""

from cachediag.logscan.api import SCHEMA, scan_logs
from cachediag.logscan.reader import LogScanError

__all__ = ["SCHEMA", "LogScanError", "scan_logs"]
