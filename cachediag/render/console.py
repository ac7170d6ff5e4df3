"""One way to build rich output as a string, whatever the destination."""

from __future__ import annotations

import io
import os
import shutil
import sys
from typing import Literal

from rich.console import Console, RenderableType

# Piped output is read by people and tools alike: never crop it to 80 columns.
PIPE_WIDTH = 200


def stdout_is_terminal() -> bool:
    return sys.stdout.isatty()


# FORCE_COLOR's levels as chalk and force-color.org read them; any other value: 16 colours.
ColorSystem = Literal["auto", "standard", "256", "truecolor"]
_FORCED_SYSTEMS: dict[str, ColorSystem] = {"2": "256", "3": "truecolor"}


def _forced_color_system() -> ColorSystem | None:
    """Colour asked for by FORCE_COLOR (CI logs render ANSI colour from a pipe), or None.

    Set and not empty (nor "0" or "false", which some tools write to mean off) forces
    colour; NO_COLOR, the user's own wish, still wins over it.
    """
    value = os.environ.get("FORCE_COLOR")
    if value is None or value.strip().lower() in ("", "0", "false") or "NO_COLOR" in os.environ:
        return None
    return _FORCED_SYSTEMS.get(value.strip(), "standard")


def output_width(terminal: bool | None = None) -> int:
    """The width `render_to_string` lays its output out in."""
    is_terminal = stdout_is_terminal() if terminal is None else terminal
    return shutil.get_terminal_size((120, 24)).columns if is_terminal else PIPE_WIDTH


def render_to_string(*renderables: RenderableType, terminal: bool | None = None) -> str:
    """Render with colour only on a terminal or under FORCE_COLOR (and never under NO_COLOR).

    FORCE_COLOR changes the colour only: piped output keeps its width and is never cropped.
    """
    is_terminal = stdout_is_terminal() if terminal is None else terminal
    no_color = "NO_COLOR" in os.environ
    forced = _forced_color_system()
    width = output_width(is_terminal)
    colour = (is_terminal and not no_color) or forced is not None
    system: ColorSystem | None = "auto" if is_terminal and not no_color else forced
    buffer = io.StringIO()
    console = Console(
        file=buffer,
        force_terminal=colour,
        no_color=not colour,
        color_system=system,
        width=width,
        highlight=False,
        emoji=False,
        markup=False,
        soft_wrap=not is_terminal,
    )
    for renderable in renderables:
        console.print(renderable)
    return buffer.getvalue()
