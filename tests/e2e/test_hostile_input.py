"""Hostile and unlucky input (issue 11): URLs, config files, option errors under nagios.

Each case runs the installed command and asserts its exit code, its one sentence, and
that no secret or traceback reaches any stream.
"""

from __future__ import annotations

import json
import os
import stat
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from cachediag.errors import UsageError
from cachediag.targets.parse import parse_redis

SECRET_URLS = [
    # Unencoded / # ? in a password (base64 passwords hold / and +).
    "redis://:s3cr/et@127.0.0.1:{port}",
    "redis://app:pa#ss/w?rd@127.0.0.1:{port}/1",
    "rediss://:ab/cd+ef==@127.0.0.1:{port}",
]


@pytest.mark.parametrize("template", SECRET_URLS)
def test_a_password_holding_url_delimiters_parses_and_is_never_shown(template: str) -> None:
    url = template.format(port=6390)
    target = parse_redis(url, "flag")
    userinfo = url.split("://", 1)[1].rpartition("@")[0]
    password = userinfo.partition(":")[2]
    assert target.password == password
    assert target.host == "127.0.0.1" and target.port == 6390
    assert password not in target.name and "***" in target.name


@pytest.mark.parametrize(
    "url",
    [
        "redis://:s3cr/et@",  # no host after the password
        "redis://:s3cr/et@127.0.0.1:99999",  # a bad port
        "redis://:s3cr/et@127.0.0.1/x",  # a bad db
        "redis://:s3cr/et@a..b",  # a bad host name
    ],
)
def test_a_url_that_fails_to_parse_is_echoed_without_its_password(url: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_redis(url, "flag")
    assert "s3cr" not in str(caught.value) and "et@" not in str(caught.value)
    assert "***" in str(caught.value)


@pytest.mark.parametrize("fmt", ["table", "nagios", "json"])
@pytest.mark.parametrize("source", ["flag", "env"])
def test_bad_urls_never_print_the_password_on_any_stream(
    cachediag: Any, fmt: str, source: str
) -> None:
    url = "redis://:s3cr/et@@"
    args = ["ping"] if fmt == "table" else ["check", "--format", fmt]
    env = {"CACHEDIAG_REDIS": url} if source == "env" else {}
    if source == "flag":
        args += ["--redis", url]
    run = cachediag(*args, env=env)
    assert run.code == (3 if fmt == "nagios" else 2), run.err
    assert "s3cr" not in run.out + run.err
    assert "Traceback" not in run.err


def test_a_bad_url_in_the_config_file_is_masked(cachediag: Any, tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('redis = ["redis://:s3cr/et@127.0.0.1:99999"]\n')
    run = cachediag("ping", "--config", str(config))
    assert run.code == 2
    assert "s3cr" not in run.out + run.err
    assert "port must be a number" in run.err


@pytest.mark.parametrize("host", ["a..b", "a" * 64, "x." * 130 + "com", "-\udcff"])
def test_host_names_idna_rejects_are_usage_errors(cachediag: Any, host: str) -> None:
    run = cachediag("ping", "--redis", f"redis://{host}:6379", "--timeout", "0.5")
    assert run.code == 2, run.err
    assert "not a valid host name" in run.err
    assert "Traceback" not in run.err and "Exception in thread" not in run.err


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null", "/dev/stdin"])
def test_config_files_must_be_regular_files(cachediag: Any, device: str) -> None:
    started = time.monotonic()
    run = cachediag("ping", "--config", device, timeout=10)
    assert run.code == 2
    assert "is not a regular file" in run.err
    assert time.monotonic() - started < 5


def test_a_fifo_config_does_not_hang(cachediag: Any, tmp_path: Path) -> None:
    fifo = tmp_path / "config.fifo"
    os.mkfifo(fifo)
    run = cachediag("check", "--config", str(fifo), timeout=10)
    assert run.code == 2 and "is not a regular file" in run.err


def test_an_oversized_config_or_checklist_is_refused(cachediag: Any, tmp_path: Path) -> None:
    big = tmp_path / "big.toml"
    big.write_text("# padding\n" * 200_000)
    run = cachediag("ping", "--config", str(big))
    assert run.code == 2 and "larger than 1024 KiB" in run.err
    run = cachediag("check", "--checklist", str(big))
    assert run.code == 2 and "larger than 1024 KiB" in run.err


@pytest.mark.parametrize("value", ["nan", "inf", "true", "1e9", "0", "-1"])
def test_config_timeout_must_be_a_finite_bounded_number(
    cachediag: Any, tmp_path: Path, value: str
) -> None:
    config = tmp_path / "t.toml"
    config.write_text(f"timeout = {value}\n")
    run = cachediag("ping", "--config", str(config), timeout=10)
    assert run.code == 2, run.err
    assert "'timeout' must be a number of seconds" in run.err


@pytest.mark.parametrize(
    "args",
    [
        ["--sample-keys", "abc"],
        ["--timeout", "-1"],
        ["--no-such-flag"],
        ["--only"],  # an option without its value
    ],
)
@pytest.mark.parametrize(
    "spelling", [["--format", "nagios"], ["--format=nagios"], ["-f", "nagios"]]
)
def test_nagios_option_errors_are_unknown_with_a_line_on_stdout(
    cachediag: Any, args: list[str], spelling: list[str]
) -> None:
    run = cachediag("check", *spelling, *args)
    assert run.code == 3, (run.out, run.err)
    assert run.out.startswith("CACHEDIAG UNKNOWN - usage: ")
    assert run.out.count("\n") == 1


def test_option_errors_without_nagios_still_exit_2(cachediag: Any) -> None:
    run = cachediag("check", "--sample-keys", "abc")
    assert run.code == 2 and run.out == ""


@pytest.mark.parametrize("url", ["http://[::1", "http://[zz]:80/", "http://"])
def test_malformed_metrics_urls_are_usage_errors(cachediag: Any, url: str) -> None:
    run = cachediag("check", "--metrics-url", url, "--redis", "127.0.0.1:1")
    assert run.code == 2, run.err
    assert "--metrics-url" in run.err and "internal error" not in run.err


class DrippingHTTP:
    """An HTTP server that answers 200 and then sends its body one byte every 0.3 s."""

    def __init__(self, headers_first: bool) -> None:
        from servers import LoopbackServer

        self.headers_first = headers_first
        outer = self

        class Drip(LoopbackServer):
            def handle(self, conn: Any) -> None:
                threading.Thread(target=outer._drip, args=(conn,), daemon=True).start()

        self.server = Drip()
        self.port = self.server.port

    def _drip(self, conn: Any) -> None:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100000\r\n\r\n"
        try:
            conn.recv(65536)
            if self.headers_first:
                conn.sendall(head)
            else:
                for byte in head:  # the status line and headers dripped too
                    conn.sendall(bytes([byte]))
                    time.sleep(0.3)
            for _ in range(200):
                conn.sendall(b"#")
                time.sleep(0.3)
        except OSError:
            return


@pytest.mark.parametrize("headers_first", [True, False])
@pytest.mark.parametrize("flag", ["--metrics-url", "--health-url"])
def test_a_dripping_http_endpoint_is_bounded_by_the_timeout(
    cachediag: Any, headers_first: bool, flag: str
) -> None:
    drip = DrippingHTTP(headers_first)
    try:
        started = time.monotonic()
        run = cachediag(
            "check",
            flag,
            f"http://127.0.0.1:{drip.port}/x",
            "--only",
            "app.*",
            "--timeout",
            "1",
            "--format",
            "json",
            timeout=30,
        )
        elapsed = time.monotonic() - started
    finally:
        drip.server.close()
    # The fetch's bound is --timeout plus a 0.25 s margin; start-up and the rest of the
    # run add well under a second here.
    assert elapsed < 3.5, elapsed
    results = {r["id"]: r for r in run.json()["results"]}
    item = results["app.metrics" if flag == "--metrics-url" else "app.health"]
    assert item["status"] in ("error", "fail"), item
    assert "within 1s" in item["summary"] or "timed out" in item["summary"], item["summary"]


# --- -o FILE: device nodes written through, temp files exclusive (issue 11 cases 2, 3) ---


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can replace /dev/null")
def test_output_to_dev_null_keeps_the_device(cachediag: Any) -> None:
    before = os.stat("/dev/null")
    run = cachediag("check", "--list", "-o", "/dev/null")
    assert run.code == 0, run.err
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev


def test_output_to_dev_stdout_reaches_stdout(cachediag: Any) -> None:
    run = cachediag("check", "--list", "--format", "json", "-o", "/dev/stdout")
    assert run.code == 0, run.err
    assert json.loads(run.out)["checks"]


def test_output_to_a_fifo_is_written_through(cachediag: Any, tmp_path: Path) -> None:
    fifo = tmp_path / "report.fifo"
    os.mkfifo(fifo)
    received: list[bytes] = []

    def read() -> None:
        with open(fifo, "rb") as handle:
            received.append(handle.read())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    time.sleep(0.1)  # the reader has the FIFO open before cachediag writes
    run = cachediag("check", "--list", "--format", "json", "-o", str(fifo))
    reader.join(10)
    assert run.code == 0, run.err
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert json.loads(received[0])["checks"]


def test_a_fifo_nobody_reads_fails_at_once(cachediag: Any, tmp_path: Path) -> None:
    fifo = tmp_path / "nobody.fifo"
    os.mkfifo(fifo)
    run = cachediag("check", "--list", "-o", str(fifo), timeout=10)
    assert run.code == 2 and "cannot write" in run.err


def test_a_planted_symlink_at_the_old_temp_name_is_not_followed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cachediag.cli.common import write_output

    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    report = tmp_path / "report.prom"
    # The name the old code used: .NAME.<pid>.tmp, opened following symlinks.
    (tmp_path / f".report.prom.{os.getpid()}.tmp").symlink_to(victim)
    write_output("cachediag_up 1\n", str(report))
    assert victim.read_text() == "precious\n"
    assert report.read_text() == "cachediag_up 1\n" and not report.is_symlink()
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == [f".report.prom.{os.getpid()}.tmp"]  # only the planted link


def test_a_replaced_report_keeps_its_mode(tmp_path: Path) -> None:
    from cachediag.cli.common import write_output

    report = tmp_path / "r.json"
    report.write_text("old")
    report.chmod(0o640)
    write_output("new\n", str(report))
    assert report.read_text() == "new\n"
    assert stat.S_IMODE(report.stat().st_mode) == 0o640
    fresh = tmp_path / "fresh.json"
    write_output("x\n", str(fresh))
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o666 & ~_umask()


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


# --- numbers: NaN, infinities and non-ASCII digits (issue 11 case 14) -------------------


@pytest.mark.parametrize(
    "args",
    [
        ["ping", "--timeout", "nan"],
        ["ping", "--timeout", "inf"],
        ["bigkeys", "--max-seconds", "nan"],
        ["bigkeys", "--sleep", "nan"],
        ["bigkeys", "--backoff-above", "nan"],
        ["latency", "--duration", "nan"],
        ["latency", "--history", "nan"],
        ["latency", "--duration", "inf"],
        ["watch", "--interval", "nan"],
        ["watch", "--interval", "inf"],
    ],
)
def test_non_finite_numbers_are_usage_errors(cachediag: Any, args: list[str]) -> None:
    run = cachediag(*args, "--redis", "127.0.0.1:1", timeout=10)
    assert run.code == 2, (run.out, run.err)
    assert "finite" in run.err or "range" in run.err
    assert "internal error" not in run.err


@pytest.mark.parametrize("text", ["٣gb", "３mb", "1٠"])
def test_non_ascii_digits_are_no_size(text: str) -> None:
    from cachediag.server.eviction import parse_size

    with pytest.raises(UsageError):
        parse_size(text)


def test_non_ascii_digits_are_no_duration() -> None:
    from cachediag.logscan.timestamps import parse_duration

    assert parse_duration("٣h") is None
    assert parse_duration("3h") == 10800.0


def test_an_empty_log_path_is_a_usage_error(cachediag: Any) -> None:
    run = cachediag("check", "--log", "", "--redis", "127.0.0.1:1")
    assert run.code == 2 and "--log needs a file path" in run.err


def test_a_tls_file_that_is_a_device_says_so(cachediag: Any) -> None:
    run = cachediag("ping", "--tls-ca", "/dev/null", "--redis", "rediss://127.0.0.1:1")
    assert run.code == 2 and "/dev/null: not a regular file" in run.err
