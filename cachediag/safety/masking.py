"""The last line of defence for secrets: stdout and stderr that mask every password we hold.

Targets mask their own names, and errors are masked where they are raised, but a
server can echo a password back in any reply text, and a renderer can print any of
it. Wrapping the two streams once, in `main`, covers every command and format.
"""

from __future__ import annotations

import os
import sys
from typing import Any, TextIO

from cachediag.safety.secrets import mask_secrets


class MaskingStream:
    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(mask_secrets(text))
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:  # isatty, fileno, flush, encoding, ...
        return getattr(self._stream, name)


def install() -> None:
    # A stream is None when the caller closed its descriptor (`>&-`): what would go there
    # is dropped, so that the exit code (all a monitor may want) is still the verdict's.
    if sys.stdout is None:
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115
    if not isinstance(sys.stdout, MaskingStream):
        sys.stdout = MaskingStream(sys.stdout)
    if not isinstance(sys.stderr, MaskingStream):
        sys.stderr = MaskingStream(sys.stderr)
