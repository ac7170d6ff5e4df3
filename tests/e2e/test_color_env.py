"""FORCE_COLOR and NO_COLOR, as a CI job pipes cachediag's output into its log."""

from __future__ import annotations


def test_force_color_when_piped(cachediag, closed_port) -> None:
    args = ("check", "--redis", f"redis://127.0.0.1:{closed_port}", "--only", "redis.running")
    assert "\x1b[" not in cachediag(*args).out
    forced = cachediag(*args, env={"FORCE_COLOR": "1"})
    assert forced.code == 1 and "\x1b[" in forced.out
    assert "\x1b[" not in cachediag(*args, env={"FORCE_COLOR": "1", "NO_COLOR": "1"}).out
