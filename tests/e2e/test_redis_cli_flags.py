"""redis-cli's connection flags, end to end against real servers, each form on its own."""

from __future__ import annotations

import pytest

from cachediag.targets.redis_cli import PASSWORD_WARNING

SECRET = "hunter2-secret"


@pytest.fixture
def locked(redis_factory):  # type: ignore[no-untyped-def]
    """A Redis with a password, an ACL user and a key in database 2."""
    server = redis_factory(password=SECRET)
    server.cli("ACL", "SETUSER", "reader", "on", ">reader-pw", "~*", "+@all")
    server.cli("-n", "2", "SET", "user:1", "x")
    server.cli("-n", "2", "EXPIRE", "user:1", "500")
    return server


def healthy(run) -> dict:  # type: ignore[no-untyped-def]
    assert run.code == 0, run.out + run.err
    (row,) = run.json()["targets"]
    assert row["status"] == "healthy", row
    return row  # type: ignore[no-any-return]


def test_h_is_the_host_and_p_the_port(cachediag, redis_server) -> None:
    row = healthy(cachediag("ping", "-h", "127.0.0.1", "-p", str(redis_server.port), "--json"))
    assert row["target"] == f"redis://127.0.0.1:{redis_server.port}/0"
    assert row["source"] == "flag"


def test_a_and_pass_warn_like_redis_cli_and_are_masked(cachediag, locked) -> None:
    for flag in ("-a", "--pass"):
        run = cachediag("ping", "-p", str(locked.port), flag, SECRET, "--json")
        row = healthy(run)
        assert row["target"] == f"redis://:***@127.0.0.1:{locked.port}/0"
        assert PASSWORD_WARNING in run.err
        assert SECRET not in run.out + run.err
    quiet = cachediag("ping", "-p", str(locked.port), "-a", SECRET, "--no-auth-warning", "--json")
    healthy(quiet)
    assert "Warning" not in quiet.err


def test_rediscli_auth_gives_the_password_without_a_warning(cachediag, locked) -> None:
    run = cachediag("ping", "-p", str(locked.port), "--json", env={"REDISCLI_AUTH": SECRET})
    healthy(run)
    assert "Warning" not in run.err
    wrong = cachediag(
        "ping", "-p", str(locked.port), "-a", SECRET, "--json", env={"REDISCLI_AUTH": "wrong"}
    )
    healthy(wrong)  # -a wins over REDISCLI_AUTH, as in redis-cli


def test_user_and_pass_log_in_as_an_acl_user(cachediag, locked) -> None:
    run = cachediag(
        "ping", "-p", str(locked.port), "--user", "reader", "--pass", "reader-pw", "--json"
    )
    assert healthy(run)["target"] == f"redis://reader:***@127.0.0.1:{locked.port}/0"
    refused = cachediag("ping", "-p", str(locked.port), "--user", "reader", "-a", "nope", "--json")
    assert refused.code == 1 and "auth" in refused.out


def test_n_selects_the_database(cachediag, locked) -> None:
    run = cachediag("ttl", "user:1", "-p", str(locked.port), "-a", SECRET, "-n", "2", "--json")
    assert run.code == 0, run.err
    (row,) = run.json()["targets"]
    assert row["target"].endswith("/2")
    assert 0 < row["keys"][0]["ttl"] <= 500
    db0 = cachediag("ttl", "user:1", "-p", str(locked.port), "-a", SECRET, "--json")
    assert db0.json()["targets"][0]["keys"][0]["ttl"] == -2  # not in database 0


def test_u_url_and_flags_after_it_override_its_parts(cachediag, locked) -> None:
    url = f"redis://:{SECRET}@127.0.0.1:{locked.port}/2"
    row = healthy(cachediag("ping", "-u", url, "--json"))
    assert row["target"] == f"redis://:***@127.0.0.1:{locked.port}/2"
    # -p after -u wins (redis-cli reads its flags in order): a closed port, so unhealthy.
    from servers import free_port

    closed = free_port()
    later = cachediag("ping", "-u", url, "-p", str(closed), "--json")
    assert later.code == 1 and later.json()["targets"][0]["target"].endswith(f":{closed}/2")
    earlier = cachediag("ping", "-p", str(closed), "-u", url, "--json")
    healthy(earlier)


def test_s_is_the_unix_socket(cachediag, redis_factory) -> None:
    server = redis_factory(unix_socket=True)
    row = healthy(cachediag("ping", "-s", server.unix_socket, "-n", "1", "--json"))
    assert row["target"] == f"unix://{server.unix_socket}?db=1"


def test_tls_cacert_and_insecure(cachediag, redis_factory) -> None:
    server = redis_factory(tls=True)
    ca = str(server.workdir / "ca.crt")
    row = healthy(cachediag("ping", "-p", str(server.port), "--tls", "--cacert", ca, "--json"))
    assert row["target"] == f"rediss://127.0.0.1:{server.port}/0"
    unverified = cachediag("ping", "-p", str(server.port), "--tls", "--json")
    assert unverified.code == 1 and "certificate verify failed" in unverified.out
    healthy(cachediag("ping", "-p", str(server.port), "--tls", "--insecure", "--json"))


def test_sni_is_the_name_the_certificate_is_checked_against(cachediag, redis_factory) -> None:
    server = redis_factory(tls=True)
    ca = str(server.workdir / "ca.crt")
    base = ["ping", "-h", "127.0.0.1", "-p", str(server.port), "--tls", "--cacert", ca, "--json"]
    healthy(cachediag(*base, "--sni", "localhost"))  # the certificate names localhost
    wrong = cachediag(*base, "--sni", "cache.example")
    assert wrong.code == 1 and "cache.example" in wrong.out


def test_help_is_long_only_on_server_commands(cachediag) -> None:
    assert cachediag("ping", "--help").code == 0
    missing = cachediag("ping", "-h")
    assert missing.code == 2 and "-h is the Redis host" in missing.err  # -h wants its HOST
    assert "cachediag ping --help" in missing.err
    top = cachediag("-h")
    assert top.code == 0 and "Usage: cachediag" in top.out
    assert cachediag("logs", "-h").code == 0  # logs talks to no server: -h stays help


def test_details_without_a_target_that_takes_them_are_refused(cachediag, redis_server) -> None:
    run = cachediag("ping", "--redis", redis_server.url, "-a", SECRET)
    assert run.code == 2 and "carry their own" in run.err and SECRET not in run.err


def test_a_applies_to_a_bare_redis_address(cachediag, locked) -> None:
    healthy(cachediag("ping", "--redis", f"127.0.0.1:{locked.port}", "-a", SECRET, "--json"))


def test_every_server_command_takes_the_flags(cachediag, redis_server) -> None:
    port = str(redis_server.port)
    for args in (
        ["check", "--only", "redis.running", "--format", "json"],
        ["latency", "--samples", "3", "--json"],
        ["memory", "--sample-keys", "0", "--json"],
        ["bigkeys", "--json"],
        ["inspect", "--json"],
        ["eviction-policy", "--json"],
        ["watch", "--count", "1", "--interval", "0.1", "--json"],
        ["ttl", "some:key", "--json"],
    ):
        run = cachediag(*args, "-h", "127.0.0.1", "-p", port)
        assert run.code in (0, 1), (args, run.err)
        assert f"127.0.0.1:{port}" in run.out, args


def test_a_tls_option_under_both_names_must_agree(cachediag, redis_factory) -> None:
    server = redis_factory(tls=True)
    ca = str(server.workdir / "ca.crt")
    both = ["ping", "-p", str(server.port), "--tls", "--tls-ca", ca, "--cacert", ca, "--json"]
    healthy(cachediag(*both))
    other = str(server.workdir / "server.crt")
    run = cachediag("ping", "-p", str(server.port), "--tls", "--tls-ca", ca, "--cacert", other)
    assert run.code == 2 and "disagree" in run.err


def test_unknown_url_parameters_are_named(cachediag) -> None:
    for args in (
        ["--redis", "redis://127.0.0.1:6379/0?socket_timeout=5"],
        ["-u", "redis://127.0.0.1:6379/0?socket_timeout=5"],
        ["memcached://127.0.0.1:11211?timeout=1"],
    ):
        run = cachediag("ping", *args)
        assert run.code == 2 and "unknown query parameter" in run.err, args
        assert "socket_timeout" in run.err or "'timeout'" in run.err
