"""`cachediag gather`'s core: probe as `check` does, collect every reading, write the bundle.

The facts and the checklist results are the ones `check` computes (probes/collect.py,
checks/evaluate.py), so that `check --from BUNDLE` gives the results this run recorded.
The raw readings (redis_files, memcached_files) run at the same time as the facts, on
their own connections: a hung target costs one timeout, not two.
"""

from __future__ import annotations

import os
import shlex
import socket
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cachediag import __version__
from cachediag.backends import backend_for
from cachediag.bundle import budget, host_files, log_files
from cachediag.bundle.files import BundleFile
from cachediag.bundle.keys import KeyRedactor
from cachediag.bundle.writer import Written, scrub, write_bundle
from cachediag.errors import UsageError
from cachediag.safety.redact import Redactions, redact_bundle_text
from cachediag.targets.target import Target

if TYPE_CHECKING:
    from cachediag.checks.checklist import Checklist
    from cachediag.checks.evaluate import Report
    from cachediag.keyspace.entities import Entities

SNAPSHOT_INTERVAL = 2.0  # seconds between the two INFO ALL snapshots (rates)


@dataclass
class GatherRequest:
    targets: list[Target]
    timeout: float
    checklist: Checklist
    output: str | None = None
    logs: list[str] = field(default_factory=list)
    since: float | None = None
    max_size: int = budget.DEFAULT_MAX_SIZE
    redact_keys: bool = False
    entities: Entities | None = None
    window: float = 2.0
    sample_keys: int = 1000
    interval: float = SNAPSHOT_INTERVAL
    argv: list[str] = field(default_factory=lambda: list(sys.argv))


@dataclass
class Gathered:
    written: Written
    report: Report
    duration_ms: int


def credentials_of(targets: list[Target]) -> tuple[str, ...]:
    """Every password cachediag holds: the targets', and any it was given otherwise."""
    from cachediag.safety.secrets import held_secrets

    held = {t.password for t in targets if t.password and len(t.password) >= 3}
    return tuple(sorted(held | set(held_secrets())))


def destination(output: str | None, host: str, stamp: str) -> Path:
    """-o FILE, -o FOLDER (the default name inside it), or the default name here."""
    name = f"cachediag-{host}-{stamp}.tar.gz"
    if output is None:
        return Path.cwd() / name
    path = Path(output)
    if path.is_dir() or output.endswith(("/", os.sep)):  # a folder (that may not exist)
        return path / name
    if not path.name.endswith(".tar.gz"):
        raise UsageError(f"-o {output}: a bundle is a .tar.gz file (or give a folder)")
    return path


def _host_name() -> str:
    name = socket.gethostname().split(".")[0] or "host"
    return "".join(ch if ch.isalnum() or ch == "-" else "-" for ch in name)


def gather(request: GatherRequest) -> Gathered:
    """Probe, collect, redact and write the bundle; every refusal before anything is probed."""
    started = time.monotonic()
    now = datetime.now(timezone.utc)
    host = _host_name()
    path = destination(request.output, host, now.strftime("%Y%m%dT%H%M%SZ"))
    if path.exists():
        raise UsageError(f"{path} exists already: gather never overwrites a bundle")
    budget.check_destination(path.parent)
    if "-" in request.logs:
        raise UsageError("gather reads log files, not standard input (-)")
    facts, report, files, heads_cut = _collect(request, started)
    credentials = credentials_of(request.targets)
    keys = _key_redactor(facts, files) if request.redact_keys else None
    files = [*_documents(report, facts, keys, heads_cut), *files]
    scrub(files, credentials, keys)
    budget_files(files, request.max_size)
    header = _header(request, now, host, report, credentials)
    top = path.name.removesuffix(".tar.gz")

    def readme(entries: list[dict[str, Any]]) -> str:
        from cachediag.bundle import readme as readme_text
        from cachediag.render import markdown

        results = markdown.render(_keyed_report(report, keys))
        return readme_text.render({**header, "top": top}, results, entries)

    written = write_bundle(files, path, top, credentials, header, readme)
    return Gathered(written, report, int((time.monotonic() - started) * 1000))


def _collect(
    request: GatherRequest, started: float
) -> tuple[dict[str, Any], Report, list[BundleFile], int]:
    """The facts and results as `check` makes them, every reading of the bundle, and how
    many sampled value heads were cut."""
    from cachediag.checks.evaluate import evaluate
    from cachediag.probes.app import AppSources
    from cachediag.probes.collect import collect_facts

    # Always the application facts (with no log: none), as `check` records them when its
    # app checks are selected: offline, those checks then say what the live run said.
    app_sources = AppSources(logs=tuple(request.logs))
    primed_at = host_files.prime_cpu()
    pool = ThreadPoolExecutor(max_workers=max(2, len(request.targets) + 1))
    facts_done = threading.Event()
    raw = [
        pool.submit(
            backend_for(t).bundle_readings, t, request.timeout, request.interval, facts_done
        )
        for t in request.targets
    ]
    try:
        facts: dict[str, Any] = dict(
            collect_facts(
                request.targets,
                request.timeout,
                request.sample_keys,
                host=True,
                app=app_sources,
                entities=request.entities,
                window=request.window,
            )
        )
    finally:
        facts_done.set()  # the readings that wait for the probe go on (or end)
    heads_cut = cut_value_heads(facts)
    files: list[BundleFile] = []
    for future, target_facts in zip(raw, facts["targets"], strict=True):
        readings, memory = future.result()
        if memory and target_facts.get("status") == "up":
            target_facts.update(memory)  # memory --from reads MEMORY DOCTOR and STATS here
        files += readings
    pool.shutdown()
    report = evaluate(
        request.checklist, facts, duration_ms=int((time.monotonic() - started) * 1000)
    )
    # Local readings, each under the timeout (at least 2 s: a busy host's process table).
    files += host_files.collect(facts.get("host"), primed_at, max(request.timeout, 2.0))
    if request.logs:
        files += log_files.collect(request.logs, request.since)
    return facts, report, files, heads_cut


def _key_redactor(facts: dict[str, Any], files: list[BundleFile]) -> KeyRedactor:
    """--redact-keys: the keys the facts name, and those the kept log lines name."""
    keys = KeyRedactor()
    keys.learn_facts(facts)
    keys.learn_text(f.text or "" for f in files if f.path.startswith("logs/"))
    return keys


def _documents(
    report: Report, facts: dict[str, Any], keys: KeyRedactor | None, heads_cut: int
) -> list[BundleFile]:
    """check.json and facts.json; with --redact-keys, walked as data (their structure kept)."""
    check_document: dict[str, Any] = report.to_dict()
    facts_document: dict[str, Any] = facts
    hashed = {"check": 0, "facts": 0}
    if keys is not None:
        facts_document = keys.walk(facts)
        hashed["facts"] = keys.replaced
        check_document = keys.walk(check_document)
        hashed["check"] = keys.replaced - hashed["facts"]
        keys.replaced = 0
    documents = [
        _document("check.json", "cachediag check (cachediag.check/v1)", check_document),
        _document("facts.json", "cachediag probes (cachediag.facts/v1)", facts_document),
    ]
    for file, name in zip(documents, ("check", "facts"), strict=True):
        if hashed[name]:
            file.redactions["key_name"] = hashed[name]
    if heads_cut:
        documents[1].redactions["value_head"] = heads_cut
    return documents


# What the rules read of a sampled value's first bytes: cache-kit's magic (4 bytes) and
# its varint schema version (up to 5), and whether a payload follows (1 more byte). The
# rest of the 64 bytes the probe read is the application's data, and stays out of a bundle.
ENVELOPE_HEAD_BYTES = 10
MAGIC_BYTES = 4


def cut_value_heads(facts: dict[str, Any]) -> int:
    """Cut every sampled value's head to what the rules judge (before they judge it, so
    that check.json and `check --from` see the same facts); returns how many were cut."""
    from cachediag.keyspace.envelope import MAGIC

    cut = 0
    for target in facts.get("targets") or []:
        for item in (target.get("sample") or {}).get("keys") or []:
            head = item.get("head_hex")
            if not isinstance(head, str):
                continue
            keep = ENVELOPE_HEAD_BYTES if head.lower().startswith(MAGIC.hex()) else MAGIC_BYTES
            if len(head) > 2 * keep:
                item["head_hex"] = head[: 2 * keep]
                cut += 1
    return cut


def budget_files(files: list[BundleFile], max_size: int) -> None:
    from cachediag.bundle.writer import apply_budget

    apply_budget(files, max_size)


def _keyed_report(report: Report, keys: KeyRedactor | None) -> Report:
    """The report as README shows it: with --redact-keys, key names hashed there too."""
    if keys is None:
        return report
    from dataclasses import replace

    return replace(
        report,
        results=[
            replace(r, summary=keys.text(r.summary)[0], observed=keys.walk(r.observed))
            for r in report.results
        ],
    )


def _document(path: str, producer: str, document: Any) -> BundleFile:
    from cachediag.render.json_text import to_json

    return BundleFile(path, producer, to_json(document) + "\n", patterns="none", essential=True)


def _header(
    request: GatherRequest,
    now: datetime,
    host: str,
    report: Report,
    credentials: tuple[str, ...],
) -> dict[str, Any]:
    command = "cachediag " + shlex.join(request.argv[1:])
    return {
        "version": __version__,
        "created_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "host": host,
        "command": redact_bundle_text(command, credentials, Redactions()),
        "max_size": request.max_size,
        "redact_keys": request.redact_keys,
        "targets": report.targets,
        "summary": {**report.counts(), "exit_code": report.exit_code},
    }
