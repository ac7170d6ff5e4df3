"""Where a stopped purge resumes: a small local file, never anything on the target.

The file is named after what it resumes (the target and the request's patterns and
filters), so `--resume` with the same arguments finds it; it holds the scan's cursor
and which pattern it was in. It is removed when the purge completes.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from cachediag.errors import UsageError
from cachediag.purge.request import PurgeRequest

FORMAT = "cachediag.purge-checkpoint/v1"


def identity(target_name: str, request: PurgeRequest) -> dict[str, Any]:
    return {
        "target": target_name,
        "patterns": list(request.patterns),
        "all_keys": request.all_keys,
        "filters": request.filters.to_dict(),
    }


def default_path(target_name: str, request: PurgeRequest) -> Path:
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    digest = hashlib.sha256(
        json.dumps(identity(target_name, request), sort_keys=True).encode()
    ).hexdigest()[:16]
    return Path(state) / "cachediag" / "purge" / f"{digest}.json"


def document(target_name: str, request: PurgeRequest, position: dict[str, Any]) -> str:
    return json.dumps({"format": FORMAT, **identity(target_name, request), **position}) + "\n"


def read(path: Path, target_name: str, request: PurgeRequest) -> tuple[int, int]:
    """(pattern index, cursor) to resume from; a usage error when there is none to use."""
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(
            f"--resume: no checkpoint at {path} (nothing to resume for these arguments)"
        ) from None
    except (OSError, ValueError) as exc:
        raise UsageError(f"--resume: cannot read the checkpoint {path}: {exc}") from None
    if saved.get("format") != FORMAT or {
        k: saved.get(k) for k in identity(target_name, request)
    } != identity(target_name, request):
        raise UsageError(f"--resume: the checkpoint {path} is for another target or other patterns")
    try:
        return int(saved["pattern_index"]), int(saved["cursor"])
    except (KeyError, ValueError, TypeError):
        raise UsageError(f"--resume: the checkpoint {path} is damaged") from None
