"""The one masking pass: every byte cachediag writes, to stdout, stderr or a file, goes
through `MaskingStream`, which hides every password we hold (`secrets.mask_secrets`).

Targets mask their own names, and errors are masked where they are raised, but a
server can echo a password back in any reply text (its version string, an error that
repeats its arguments), and a renderer can print any of it. So masking is not left to
each renderer: `install` wraps the two standard streams once, in `main`, and
`masked` wraps any other destination (`-o FILE`, a bundle) the same way. Log lines get
more on top, when they are collected (`redact`: password=, Authorization, cookies...).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from cachediag.safety.secrets import mask_secrets

_help_depth = 0  # > 0 while cachediag prints its own --help


@contextmanager
def own_help() -> Iterator[None]:
    """While cachediag prints its own --help, nothing is masked.

    Help is cachediag's text alone, laid out in boxes: its example URLs
    (`redis://user:password@host`) are no secret, and masking them shortened a line
    and broke the box it stood in. Usage errors, which repeat what was typed, stay
    masked: they are not printed in here.
    """
    global _help_depth
    _help_depth += 1
    try:
        yield
    finally:
        _help_depth -= 1


class MaskingStream:
    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(text if _help_depth else mask_secrets(text))
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:  # isatty, fileno, flush, encoding, ...
        return getattr(self._stream, name)


def masked(stream: TextIO | MaskingStream) -> MaskingStream:
    """`stream` behind the masking pass (once: a wrapped stream is returned as it is)."""
    return stream if isinstance(stream, MaskingStream) else MaskingStream(stream)


def install() -> None:
    # A stream is None when the caller closed its descriptor (`>&-`): what would go there
    # is dropped, so that the exit code (all a monitor may want) is still the verdict's.
    if sys.stdout is None:
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115
    sys.stdout = masked(sys.stdout)
    sys.stderr = masked(sys.stderr)
