"""The wheel carries the checklist, `python -m cachediag` is the program, the README documents
every command."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


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
    assert "cachediag/checklists/diagnoses.toml" in names  # diagnose's causes and weights
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


def test_python_m_cachediag_is_the_console_script(redis_server, closed_port: int) -> None:
    """`python -m cachediag` runs `main`: the same commands, exit codes and secret masking."""

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cachediag", *args],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
        )

    version = run("--version")
    assert version.returncode == 0 and version.stdout == "cachediag 0.1.0\n"
    up = run("ping", "--redis", redis_server.url, "--json")
    assert up.returncode == 0, up.stderr
    assert '"status": "healthy"' in up.stdout
    down = run("ping", "--redis", f"redis://:PWLEAK123@127.0.0.1:{closed_port}")
    assert down.returncode == 1
    assert "refused" in down.stdout and "PWLEAK123" not in down.stdout + down.stderr
    assert "Usage: python -m cachediag" in run("ping", "--help").stdout
