"""--help as a person reads it: never masked, never cropped, wrapped at word boundaries."""

from __future__ import annotations

import re

import pytest

from cachediag.cli.app import COMMANDS

STRAY_DOT = re.compile(r" \.(\s|│|$)")  # a sentence whose last words were eaten as markup


@pytest.mark.parametrize("command", ["", *COMMANDS])
@pytest.mark.parametrize("columns", [80, 100])
def test_help_fits_and_is_whole(cachediag, command: str, columns: int) -> None:
    args = [command, "--help"] if command else ["--help"]
    run = cachediag(*args, env={"COLUMNS": str(columns)})
    assert run.code == 0, run.err
    for line in run.out.splitlines():
        assert len(line) <= columns, line
        assert "…" not in line, line  # nothing cropped
        assert not STRAY_DOT.search(line), line
        assert "***" not in line, line  # help is cachediag's own text: nothing masked


def test_help_keeps_its_example_urls(cachediag) -> None:
    out = " ".join(cachediag("check", "--help", env={"COLUMNS": "200"}).out.split())
    assert "redis://:secret@10.0.0.5:6379/0" in out
    assert "user:password@ before the host" in out


def test_paragraphs_are_reflowed_not_wrapped_twice(cachediag) -> None:
    out = cachediag("check", "--help", env={"COLUMNS": "200"}).out
    # One source paragraph, three source lines: one line when the terminal is wide.
    reflowed = "seconds apart (default 2), so the hit rate is today's; with no lookups"
    assert reflowed in out


def test_usage_errors_stay_masked(cachediag) -> None:
    run = cachediag("ping", "-p", "redis://:pw-98765@cache:6379")
    assert run.code == 2 and "pw-98765" not in run.err + run.out
