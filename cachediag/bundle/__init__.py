"""`cachediag gather`: a redacted, checksummed diagnostics bundle, and reading one back.

collectors (redis_files, memcached_files, host_files, log_files) -> files (BundleFile)
-> the one redaction pass (safety/redact) -> budgets -> writer (tar.gz, manifest,
redactions.json, README.md) -> the re-read that proves no credential is left.
`read.load_facts` gives `check --from` (and any other offline reader) the facts back.
"""
