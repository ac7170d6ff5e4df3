"""cachediag.toml [[targets]]: named, tagged targets with secrets by reference, picked with
--target/--tag, probed at once, summarised one row per target in every format."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jsonschema

import cachediag

SCHEMAS = Path(cachediag.__file__).parent / "schemas"


def _inventory(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    config = tmp_path / "cachediag.toml"
    config.write_text(text)
    os.chmod(config, mode)
    return config


def _fleet(tmp_path: Path, redis_factory: Any, memcached_server: Any) -> tuple[Path, Any, Any]:
    plain = redis_factory()
    secured = redis_factory(password="s3cret-pw")
    (tmp_path / "pw").write_text("s3cret-pw\n")
    config = _inventory(
        tmp_path,
        f"""
[[targets]]
name = "sessions-eu"
url = "redis://127.0.0.1:{plain.port}/0"
tags = ["eu", "sessions"]

[[targets]]
name = "carts-eu"
url = "redis://127.0.0.1:{secured.port}/0"
tags = ["eu"]
password_file = "pw"

[[targets]]
name = "pages-us"
url = "memcached://{memcached_server.address}"
tags = ["us"]
""",
    )
    return config, plain, secured


CHECKS = ("--only", "redis.running", "--only", "memcached.running", "--only", "redis.memory")


def test_every_entry_is_read_by_default(
    cachediag: Any, tmp_path: Path, redis_factory: Any, memcached_server: Any
) -> None:
    config, _, _ = _fleet(tmp_path, redis_factory, memcached_server)
    run = cachediag("check", "--config", str(config), "--json", *CHECKS)
    assert run.code == 0, run.err
    document = run.json()
    jsonschema.validate(document, json.loads((SCHEMAS / "check-v1.json").read_text()))
    assert [t["name"] for t in document["targets"]] == ["sessions-eu", "carts-eu", "pages-us"]
    running = {r["target"]: r["status"] for r in document["results"] if "running" in r["id"]}
    assert running == {"sessions-eu": "pass", "carts-eu": "pass", "pages-us": "pass"}
    assert "s3cret-pw" not in run.out + run.err


def test_target_and_tag_pick_entries(
    cachediag: Any, tmp_path: Path, redis_factory: Any, memcached_server: Any
) -> None:
    config, _, _ = _fleet(tmp_path, redis_factory, memcached_server)
    by_name = cachediag("check", "--config", str(config), "--json", "--target", "carts-eu", *CHECKS)
    assert [t["name"] for t in by_name.json()["targets"]] == ["carts-eu"]
    by_tag = cachediag("check", "--config", str(config), "--json", "--tag", "eu", *CHECKS)
    assert [t["name"] for t in by_tag.json()["targets"]] == ["sessions-eu", "carts-eu"]
    unknown = cachediag("check", "--config", str(config), "--target", "nope")
    assert unknown.code == 2 and "no such target" in unknown.err and "carts-eu" in unknown.err


def test_the_fleet_in_every_format(
    cachediag: Any, tmp_path: Path, redis_factory: Any, memcached_server: Any
) -> None:
    config, _, _ = _fleet(tmp_path, redis_factory, memcached_server)
    table = cachediag("check", "--config", str(config), *CHECKS)
    assert "Fleet summary" in table.out
    for name in ("sessions-eu", "carts-eu", "pages-us"):
        assert name in table.out.split("Fleet summary")[1]
    junit = cachediag("check", "--config", str(config), "--format", "junit", *CHECKS)
    suites = [s.get("name") for s in ET.fromstring(junit.out).iter("testsuite")]
    assert suites == ["sessions-eu", "carts-eu", "pages-us"]
    prometheus = cachediag("check", "--config", str(config), "--format", "prometheus", *CHECKS)
    assert 'target="carts-eu"' in prometheus.out and 'target="pages-us"' in prometheus.out


def test_secrets_are_given_by_reference(cachediag: Any, tmp_path: Path, redis_factory: Any) -> None:
    secured = redis_factory(password="env-pw-123")
    config = _inventory(
        tmp_path,
        f'[[targets]]\nname = "a"\nurl = "redis://127.0.0.1:{secured.port}"\n'
        'password_env = "A_PASSWORD"\n',
    )
    missing = cachediag("ping", "--config", str(config))
    assert missing.code == 2 and "A_PASSWORD is not set" in missing.err
    run = cachediag("ping", "--config", str(config), "--json", env={"A_PASSWORD": "env-pw-123"})
    assert run.code == 0, run.err
    assert run.json()["targets"][0]["status"] == "healthy"
    inline = _inventory(
        tmp_path,
        f'[[targets]]\nname = "a"\nurl = "redis://:env-pw-123@127.0.0.1:{secured.port}"\n',
        mode=0o644,
    )
    refused = cachediag("ping", "--config", str(inline))
    assert refused.code == 2 and "world-readable" in refused.err
    assert "env-pw-123" not in refused.err
    os.chmod(inline, 0o600)  # readable by its owner only: the inline password is allowed
    assert cachediag("ping", "--config", str(inline)).code == 0
    keyed = _inventory(tmp_path, '[[targets]]\nname = "a"\nurl = "redis://x"\npassword = "p"\n')
    run = cachediag("ping", "--config", str(keyed))
    assert run.code == 2 and "no inline password" in run.err


def test_parallel_bounds_the_pool(cachediag: Any, redis_factory: Any) -> None:
    servers = [redis_factory() for _ in range(4)]
    flags = [arg for s in servers for arg in ("--redis", s.url)]
    run = cachediag("ping", *flags, "--parallel", "2", "--json")
    assert run.code == 0 and len(run.json()["targets"]) == 4
    assert cachediag("ping", *flags, "--parallel", "0").code == 2
