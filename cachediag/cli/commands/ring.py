"""`cachediag ring`: where each client hashing puts a key in a Memcached pool, and where it is."""

from __future__ import annotations

import os
from enum import Enum
from typing import Annotated

import typer

from cachediag.cli.common import cli_errors, setup, write_output
from cachediag.cli.exit_codes import ExitCode
from cachediag.cli.options import CommonOptions, target_options
from cachediag.cli.schema_option import json_schema_option
from cachediag.render.json_text import to_json

RING_SCHEMA = "cachediag.ring/v1"


class Hashing(str, Enum):
    ketama = "ketama"
    rendezvous = "rendezvous"
    modulo = "modulo"


@json_schema_option("ring")
@target_options
def ring(
    common: CommonOptions,
    keys: Annotated[list[str], typer.Argument(metavar="KEY...", help="Keys to place.")],
    hashing: Annotated[
        list[Hashing] | None,
        typer.Option(
            "--hash", help="Client hashing to place keys by (repeatable); without it, all three."
        ),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print a cachediag.ring/v1 JSON document.")
    ] = False,
) -> None:
    """Which server of a Memcached pool owns each key, under each common client hashing,
    and which servers hold it: two applications that hash differently show at once.

    ketama: libmemcached, pylibmc, spymemcached; rendezvous: pymemcache's HashClient;
    modulo: python-memcached. The pool: several --memcached servers, in the order the
    clients list them, or memcached_pool in cachediag.toml. Read-only (`mg KEY t s` on
    each server: one get each).

    Example: cachediag ring user:1 user:2 --memcached 10.0.0.1:11211 --memcached 10.0.0.2:11211

    Exit 0 done, 1 a server could not be asked, 2 bad input (fewer than two servers).
    """
    with cli_errors(common.debug):
        from cachediag.backends import backend_for
        from cachediag.errors import UsageError
        from cachediag.keyspace.ring import ring_report

        config_setup = setup(common)
        servers = [t for t in config_setup.targets if t.kind == "memcached"]
        if len(servers) < 2:
            raise UsageError(
                "ring needs a pool: two or more --memcached servers, or memcached_pool in "
                "cachediag.toml"
            )
        raw = [os.fsencode(key) for key in keys]
        backend_for("memcached").check_keys(raw)
        chosen = [h.value for h in hashing] if hashing else [h.value for h in Hashing]
        report = ring_report(servers, config_setup.timeout, raw, list(dict.fromkeys(chosen)))
        if json_output:
            write_output(to_json({"schema": RING_SCHEMA, **report}) + "\n", None)
        else:
            from cachediag.render import ring as render

            write_output(render.render(report), None)
    raise typer.Exit(ExitCode.FAILED if report["down"] else ExitCode.OK)
