"""`cachediag logs` through Typer's CliRunner, on a tiny app registering only the command."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from cachediag.cli.commands.logs import logs

app = typer.Typer()
app.command()(logs)

LINES = [
    b"2024-01-15 10:23:44 INFO app: started",
    b"2024-01-15 10:23:45 WARN: Serialization failed for user:123: Unsupported type",
    b"2024-01-15 10:23:46 ERROR Serialization failed for user:123 \x1b[2J [bold red]x[/] \xff\xfe",
    b"2024-01-15 10:24:10 ERROR Connection pool exhausted: 10 active, 3 waiting",
    b"2024-01-15 10:25:00 WARN Cache backend unavailable: redis://app:hunter2@cache:6379"
    b" refused, using fallback",
    b"2024-01-15 10:26:00 DEBUG Cache HIT: user:1 took 1ms",
]


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def log(tmp_path: Path) -> Path:
    path = tmp_path / "app.log"
    path.write_bytes(b"\n".join(LINES) + b"\n")
    return path


def run(*args: str, input: bytes | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), input=input)
    return result.exit_code, result.stdout, result.stderr


def test_json_document(log: Path) -> None:
    code, out, err = run(str(log), "--json")
    assert code == 0, err
    doc = json.loads(out)  # nothing but JSON on stdout
    assert doc["schema"] == "cachediag.logs/v1"
    assert list(doc) == [
        "schema",
        "version",
        "generated_at",
        "duration_ms",
        "window",
        "sources",
        "counts",
        "categories",
        "keys",
        "fallback_proximity",
        "engine",
    ]
    assert doc["counts"]["serialization"] == 2
    assert doc["counts"]["pool_exhausted"] == 1
    assert doc["counts"]["backend_unavailable"] == 1
    assert doc["counts"]["hit"] == 1
    ser = doc["categories"]["serialization"]
    assert set(ser) == {
        "severity",
        "description",
        "count",
        "first",
        "last",
        "untimed",
        "histogram",
        "histogram_dropped",
        "samples",
        "top_keys",
    }
    assert (ser["first"], ser["last"]) == ("2024-01-15T10:23:45Z", "2024-01-15T10:23:46Z")
    assert ser["histogram"] == {"2024-01-15T10:23:00Z": 2}
    assert doc["keys"]["top"][0] == {"key": "user:123", "count": 2}
    assert "hunter2" not in out
    assert doc["fallback_proximity"]["with_fallback_nearby"] == 1


def test_table_shows_categories_without_interpreting_the_log(log: Path) -> None:
    code, out, _ = run(str(log))
    assert code == 0
    assert "serialization" in out and "pool_exhausted" in out
    assert "user:123" in out
    assert "\x1b" not in out  # not a terminal: no colours, and the log's ESC is escaped
    assert "\\x1b[2J" in out
    assert "[bold red]x[/]" in out  # shown as text, not turned into style
    assert "\\xff\\xfe" in out
    assert "hunter2" not in out and "redis://app:***@cache:6379" in out
    assert "█" in out  # the per-minute histogram bars


def test_stdin_and_gzip_on_stdin(log: Path) -> None:
    data = log.read_bytes()
    code, out, err = run("-", "--json", input=data)
    assert code == 0, err
    assert json.loads(out)["counts"]["serialization"] == 2
    code, out, err = run("-", "--json", input=gzip.compress(data))
    assert code == 0, err
    doc = json.loads(out)
    assert doc["counts"]["serialization"] == 2
    assert doc["sources"][0]["kind"] == "stdin"


def test_gzip_file_and_glob(tmp_path: Path, log: Path) -> None:
    (tmp_path / "app.log.1.gz").write_bytes(gzip.compress(log.read_bytes()))
    code, out, err = run(str(tmp_path / "app.log*"), "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert [s["kind"] for s in doc["sources"]] == ["file", "gzip"]
    assert doc["counts"]["serialization"] == 4


def test_since_until(log: Path) -> None:
    code, out, _ = run(
        str(log), "--json", "--since", "2024-01-15T10:24:00Z", "--until", "2024-01-15 10:25:00"
    )
    assert code == 0
    doc = json.loads(out)
    assert doc["counts"]["serialization"] == 0
    assert doc["counts"]["pool_exhausted"] == 1
    assert doc["counts"]["backend_unavailable"] == 1
    assert doc["counts"]["hit"] == 0
    code, out, _ = run(str(log), "--json", "--since", "2h")  # a 2024 log: nothing is that recent
    assert json.loads(out)["counts"]["serialization"] == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["/nonexistent/app.log"], "/nonexistent/app.log: no such file"),
        (["/nonexistent/*.log"], "no file matches /nonexistent/*.log"),
        (["{log}", "--since", "two hours"], "invalid --since value 'two hours'"),
        (["{log}", "--until", "soon"], "invalid --until value 'soon'"),
    ],
)
def test_bad_input_is_one_sentence_and_exit_2(log: Path, args: list[str], message: str) -> None:
    code, out, err = run(*[a.format(log=log) for a in args])
    assert code == 2
    assert out == ""
    assert message in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_debug_reports_the_engine(log: Path) -> None:
    code, out, err = run(str(log), "--json", "--debug")
    assert code == 0
    json.loads(out)
    assert "bytes in" in err and "search" in err


def test_logs_json_imports_no_heavy_module(tmp_path: Path) -> None:
    """Start-up is a fixed part of the 2x-grep budget: `logs --json` must not pull in
    pydantic (typer >= 0.29 does, for every option), rich, redis or psutil."""
    log = tmp_path / "app.log"
    log.write_bytes(b"2024-01-15T10:00:00Z ERROR Deserialization failed for user:1\n")
    code = (
        "import sys\nfrom cachediag.cli.app import build_app\n"
        f"args = ['logs', '--json', {str(log)!r}]\n"
        "try:\n    build_app('logs')(args)\n"
        "except SystemExit as exc:\n    assert not exc.code, exc.code\n"
        "heavy = [m for m in ('pydantic', 'rich', 'redis', 'psutil') if m in sys.modules]\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert '"serialization"' in run.stdout
    assert "HEAVY []" in run.stderr


@pytest.mark.parametrize(("args", "code"), [(["--version"], 0), (["logs", "--json", None], 0)])
def test_a_closed_stdout_keeps_the_exit_code(tmp_path: Path, args: list, code: int) -> None:
    """`cachediag ... >&-` (a monitor that only wants the exit code): output is dropped,
    the exit code is the command's, and nothing is printed about it."""
    import os

    from conftest import cachediag_binary

    log = tmp_path / "app.log"
    log.write_bytes(b"2024-01-15T10:00:00Z DEBUG Cache HIT: user:1 took 1ms\n")
    argv = [cachediag_binary(), *(str(log) if a is None else a for a in args)]
    run = subprocess.run(
        argv,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        timeout=60,
        preexec_fn=lambda: os.close(1),  # the child starts with fd 1 closed
    )
    assert run.returncode == code
    assert run.stderr == ""
