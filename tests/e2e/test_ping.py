"""`cachediag ping`: healthy, unhealthy, version and role per target; the table from render/ping."""

from __future__ import annotations

import re

from cachediag.render import ping as render


def test_ping_table_names_each_target(
    cachediag, redis_server, memcached_server, closed_port
) -> None:
    run = cachediag(
        "ping",
        "--redis",
        redis_server.url,
        "--memcached",
        memcached_server.address,
        "--redis",
        f"redis://127.0.0.1:{closed_port}",
    )
    assert run.code == 1  # one target is unhealthy
    lines = {line.split("│")[1].strip(): line for line in run.out.splitlines() if "│" in line}
    version = redis_server.cli("INFO", "server").split("redis_version:")[1].split()[0]
    redis_row = lines[f"redis://127.0.0.1:{redis_server.port}/0"]
    assert "healthy" in redis_row and version in redis_row and "master" in redis_row
    assert re.search(r"\d+ µs|\d\.\d\d ms", redis_row)
    assert "healthy" in lines[f"memcached://{memcached_server.address}"]
    down = lines[f"redis://127.0.0.1:{closed_port}/0"]
    assert "unhealthy" in down and "refused" in down


def test_ping_json_and_exit_zero_when_all_answer(cachediag, redis_server) -> None:
    run = cachediag("ping", "--redis", redis_server.url, "--json")
    assert run.code == 0
    doc = run.json()
    assert doc["schema"] == "cachediag.ping/v1"
    (row,) = doc["targets"]
    assert row["status"] == "healthy" and row["role"] == "master" and row["latency_us"] > 0


def test_ping_table_shows_server_text_as_data() -> None:
    row = {
        "target": "redis://127.0.0.1:1/0",
        "status": "unhealthy",
        "latency_us": None,
        "connect_us": 1500,
        "version": "7.0\x1b]0;owned\x07",
        "role": "[bold]master[/]",
        "error": {"message": "refused"},
    }
    text = render.render([row], terminal=False)
    assert "\x1b" not in text and "\\x1b]0;owned\\x07" in text
    assert "[bold]master[/]" in text and "1.50 ms" in text and "–" in text
