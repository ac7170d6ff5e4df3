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


def test_every_command_takes_version(cachediag) -> None:
    from cachediag import __version__
    from cachediag.cli.app import COMMANDS

    for name in COMMANDS:
        # Eager: before any required argument or target is looked at.
        run = cachediag(name, "--version")
        assert (run.code, run.out, run.err) == (0, f"cachediag {__version__}\n", ""), name
    assert cachediag("inspect", "--json", "--version").out == f"cachediag {__version__}\n"


def test_the_man_page_has_every_command_and_option(cachediag, tmp_path) -> None:
    import shutil

    import typer

    from cachediag.cli.app import build_app
    from cachediag.render.man import roff

    run = cachediag("--man")
    assert run.code == 0 and run.err == ""
    page = run.out
    assert page.startswith(".TH CACHEDIAG 1 ")
    group = typer.main.get_command(build_app())
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        assert f"\n.SS cachediag {roff(name)} [OPTIONS]" in page, name
        section = page.split(f"\n.SS cachediag {roff(name)} ")[1].split("\n.SS ")[0]
        for param in command.params:
            for flag in param.opts if param.param_type_name == "option" else ():
                assert roff(flag) in section, (name, flag)
    assert all(ord(c) < 128 for c in page)  # non-ASCII as \[uXXXX]: no preprocessor needed
    assert "***" not in page  # the help's own examples, not masked
    groff = shutil.which("groff")
    if groff:  # the page as man(1) lays it out, with every warning on
        laid = subprocess.run(
            [groff, "-man", "-Tutf8", "-ww", "-z"], input=page, capture_output=True, text=True
        )
        assert (laid.returncode, laid.stderr) == (0, "")
    make = subprocess.run(
        ["make", "-s", "-C", str(ROOT), "man", f"VENV={Path(sys.executable).parent.parent}",
         "STAMP="],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert make.returncode == 0, make.stderr
    built = (ROOT / "build" / "man" / "cachediag.1").read_text()
    assert built.split("\n", 1)[1] == page.split("\n", 1)[1]  # the .TH line carries the date


def test_python_m_cachediag_runs_the_demo_command() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "cachediag", "demo", "--help"],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert run.returncode == 0 and "throwaway" in run.stdout
