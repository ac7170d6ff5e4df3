"""`cachediag purge`: pattern and explicit-key deletion, dry run first, guarded, reversible.

The pipeline, one module a step: `request` (what to delete, validated), `filters` (which
scanned keys qualify, and what a guarded delete compares), `inspect` (the reads a filter
needs, pipelined), `guard` (rate, budget, latency back-off), `redis` / `memcached` (the
loop over the scan engine, each batch's deletes applied through cachediag.writes),
`backup` (DUMP + PTTL records, and RESTORE from them), `checkpoint` (where a stopped
purge resumes), `report` (what the run did, for the renderers and --json).
"""
