"""[[targets]] entries: validated, selected, turned into targets named by their names."""

from __future__ import annotations

from pathlib import Path

import pytest

from cachediag.errors import UsageError
from cachediag.targets.inventory import parse_entries, select, to_targets
from cachediag.targets.target import TLSOptions


def _entries(tmp_path: Path, *tables: dict[str, object], mode: int = 0o600) -> tuple:  # type: ignore[type-arg]
    path = tmp_path / "cachediag.toml"
    path.write_text("")
    path.chmod(mode)
    return parse_entries(path, list(tables))


def test_entries_select_by_name_or_tag(tmp_path: Path) -> None:
    entries = _entries(
        tmp_path,
        {"name": "a", "url": "redis://10.0.0.1", "tags": ["eu"]},
        {"name": "b", "url": "memcached://10.0.0.2:11211", "tags": ["us"]},
        {"name": "c", "url": "10.0.0.3:6379", "tags": ["eu", "x"]},
    )
    assert [e.kind for e in entries] == ["redis", "memcached", "redis"]
    assert [e.name for e in select(entries, [], [])] == ["a", "b", "c"]
    assert [e.name for e in select(entries, ["b"], ["x"])] == ["b", "c"]
    with pytest.raises(UsageError, match="no target has that tag"):
        select(entries, [], ["nowhere"])
    targets = to_targets(
        select(entries, [], ["eu"]), str(tmp_path / "cachediag.toml"), TLSOptions()
    )
    assert [(t.name, t.address) for t in targets] == [
        ("a", "10.0.0.1:6379"),
        ("c", "10.0.0.3:6379"),
    ]


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"url": "redis://x"}, "'name' must be a non-empty string"),
        ({"name": "a"}, "'url' must be a non-empty string"),
        ({"name": "a", "url": "redis://x", "password": "p"}, "no inline password"),
        ({"name": "a", "url": "redis://x", "tags": "eu"}, "'tags' must be a list"),
        ({"name": "a", "url": "redis://x", "color": 1}, "unknown key 'color'"),
        ({"name": "a", "url": "redis://x", "kind": "couchbase"}, "'kind' must be"),
        (
            {"name": "a", "url": "redis://x", "password_env": "A", "password_file": "f"},
            "not both",
        ),
    ],
)
def test_bad_entries_are_one_sentence(tmp_path: Path, table: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(UsageError, match=message):
        _entries(tmp_path, table)


def test_an_inline_password_only_in_a_private_file(tmp_path: Path) -> None:
    table = {"name": "a", "url": "redis://user:pw@10.0.0.1"}
    with pytest.raises(UsageError, match="world-readable"):
        _entries(tmp_path, table, mode=0o644)
    assert _entries(tmp_path, table, mode=0o600)[0].url == "redis://user:pw@10.0.0.1"


def test_duplicate_names_are_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="used twice"):
        _entries(tmp_path, {"name": "a", "url": "redis://x"}, {"name": "a", "url": "redis://y"})
