"""Colour: on a terminal, or forced by FORCE_COLOR when piped; never under NO_COLOR."""

from __future__ import annotations

import pytest
from rich.text import Text

from cachediag.render.console import PIPE_WIDTH, render_to_string

RED = Text("x" * 150, style="red")


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)


def test_piped_output_is_plain_by_default() -> None:
    assert "\x1b[" not in render_to_string(RED, terminal=False)


@pytest.mark.parametrize("value", ["1", "true", "yes", "2", "3"])
def test_force_color_colours_piped_output(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("FORCE_COLOR", value)
    out = render_to_string(RED, terminal=False)
    assert "\x1b[" in out
    assert "x" * 150 in out  # the width stays the pipe's: nothing cropped or wrapped
    assert PIPE_WIDTH >= 150


@pytest.mark.parametrize("value", ["", "0", "false"])
def test_force_color_off_values(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("FORCE_COLOR", value)
    assert "\x1b[" not in render_to_string(RED, terminal=False)


def test_no_color_wins_over_force_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b[" not in render_to_string(RED, terminal=False)
    assert "\x1b[" not in render_to_string(RED, terminal=True)
