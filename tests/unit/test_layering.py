"""The house's rules, read from the source of every module under cachediag/ (ast, not grep):

- typer is imported only in cli/; rich only in cli/ and render/, and in cli/ only for the
  live terminal (tables and text are render/'s, which returns strings);
- checks/ does no I/O: no sockets, TLS, processes, HTTP, psutil, clients, probes or scan,
  and of render/ only units (pure text);
- a write command (CONFIG SET, UNLINK, FLUSHALL, Memcached md, delete, set...) is built
  only in cachediag/writes.py, which plans, confirms, applies and reads back; and in
  cachediag/demo/seed.py, which fills the demo's throwaway servers (and refuses any
  target off loopback: tests/unit/demo/test_seed.py);
- only cli/common.py writes files (through the masking pass), and safety/masking.py,
  which opens os.devnull for a closed stream;
- redis and pymemcache (the tests' application side) are imported by no runtime module;
- the CLI returns exit codes as ExitCode members, never bare numbers.

Each rule is shown failing on a small synthetic module, so a rule that silently stopped
matching anything would be caught too.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import cachediag

PACKAGE = Path(cachediag.__file__).resolve().parent

IO_MODULES = (
    "socket",
    "ssl",
    "subprocess",
    "urllib.request",
    "http.client",
    "psutil",
    "cachediag.clients",
    "cachediag.probes",
    "cachediag.scan",
)
APPLICATION_LIBRARIES = ("redis", "pymemcache")
# What the CLI may take from rich: the terminal itself (a live display redrawn in place);
# tables and text are built by renderers, which return strings.
CLI_RICH = ("rich.console", "rich.live")
FILE_WRITERS = ("cli/common.py", "safety/masking.py")
WRITES_MODULE = "writes.py"
# The demo plays a buggy application against servers it started itself: it must write.
SEED_MODULE = "demo/seed.py"

# Redis commands that change data or server state, at the start of a string (after
# blanks and punctuation), in capitals as Redis documents them and cachediag writes them.
_REDIS_WRITE = re.compile(
    r"(?:CONFIG\s+(?:SET|REWRITE|RESETSTAT)|UNLINK|DEL|FLUSHDB|FLUSHALL|SET|SETEX|PSETEX|SETNX"
    r"|SETRANGE|MSET|MSETNX|GETSET|GETDEL|GETEX|RESTORE|EXPIRE|PEXPIRE|EXPIREAT|PEXPIREAT"
    r"|PERSIST|RENAME|RENAMENX|MOVE|COPY|SWAPDB|MIGRATE|APPEND|INCR|INCRBY|INCRBYFLOAT|DECR"
    r"|DECRBY|HSET|HMSET|HDEL|LPUSH|RPUSH|LPOP|RPOP|LREM|LTRIM|SADD|SREM|SPOP|ZADD|ZREM|XADD"
    r"|XDEL|XTRIM|SHUTDOWN|REPLICAOF|SLAVEOF|ACL\s+(?:SETUSER|DELUSER)|SCRIPT\s+FLUSH"
    r"|FUNCTION\s+(?:LOAD|DELETE|FLUSH)|DEBUG\s+(?:SLEEP|SET\S*|RELOAD|RESTART|CRASH\S*)"
    r"|CLIENT\s+KILL|SLOWLOG\s+RESET|LATENCY\s+RESET|MEMORY\s+PURGE)\b"
)
_STRIP = " \t\r\n:;,.>$*`'\"(-"
# Memcached's writes, as a command line starts: the word, then its arguments or CR LF.
_MEMCACHED_WRITES = (
    "md|ms|ma|delete|flush_all|set|add|replace|append|prepend|cas|incr|decr|touch|gat|gats"
    "|verbosity|shutdown|slabs reassign|slabs automove"
)
_MEMCACHED_LINE = re.compile(rf"^(?:{_MEMCACHED_WRITES})(?: |\r\n)")
_MEMCACHED_WORD = re.compile(rf"^(?:{_MEMCACHED_WRITES})$")


def _text(value: str | bytes) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else value


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the string constants that are docstrings (prose about commands is fine)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            found.add(id(node.value))
    return found


def write_commands(source: str) -> list[tuple[int, str]]:
    """(line, command) for each write command the source builds, as a literal (a whole
    string, a piece of an f-string, bytes) or as a sequence of words (a call's
    arguments, a tuple, a list: ("CONFIG", "SET", ...))."""
    tree = ast.parse(source)
    skip = _docstrings(tree)
    inner: set[int] = set()  # f-string pieces after the first: prose, not a line's start
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            inner.update(id(value) for value in node.values[1:])
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)):
            if id(node) in skip:
                continue
            text = _text(node.value)
            redis = _REDIS_WRITE.match(text.lstrip(_STRIP))
            if redis:
                found.append((node.lineno, redis.group(0)))
            elif id(node) not in inner and (line := _MEMCACHED_LINE.match(text)):
                found.append((node.lineno, line.group(0).strip()))
        words = None
        if isinstance(node, ast.Call):
            words = node.args
        elif isinstance(node, (ast.Tuple, ast.List)):
            words = node.elts
        if not words:
            continue
        leading = []
        for word in words:
            if not (isinstance(word, ast.Constant) and isinstance(word.value, (str, bytes))):
                break
            leading.append(word.value)
        if len(leading) > 1:
            joined = " ".join(_text(w) for w in leading)
            redis = _REDIS_WRITE.match(joined)
            if redis and " " in redis.group(0):  # single words were caught above
                found.append((node.lineno, redis.group(0)))
        first = leading[0] if leading else None
        if isinstance(first, bytes) and len(words) > 1 and _MEMCACHED_WORD.match(_text(first)):
            found.append((node.lineno, _text(first)))
    return found


def _imports(tree: ast.AST, module: str) -> list[tuple[int, str]]:
    """(line, dotted name) of every import, relative ones resolved; `from a import b`
    gives both a and a.b, since b may be a module."""
    names: list[tuple[int, str]] = []
    package = module.rsplit(".", 1)[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            names.append((node.lineno, base))
            names.extend((node.lineno, f"{base}.{alias.name}") for alias in node.names)
    return names


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _within_any(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(_within(name, prefix) for prefix in prefixes)


def _writes_a_file(node: ast.Call) -> bool:
    func = node.func
    if isinstance(func, ast.Attribute) and func.attr in ("write_text", "write_bytes"):
        return True
    if isinstance(func, ast.Name) and func.id == "open":
        mode = node.args[1] if len(node.args) > 1 else None
        mode = next((k.value for k in node.keywords if k.arg == "mode"), mode)
        return isinstance(mode, ast.Constant) and any(c in str(mode.value) for c in "wax+")
    if isinstance(func, ast.Attribute) and func.attr == "open":
        flags = ast.dump(node)
        return any(flag in flags for flag in ("O_WRONLY", "O_RDWR", "O_CREAT", "O_APPEND"))
    return False


def _bare_exit_code(node: ast.Call) -> bool:
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    if name not in ("Exit", "exit", "SystemExit", "_exit", "_leave"):
        return False
    # Exit(1), and Exit(1 if never else 0) too
    return any(
        isinstance(part, ast.Constant) and type(part.value) is int
        for arg in node.args
        for part in ast.walk(arg)
    )


def violations(relpath: str, source: str) -> list[str]:
    """What in this module (its path under cachediag/, its source) breaks the rules."""
    tree = ast.parse(source)
    module = "cachediag." + relpath.removesuffix(".py").replace("/", ".")
    folder = relpath.split("/", 1)[0] if "/" in relpath else ""
    found = []
    for line, name in _imports(tree, module):
        where = f"{relpath}:{line}"
        if _within(name, "typer") and folder != "cli":
            found.append(f"{where}: typer imported outside cli/")
        if _within(name, "rich") and folder not in ("cli", "render"):
            found.append(f"{where}: rich imported outside cli/ and render/")
        in_rich = _within(name, "rich") and name != "rich"  # `from rich import x`: see rich.x
        if folder == "cli" and in_rich and not _within_any(name, CLI_RICH):
            found.append(f"{where}: {name} in cli/: building output is render/'s job")
        if folder == "checks":
            if _within_any(name, IO_MODULES):
                found.append(f"{where}: checks/ imports {name}, which does I/O")
            # `from cachediag.render import units` names the package too: that is fine.
            rendering = _within(name, "cachediag.render") and name != "cachediag.render"
            if rendering and not _within(name, "cachediag.render.units"):
                found.append(f"{where}: checks/ imports {name}: of render/ only units")
        if _within_any(name, APPLICATION_LIBRARIES):
            found.append(f"{where}: {name} is the tests' application side, not a runtime import")
    if relpath not in (WRITES_MODULE, SEED_MODULE):
        for line, command in write_commands(source):
            found.append(f"{relpath}:{line}: write command {command!r} built outside writes.py")
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        if relpath not in FILE_WRITERS and _writes_a_file(node):
            found.append(f"{relpath}:{node.lineno}: writes a file outside cli/common.py")
        if folder == "cli" and _bare_exit_code(node):
            found.append(f"{relpath}:{node.lineno}: a bare exit code: use ExitCode")
    return found


def _modules() -> list[tuple[str, str]]:
    return [
        (path.relative_to(PACKAGE).as_posix(), path.read_text(encoding="utf-8"))
        for path in sorted(PACKAGE.rglob("*.py"))
    ]


def test_every_module_keeps_the_layering() -> None:
    modules = _modules()
    assert len(modules) > 80 and any(path.startswith("checks/") for path, _ in modules)
    found = [problem for path, source in modules for problem in violations(path, source)]
    assert found == []


def test_the_writes_module_is_where_the_write_commands_are() -> None:
    """The detector sees the real writes (so an empty result above means something)."""
    source = (PACKAGE / WRITES_MODULE).read_text(encoding="utf-8")
    commands = {command for _, command in write_commands(source)}
    assert {"CONFIG SET", "CONFIG REWRITE", "UNLINK", "md"} <= commands


@pytest.mark.parametrize(
    ("relpath", "source", "expected"),
    [
        ("server/memory.py", "import typer\n", "typer imported outside cli/"),
        ("probes/app.py", "from typer import Option\n", "typer imported outside cli/"),
        ("checks/rules/cache.py", "from rich.text import Text\n", "rich imported outside"),
        ("server/watch.py", "def f():\n    import rich.live\n", "rich imported outside"),
        ("cli/commands/ping.py", "from rich.table import Table\n", "render/'s job"),
        ("checks/rules/host.py", "import psutil\n", "which does I/O"),
        ("checks/evaluate.py", "import urllib.request\n", "which does I/O"),
        ("checks/evaluate.py", "from urllib import request\n", "which does I/O"),
        ("checks/rules/app.py", "from http.client import HTTPConnection\n", "which does I/O"),
        ("checks/judge.py", "from cachediag.clients.resp import RedisClient\n", "does I/O"),
        ("checks/judge.py", "from ..probes import redis\n", "cachediag.probes"),
        ("checks/base.py", "from cachediag.scan.redis import scan\n", "does I/O"),
        ("checks/base.py", "import socket, json\n", "does I/O"),
        ("checks/base.py", "from cachediag.render.table import render\n", "only units"),
        ("probes/redis.py", "import redis\n", "application side"),
        ("keyspace/ttl.py", "from pymemcache.client import base\n", "application side"),
        ("server/eviction.py", 'client.call("CONFIG", "SET", "maxmemory", "1gb")\n', "CONFIG SET"),
        ("server/eviction.py", 'cmd = f"{cli} CONFIG SET maxmemory {size}"\n', "CONFIG SET"),
        ("keyspace/purge.py", 'client.call("UNLINK", *keys)\n', "UNLINK"),
        ("demo/run.py", 'client.call("SET", key, value)\n', "SET"),
        ("keyspace/purge.py", "pipe = [(b'DEL', key) for key in keys]\n", "DEL"),
        ("keyspace/purge.py", "client.call('FLUSHALL')\n", "FLUSHALL"),
        ("render/purge.py", 'line = f"  {target}: CONFIG REWRITE (persist)"\n', "CONFIG REWRITE"),
        ("scan/memcached.py", 'client.send(b"md " + key + b"\\r\\n")\n', "md"),
        ("scan/memcached.py", 'client.send(f"delete {key}\\r\\n".encode())\n', "delete"),
        ("scan/memcached.py", 'client.send(b"flush_all\\r\\n")\n', "flush_all"),
        ("scan/memcached.py", "words = (b'set', key, b'0', b'0', b'1')\n", "'set'"),
        ("render/bundle.py", 'open(path, "w").write(text)\n', "writes a file"),
        ("cli/commands/gather.py", "Path(path).write_bytes(data)\n", "writes a file"),
        ("cli/commands/gather.py", "os.open(path, os.O_WRONLY | os.O_CREAT)\n", "writes a file"),
        ("cli/commands/ping.py", "raise typer.Exit(1)\n", "bare exit code"),
        ("cli/commands/watch.py", "raise typer.Exit(1 if never else 0)\n", "bare exit code"),
        ("cli/app.py", "sys.exit(2)\n", "bare exit code"),
    ],
)
def test_each_rule_fails_on_a_module_that_breaks_it(
    relpath: str, source: str, expected: str
) -> None:
    found = violations(relpath, source)
    assert any(expected in problem for problem in found), found


@pytest.mark.parametrize(
    ("relpath", "source"),
    [
        ("cli/commands/latency.py", "import typer\nfrom rich.live import Live\n"),
        ("render/ping.py", "from rich.table import Table\n"),
        ("checks/rules/cache.py", "from cachediag.render.units import human_bytes\n"),
        ("checks/rules/cache.py", "from cachediag.render import units\n"),
        ("checks/rules/cache.py", "from cachediag.keyspace import envelope\nimport re\n"),
        ("probes/redis.py", 'client.pipeline([("CONFIG", "GET", "maxmemory"), ("INFO",)])\n'),
        ("probes/redis.py", 'error = "CONFIG GET is unavailable: " + reason\n'),
        ("render/eviction_policy.py", 'Text("persisted with CONFIG REWRITE")\n'),
        ("logscan/patterns.py", 'PATTERNS = (b"flushdb", b"flushall", b"flush_all")\n'),
        ("scan/redis.py", 'LENGTHS = {"set": b"SCARD", "string": b"STRLEN"}\n'),
        ("scan/redis.py", 'name = raw.decode("utf-8", "replace")\n'),
        ("scan/memcached.py", 'client.send(b"mg " + key + b" t f v u\\r\\n")\n'),
        ("server/eviction.py", 'def f():\n    """CONFIG SET each change, then read back."""\n'),
        ("cli/commands/eviction_policy.py", 'typer.Option("--set", metavar="POLICY")\n'),
        ("checks/rules/app.py", 'summary = f"{n} ms, set {limit} to raise it"\n'),
        ("cli/common.py", 'with open(temporary, "w") as handle:\n    pass\n'),
        ("logscan/reader.py", 'with open(path, "rb") as handle:\n    pass\n'),
        ("cli/commands/ping.py", "raise typer.Exit(ExitCode.FAILED)\n"),
        ("writes.py", 'client.call("CONFIG", "SET", name, value)\n'),
    ],
)
def test_what_the_rules_allow(relpath: str, source: str) -> None:
    assert violations(relpath, source) == []


def test_exit_code_names_keep_their_numbers() -> None:
    """The numbers are the contract (README, design.md); the names only read better."""
    from cachediag.cli.exit_codes import ExitCode

    assert {code.name: int(code) for code in ExitCode} == {
        "OK": 0,
        "FAILED": 1,
        "USAGE": 2,
        "UNREADABLE": 3,
        "INTERRUPTED": 130,
    }
