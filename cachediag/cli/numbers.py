"""Number options: finite, or a usage error.

click's FloatRange compares with < and >, and every comparison with NaN is false: so
`--timeout nan` passed `min=0.01` and reached the socket layer, and `--interval inf`
reached time.sleep. Each float option takes `callback=finite`.
"""

from __future__ import annotations

import math

import typer


def finite(value: float | None) -> float | None:
    """A float option's value, refused when it is NaN or infinite (None: not given)."""
    if value is not None and not math.isfinite(value):
        raise typer.BadParameter(f"{value} is not a finite number")
    return value
