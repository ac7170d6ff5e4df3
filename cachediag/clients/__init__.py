"""Lean protocol clients.

cachediag talks to servers through these small clients rather than redis-py's and
pymemcache's connection pools: it needs to know *why* a connection failed (refused,
dropped, TLS, auth, wrong protocol), to bound every step by one deadline, and to time
round trips without a heavy client path inflating them.
"""
