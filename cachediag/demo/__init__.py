"""`cachediag demo`: the guide's issues on throwaway servers, for the first five minutes.

- `servers.py` starts redis-server and memcached on free loopback ports, each in a temp
  dir of its own, and stops them (only them: it keeps the processes it started);
- `scenarios.py` says what the guide's issues look like in a cache, as data: the keys,
  values, TTLs and lookups an application with those bugs leaves behind;
- `seed.py` writes a scenario into a loopback server (the demo's own, or a test's
  fixture): the one place outside writes.py that builds write commands, because it
  only ever writes to servers started for it;
- `make_run.py` is `make run`: check the local caches when one answers, else the demo.

The tests seed their fixture servers with the same scenarios (tests/servers.py), so
what the demo shows is what the suite asserts.
"""
