"""The demo's launcher: it keeps to the processes it started, and never takes another
program's port for its own (a port taken between its pick and the server's bind)."""

from __future__ import annotations

from typing import Any

import pytest
from servers import SilentServer, free_port

from cachediag.demo import servers as demo_servers
from cachediag.demo.servers import DemoServers, port_open


def test_a_port_taken_meanwhile_is_never_mistaken_for_the_demos(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    squatter = SilentServer()  # answers on its port, as another program would
    picks = iter([squatter.port, free_port()])
    monkeypatch.setattr(demo_servers, "free_port", lambda: next(picks))
    try:
        with DemoServers() as servers:
            redis = servers.start_redis()
            assert redis.port != squatter.port and redis.process.poll() is None
            assert demo_servers._listens(redis.process.pid, redis.port)
            assert not demo_servers._listens(redis.process.pid, squatter.port)
            # The first attempt, which lost the port, was stopped, not left running.
            assert [s.process.poll() is not None for s in servers.started] == [True, False]
        assert port_open(squatter.port)  # the other program's server untouched
        assert not port_open(redis.port)
    finally:
        squatter.close()


def test_stop_removes_its_temp_dir_and_only_its_processes(redis_server: Any) -> None:
    with DemoServers() as servers:
        mc = servers.start_memcached()
        root = servers.root
        assert root.is_dir() and root.name.startswith("cachediag-demo-")
    assert not root.exists() and mc.process.poll() is not None
    assert port_open(redis_server.port)  # a server the demo did not start: still up
