"""The checklist as data: which checks run, in which section, with which thresholds and remedy.

`checklists/production.toml` is the guide's Production Troubleshooting Checklist. It
ships inside the wheel (as cachediag/checklists/) and is read from the source tree
in a checkout, so an installed cachediag and a developer's one find the same file.
"""

from __future__ import annotations

import fnmatch
import stat
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cachediag.errors import UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@dataclass(frozen=True)
class CheckSpec:
    id: str
    section: str
    item: str
    remedy: str
    ref: str = ""
    thresholds: dict[str, Any] = field(default_factory=dict)
    # Remedies for particular causes, by the `cause` a rule names in its observed
    # readings (`remedies = { saturated = "..." }`): a server at its connection limit
    # must not be told to restart like a dead one.
    remedies: dict[str, str] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return self.id.split(".", 1)[0]

    def remedy_for(self, outcome: Any) -> str:
        """The remedy for this outcome: the one for its cause if there is one, else the check's."""
        cause = (getattr(outcome, "observed", None) or {}).get("cause")
        return self.remedies.get(cause, self.remedy) if isinstance(cause, str) else self.remedy


@dataclass(frozen=True)
class Checklist:
    title: str
    checks: tuple[CheckSpec, ...]
    source: str

    @property
    def ids(self) -> list[str]:
        return [spec.id for spec in self.checks]


def default_path() -> Path:
    # Installed, the checklist ships inside the package (cachediag/checklists); in a
    # source tree it is the repository's own top-level checklists/.
    package = Path(__file__).resolve().parents[1]
    for candidate in (package / "checklists", package.parent / "checklists"):
        if (candidate / "production.toml").is_file():
            return candidate / "production.toml"
    raise UsageError("the production checklist is missing from this installation")


# A checklist or cachediag.toml is a few KiB; past this it is not one (or is /dev/zero).
MAX_TOML_BYTES = 1024 * 1024


def read_toml(path: Path, what: str) -> dict[str, Any]:
    """A TOML file's tables; only a regular file, and at most MAX_TOML_BYTES of it.

    A FIFO would block the open, a device would be read forever: both are refused on
    what stat says before anything is opened.
    """
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            raise UsageError(f"{what} {path} is not a regular file")
        with path.open("rb") as handle:
            data = handle.read(MAX_TOML_BYTES + 1)
        if len(data) > MAX_TOML_BYTES:
            raise UsageError(f"{what} {path} is larger than {MAX_TOML_BYTES // 1024} KiB")
        return tomllib.loads(data.decode("utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{what} {path} does not exist") from None
    except OSError as exc:
        raise UsageError(f"cannot read {what} {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{what} {path} is not valid TOML: {exc}") from None


def load_checklist(path: Path | None = None) -> Checklist:
    from cachediag.checks import registry

    path = path or default_path()
    data = read_toml(path, "checklist")
    entries = data.get("checks")
    if not isinstance(entries, list) or not entries:
        raise UsageError(f"checklist {path} has no [[checks]] entries")
    specs = []
    seen: set[str] = set()
    for index, entry in enumerate(entries, 1):
        if not isinstance(entry, dict):
            raise UsageError(f"checklist {path}: entry {index} is not a table")
        check_id = entry.get("id")
        missing = [name for name in ("id", "section", "item") if not entry.get(name)]
        if missing:
            raise UsageError(f"checklist {path}: entry {index} lacks {', '.join(missing)}")
        if check_id not in registry.RULES:
            raise UsageError(f"checklist {path}: unknown check id '{check_id}'")
        if check_id in seen:
            raise UsageError(f"checklist {path}: check id '{check_id}' appears twice")
        seen.add(check_id)
        thresholds = entry.get("thresholds", {})
        if not isinstance(thresholds, dict):
            raise UsageError(f"checklist {path}: thresholds of '{check_id}' must be a table")
        remedies = entry.get("remedies", {})
        if not isinstance(remedies, dict) or not all(
            isinstance(text, str) for text in remedies.values()
        ):
            raise UsageError(f"checklist {path}: remedies of '{check_id}' must be a table of texts")
        specs.append(
            CheckSpec(
                id=check_id,
                section=str(entry["section"]),
                item=str(entry["item"]),
                remedy=str(entry.get("remedy", "")),
                ref=str(entry.get("ref", "")),
                thresholds=dict(thresholds),
                remedies=dict(remedies),
            )
        )
    return Checklist(str(data.get("title", path.stem)), tuple(specs), str(path))


def select(
    checklist: Checklist, only: list[str], skip: list[str], disabled: list[str]
) -> Checklist:
    """Narrow a checklist by ids, globs (`redis.*`) or section names; unknown names are errors."""

    def matches(spec: CheckSpec, pattern: str) -> bool:
        return fnmatch.fnmatchcase(spec.id, pattern) or spec.section.lower() == pattern.lower()

    for pattern in [*only, *skip, *disabled]:
        if not any(matches(spec, pattern) for spec in checklist.checks):
            raise UsageError(
                f"unknown check id or section '{pattern}' (see cachediag check --list)"
            )
    kept = [
        spec
        for spec in checklist.checks
        if (not only or any(matches(spec, p) for p in only))
        and not any(matches(spec, p) for p in [*skip, *disabled])
    ]
    return Checklist(checklist.title, tuple(kept), checklist.source)


def _same_kind(default: Any, value: Any) -> bool:
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, (int, float)):
        return isinstance(value, (int, float))
    return isinstance(value, type(default))


def _kind_name(default: Any) -> str:
    if isinstance(default, bool):
        return "true or false"
    return "a number" if isinstance(default, (int, float)) else f"a {type(default).__name__}"


def with_overrides(checklist: Checklist, overrides: dict[str, dict[str, Any]]) -> Checklist:
    """Apply per-id threshold overrides from cachediag.toml."""
    known = {spec.id: spec for spec in checklist.checks}
    for check_id, values in overrides.items():
        spec = known.get(check_id)
        if spec is None:
            raise UsageError(f"thresholds given for unknown check id '{check_id}'")
        unknown = set(values) - set(spec.thresholds)
        if unknown:
            raise UsageError(
                f"unknown threshold {', '.join(sorted(unknown))} for {check_id} "
                f"(it has: {', '.join(sorted(spec.thresholds)) or 'none'})"
            )
        for name, value in values.items():
            if not _same_kind(spec.thresholds[name], value):
                raise UsageError(
                    f"threshold {name} of {check_id} must be "
                    f"{_kind_name(spec.thresholds[name])}, not {value!r}"
                )
    specs = tuple(
        replace(s, thresholds={**s.thresholds, **overrides.get(s.id, {})}) for s in checklist.checks
    )
    return Checklist(checklist.title, specs, checklist.source)
