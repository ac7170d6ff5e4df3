"""One way to build rich output as a string, whatever the destination."""

from __future__ import annotations

import io
import os
import shutil
import sys

from rich.console import Console, RenderableType

# Piped output is read by people and tools alike: never crop it to 80 columns.
PIPE_WIDTH = 200


def stdout_is_terminal() -> bool:
    return sys.stdout.isatty()


def render_to_string(*renderables: RenderableType, terminal: bool | None = None) -> str:
    """Render with colour only on a terminal (and never under NO_COLOR)."""
    is_terminal = stdout_is_terminal() if terminal is None else terminal
    no_color = "NO_COLOR" in os.environ
    width = shutil.get_terminal_size((120, 24)).columns if is_terminal else PIPE_WIDTH
    buffer = io.StringIO()
    console = Console(
        file=buffer,
        force_terminal=is_terminal and not no_color,
        no_color=no_color or not is_terminal,
        color_system="auto" if is_terminal and not no_color else None,
        width=width,
        highlight=False,
        emoji=False,
        markup=False,
        soft_wrap=not is_terminal,
    )
    for renderable in renderables:
        console.print(renderable)
    return buffer.getvalue()
