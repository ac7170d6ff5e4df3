"""The wheel carries the checklist, and the README documents every command."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(300)
def test_wheel_ships_the_checklist(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=280,
    )
    wheel = next(tmp_path.glob("cachediag-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "cachediag/checklists/production.toml" in names
    assert "cachediag/cli/app.py" in names
    assert "cachediag/schemas/check-v1.json" in names
    from cachediag.schemas import FILES

    for file in FILES.values():  # every --json document's schema, and the facts'
        assert f"cachediag/schemas/{file}" in names, file


def test_readme_documents_every_command() -> None:
    from cachediag.cli.app import app

    readme = (ROOT / "README.md").read_text()
    commands = [info.name for info in app.registered_commands]
    assert "check" in commands and "ping" in commands
    for name in commands:
        assert f"`cachediag {name}" in readme, f"README does not document `cachediag {name}`"
