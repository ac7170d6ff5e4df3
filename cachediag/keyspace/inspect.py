"""`inspect` for one target: named keys in detail, or the cache-kit health of a bounded sample."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cachediag.clients.memcache_text import MemcachedClient, is_text_key
from cachediag.clients.resp import RedisClient, ReplyError
from cachediag.errors import ProbeError, ServerRefused, UsageError
from cachediag.keyspace.entities import Entities
from cachediag.keyspace.envelope_survey import EnvelopeSurvey, envelope_dict
from cachediag.keyspace.payload_survey import read_whole, survey_for
from cachediag.keyspace.whole_values import redis_reader
from cachediag.probes.rows import mark_error, target_row
from cachediag.safety.server_text import server_text
from cachediag.safety.textsafe import key_fields, safe_text
from cachediag.scan.lookups import Lookups
from cachediag.scan.memcached import CrawlOptions, Item, crawl
from cachediag.scan.redis import (
    LENGTH_COMMANDS,
    VALUE_HEAD_BYTES,
    KeyInfo,
    Namespacer,
    Progress,
    ScanOptions,
    ScanResult,
    scan_keyspace,
)
from cachediag.targets.target import Target

if TYPE_CHECKING:
    from cachediag.keyspace.fleet import Group

# Memcached values are read whole: past this size an item is listed but not fetched.
MEMCACHED_FETCH_LIMIT = 256 * 1024
MEMCACHED_GET_BATCH = 100


@dataclass(frozen=True)
class SampleRequest:
    scan: ScanOptions
    crawl: CrawlOptions
    affected: int = 20
    entities: Entities | None = None  # layouts for a full decode of the payloads


def check_memcached_key(key: bytes) -> None:
    if not is_text_key(key):
        raise UsageError(
            f"{safe_text(key)}: not a valid Memcached key "
            "(1–250 bytes, no spaces or control characters)"
        )


def _guard(target: Target, work: Any) -> dict[str, Any]:
    row = target_row(target)
    try:
        row.update(work())
    except ProbeError as error:
        mark_error(
            row, target, error if isinstance(error, ProbeError) else ServerRefused(str(error))
        )
    return row


# -- named keys ------------------------------------------------------------------------------


def keys_report(
    target: Target, timeout: float, keys: list[bytes], delimiter: str = ":"
) -> dict[str, Any]:
    from cachediag.backends import backend_for

    backend = backend_for(target)
    backend.check_keys(keys)
    return _guard(target, lambda: backend.inspect_keys(target, timeout, keys, delimiter))


def redis_keys(target: Target, timeout: float, keys: list[bytes], delimiter: str) -> dict[str, Any]:
    with RedisClient(target, timeout).connect() as client:
        return redis_keys_on(client, keys, delimiter)


def redis_keys_on(
    client: Any, keys: list[bytes], delimiter: str, types: list[Any] | None = None
) -> dict[str, Any]:
    """`inspect KEY...` on an open connection; `types`: the keys' TYPE replies, when the
    caller already has them (a cluster's router asked TYPE to find each key's node)."""
    namespace = Namespacer(delimiter)
    if types is None:
        types = client.pipeline([("TYPE", key) for key in keys])
    commands: list[tuple[Any, ...]] = []
    for key, kind in zip(keys, types, strict=True):
        name = server_text(kind) if isinstance(kind, bytes) else "none"
        commands += [
            ("PTTL", key),
            ("MEMORY", "USAGE", key),
            ("OBJECT", "ENCODING", key),
            (LENGTH_COMMANDS.get(name, b"EXISTS"), key),
            ("GETRANGE", key, 0, VALUE_HEAD_BYTES - 1) if name == "string" else ("EXISTS", key),
        ]
    replies = client.pipeline(commands)
    rows = []
    memory_reason = None
    for index, (key, kind) in enumerate(zip(keys, types, strict=True)):
        name = server_text(kind) if isinstance(kind, bytes) else "none"
        pttl, memory, encoding, length, head = replies[index * 5 : index * 5 + 5]
        row: dict[str, Any] = {**key_fields(key), "namespace": safe_text(namespace(key))}
        if isinstance(kind, ReplyError):  # an ACL hides it, say: not the same as missing
            rows.append({**row, "exists": None, "error": safe_text(kind.text)})
            continue
        if name == "none" or pttl == -2:
            rows.append({**row, "exists": False})
            continue
        if isinstance(memory, ReplyError):
            memory_reason = memory.text
        is_string = name == "string"
        total = length if isinstance(length, int) and name in LENGTH_COMMANDS else None
        rows.append(
            {
                **row,
                "exists": True,
                "type": name,
                "ttl_ms": pttl if isinstance(pttl, int) else None,
                "memory": memory if isinstance(memory, int) else None,
                # The server's word, escaped: a hostile one may hold terminal escapes.
                "encoding": server_text(encoding) if isinstance(encoding, bytes) else None,
                "length": total,
                "envelope": envelope_dict(head, total)
                if is_string and isinstance(head, bytes)
                else None,
            }
        )
    return {
        "mode": "keys",
        "keys": rows,
        "memory_reason": memory_reason,
        "lookups_added": _named_lookups(types, replies),
    }


def _named_lookups(types: list[Any], replies: list[Any]) -> dict[str, Any]:
    """TYPE, PTTL, OBJECT ENCODING and two more reads per key are lookups (MEMORY USAGE
    is not): hits for a key that exists, misses for one that does not, none for a key
    an ACL hides (its commands are rejected before they run)."""
    lookups = Lookups()
    for index, kind in enumerate(types):
        if isinstance(kind, ReplyError):
            continue
        pttl = replies[index * 5]
        if kind == b"none" or pttl == -2:
            lookups.add(misses=5)
        else:
            lookups.add(hits=5)
    return lookups.to_dict()


def add_evidence_lookups(row: dict[str, Any]) -> None:
    """Fold the reads that completed the verdicts (keyspace.key_evidence: whole values, the
    first bytes of neighbours, one GETRANGE or get each) into the row's lookups_added."""
    extra = (row.get("values_read_whole") or 0) + (row.get("neighbours_read") or 0)
    added = row.get("lookups_added")
    if extra and isinstance(added, dict):
        added["hits"] = added.get("hits", 0) + extra


# -- named keys in a system of nodes (a cluster) ----------------------------------------------


def named_keys_row(
    target: Target,
    timeout: float,
    keys: list[bytes],
    entities: Entities | None,
    delimiter: str = ":",
) -> dict[str, Any]:
    """`inspect KEY...` on one server: the keys, their verdicts completed by the namespace's
    neighbours and whole values (bounded reads), and every read counted."""
    from cachediag.keyspace.key_evidence import enrich_keys

    row = keys_report(target, timeout, keys, delimiter)
    enrich_keys(row, target, timeout, keys, entities, delimiter)
    add_evidence_lookups(row)
    return row


def keys_report_group(
    group: Group,
    timeout: float,
    keys: list[bytes],
    entities: Entities | None,
    delimiter: str = ":",
) -> dict[str, Any]:
    """`inspect KEY...` on a server, or on a cluster: each key read on the node serving its
    slot (keyspace.routing: a MOVED answer re-maps the slot; an ASK, the key already on
    the node importing its slot, is read there with ASKING), the rows merged in the order
    the keys were named, each naming its node."""
    if group.system is None:
        return named_keys_row(group.nodes[0], timeout, keys, entities, delimiter)
    from cachediag.backends import backend_for
    from cachediag.keyspace.routing import SlotRouter

    target = group.target
    backend_for(target).check_keys(keys)
    row = target_row(target)
    row["mode"] = "keys"
    found: list[dict[str, Any] | None] = [None] * len(keys)
    parts: list[dict[str, Any]] = []
    with SlotRouter(group.nodes, timeout) as router:
        try:
            routes = _routes(router, keys)
        except ProbeError as error:  # no slot map: no primary answered
            return mark_error(row, target, error)
        for (node, asking), indexes, reply in routes:
            chosen = [keys[i] for i in indexes]
            if isinstance(reply, ProbeError):  # the node did not answer
                part = mark_error(target_row(node), node, reply)
            else:
                part = _routed_part(
                    router, node, asking, chosen, reply, timeout, entities, delimiter
                )
            parts.append(part)
            for index, key_row in zip(indexes, part.get("keys") or [], strict=False):
                found[index] = {**key_row, "node": node.address}
            if part["status"] != "up":
                for index in indexes:
                    found[index] = {
                        "key": safe_text(keys[index]),
                        "exists": None,
                        "error": f"node {node.address} is down: "
                        f"{(part['error'] or {}).get('message')}",
                        "node": node.address,
                    }
        redirects = router.redirects
    up = [part for part in parts if part["status"] == "up"]
    if not up:
        return mark_error(row, target, ServerRefused(str((parts[0]["error"] or {}).get("message"))))
    lookups = Lookups()
    for part in up:
        added = part.get("lookups_added") or {}
        lookups.add(hits=added.get("hits", 0), misses=added.get("misses", 0))
    row["keys"] = [key_row for key_row in found if key_row is not None]
    row["memory_reason"] = next((p["memory_reason"] for p in up if p.get("memory_reason")), None)
    row["lookups_added"] = lookups.to_dict()
    for name in ("values_read_whole", "neighbours_read"):
        if any(name in part for part in up):
            row[name] = sum(part.get(name) or 0 for part in up)
    errors = [part["evidence_error"] for part in up if part.get("evidence_error")]
    if errors:
        row["evidence_error"] = errors[0]
    if redirects:
        row["redirects"] = redirects
        row["notes"] = [
            f"{redirects} MOVED/ASK redirection(s) followed: slots are moving between nodes"
        ]
    return row


# (the node serving the keys, read there with ASKING?), the keys' indexes, and their TYPE
# replies, or why the node could not be asked
Route = tuple[tuple[Target, bool], list[int], "list[Any] | ProbeError"]


def _routes(router: Any, keys: list[bytes]) -> list[Route]:
    """The keys grouped by the node serving them, and their TYPE replies: one TYPE pipeline
    per slot owner by the map, then each redirected key alone through the router, from
    the node the redirection named (MOVED or ASK followed, once per key)."""
    by_owner: dict[str, tuple[Target, list[int]]] = {}
    for index, key in enumerate(keys):
        owner = router.owner(key)
        by_owner.setdefault(owner.address, (owner, []))[1].append(index)
    routes: dict[tuple[str, bool], tuple[Target, list[int], list[Any]]] = {}
    down: list[Route] = []
    for owner, indexes in by_owner.values():
        try:
            types = router.client(owner).pipeline([("TYPE", keys[i]) for i in indexes])
        except ProbeError as error:
            down.append(((owner, False), indexes, error))
            continue
        for index, kind in zip(indexes, types, strict=True):
            node, asking = owner, False
            if router.follow(keys[index], kind):  # the next request goes where it said
                try:
                    node, (kind,) = router.pipeline(keys[index], [("TYPE", keys[index])])
                    asking = keys[index] in router.asked
                except ProbeError as error:  # too many redirections, or the node named is down
                    kind = ReplyError(error.message)
            route = routes.setdefault((node.address, asking), (node, [], []))
            route[1].append(index)
            route[2].append(kind)
    found: list[Route] = [
        ((node, asking), idx, types) for (_, asking), (node, idx, types) in routes.items()
    ]
    return found + down


def _routed_part(
    router: Any,
    node: Target,
    asking: bool,
    keys: list[bytes],
    types: list[Any],
    timeout: float,
    entities: Entities | None,
    delimiter: str,
) -> dict[str, Any]:
    """The keys one node serves, read there (with ASKING when it is importing them), their
    verdicts completed as for a lone server."""
    from cachediag.keyspace.key_evidence import enrich_keys
    from cachediag.keyspace.routing import AskingClient

    client = router.client(node)
    part = _guard(
        node,
        lambda: redis_keys_on(AskingClient(client) if asking else client, keys, delimiter, types),
    )
    if asking:
        _enrich_asked(part, AskingClient(client), keys, entities, delimiter)
    else:
        enrich_keys(part, node, timeout, keys, entities, delimiter)
    add_evidence_lookups(part)
    return part


def _enrich_asked(
    part: dict[str, Any],
    client: Any,
    keys: list[bytes],
    entities: Entities | None,
    delimiter: str,
) -> None:
    """key_evidence.enrich_keys for keys read on the node importing their slot: its whole
    values and neighbours read on that connection, each GETRANGE after ASKING (on another
    connection, without it, every read of them is a MOVED back to the slot's owner)."""
    from cachediag.keyspace import key_evidence
    from cachediag.keyspace.whole_values import redis_reader

    if part.get("status") != "up":
        return
    named = [
        (raw, key)
        for raw, key in zip(keys, part.get("keys") or [], strict=False)
        if key.get("exists") and key.get("envelope")
    ]
    if not named or not key_evidence._has_work(named, entities):
        return
    reads = key_evidence._Reads()
    neighbours = key_evidence._RedisNeighbours(client, delimiter)
    try:
        key_evidence._judge(
            named, entities, redis_reader(client), reads, neighbours.look, delimiter
        )
    except ProbeError as error:
        part["evidence_error"] = error.message
    part["values_read_whole"] = reads.whole
    part["neighbours_read"] = reads.neighbours


def memcached_keys(
    target: Target, timeout: float, keys: list[bytes], delimiter: str
) -> dict[str, Any]:
    namespace = Namespacer(delimiter)
    with MemcachedClient(target, timeout).connect() as client:
        found = client.meta_get(keys)
    rows = []
    for key in keys:
        row: dict[str, Any] = {**key_fields(key), "namespace": safe_text(namespace(key))}
        if key not in found:
            rows.append({**row, "exists": False})
            continue
        value, ttl, flags = found[key]
        rows.append(
            {
                **row,
                "exists": True,
                "type": "item",
                "ttl_ms": ttl * 1000 if ttl >= 0 else -1,
                "memory": None,
                "encoding": None,
                "length": len(value),
                "client_flags": flags,
                "envelope": envelope_dict(value[:VALUE_HEAD_BYTES], len(value)),
            }
        )
    # One meta get per key: a get_hit when found, a get_miss when not.
    hits = sum(1 for key in keys if key in found)
    lookups = Lookups(hits=hits, misses=len(keys) - hits)
    return {"mode": "keys", "keys": rows, "memory_reason": None, "lookups_added": lookups.to_dict()}


# -- sample ------------------------------------------------------------------------------------


def sample_report(
    target: Target, timeout: float, request: SampleRequest, progress: Progress | None
) -> dict[str, Any]:
    from cachediag.backends import backend_for

    backend = backend_for(target)
    return _guard(target, lambda: backend.inspect_sample(target, timeout, request, progress))


def redis_sample(
    target: Target, timeout: float, request: SampleRequest, progress: Progress | None
) -> dict[str, Any]:
    survey, result = _redis_survey(target, timeout, request, progress)
    return _sample_row(survey, result, request)


def _redis_survey(
    target: Target, timeout: float, request: SampleRequest, progress: Progress | None
) -> tuple[EnvelopeSurvey, ScanResult]:
    survey = EnvelopeSurvey(request.affected, survey_for(request.entities, request.scan.delimiter))

    def add(infos: list[KeyInfo]) -> None:
        for info in infos:
            survey.add(info.key, info.namespace, info.head, info.length)

    with RedisClient(target, timeout).connect() as client:
        if target.role == "replica":
            # A cluster replica reads its own keys only after READONLY (else every GETRANGE
            # is a MOVED to its primary); a replica outside a cluster says no, harmlessly.
            client.call("READONLY")
        result = scan_keyspace(client, request.scan, add, progress)
        read_whole(survey.payloads, redis_reader(client), result.stop_reason)
    return survey, result


def _sample_row(
    survey: EnvelopeSurvey, result: ScanResult, request: SampleRequest
) -> dict[str, Any]:
    options = request.scan
    return {
        "mode": "sample",
        "pattern": safe_text(options.match) if options.match else None,
        "scan": result.to_dict(),
        "complete": result.complete,
        "stop_reason": result.stop_reason,
        "resume_cursor": None if result.complete else str(result.cursor),
        "entries": result.inspected,
        "not_fetched": 0,
        "values_unreadable": result.head_reason,
        "lookups_added": result.lookups.to_dict(),
        # up, but the reading could not be taken (whole or in part): exit 3, like any check
        # that cannot run
        "error": _sample_error(result),
        **survey.to_dict(),
    }


def sample_report_nodes(
    group: Group, timeout: float, request: SampleRequest, progress: Progress | None
) -> dict[str, Any]:
    """The sample of a system's nodes (a cluster's primaries, and replicas with
    --replicas) as one row: each node sampled at once in a process of its own, the key
    budget shared, the surveys merged; `nodes` says what each node gave."""
    target = group.target
    row = target_row(target)
    try:
        row.update(redis_nodes_sample(group.nodes, timeout, request, progress))
    except ProbeError as error:
        mark_error(row, target, error)
    if group.skipped:
        row["replicas_skipped"] = group.skipped
    return row


def redis_nodes_sample(
    nodes: list[Target], timeout: float, request: SampleRequest, progress: Progress | None
) -> dict[str, Any]:
    import dataclasses

    from cachediag.keyspace.fleet import in_processes, merged_scan, share, summed_lookups
    from cachediag.keyspace.fleet import node_rows as fleet_rows

    if request.scan.cursor and len(nodes) > 1:
        raise UsageError(
            "--cursor resumes one server's scan; a cluster is sampled on every node at once "
            "(each node's cursor is in the JSON's nodes): drop --cursor"
        )
    # One node read (a Sentinel set's primary): its scan resumes from --cursor, as before.
    options = dataclasses.replace(
        request.scan, max_keys=share(request.scan.max_keys, len(nodes)), cursor=request.scan.cursor
    )
    node_request = dataclasses.replace(request, scan=options)
    outcomes = in_processes(_node_survey, [(n, timeout, node_request) for n in nodes], progress)
    node_rows, read = fleet_rows(nodes, outcomes, lambda _, result: result.inspected, _sample_error)
    merged = EnvelopeSurvey(request.affected, survey_for(request.entities, options.delimiter))
    for node, survey, _ in read:
        merged.merge(survey, node.address)
    results = [result for _, _, result in read]
    row = _sample_row(merged, results[0], request)
    scans = [result.to_dict() for result in results]
    scan = scans[0] if len(nodes) == 1 else merged_scan(scans)
    lookups = summed_lookups(results)
    down = [r for r in node_rows if r["status"] == "down"]
    errors = [r["error"] for r in node_rows if r["error"]]
    row.update(
        scan=scan,
        complete=scan["complete"] and not down,
        stop_reason=scan["stop_reason"] or ("server-error" if down else None),
        # A partial sample of a cluster has a cursor per node (in `nodes`), not one.
        resume_cursor=row["resume_cursor"] if len(nodes) == 1 else None,
        entries=sum(result.inspected for result in results),
        values_unreadable=next((r.head_reason for r in results if r.head_reason), None),
        lookups_added=lookups.to_dict(),
        error=errors[0] if errors else None,
        nodes=node_rows,
    )
    return row


def _node_survey(
    node: Target, timeout: float, request: SampleRequest, progress: Progress | None
) -> tuple[EnvelopeSurvey, ScanResult] | ProbeError:
    """One node's sample, in a process of its own: what it surveyed, or why it could not."""
    from cachediag.keyspace.fleet import sent_back

    return sent_back(lambda: _redis_survey(node, timeout, request, progress))


def _sample_error(result: ScanResult) -> dict[str, str] | None:
    if result.error:
        return result.stop_error()
    if result.head_reason:
        return {"kind": "error", "message": f"values could not be read: {result.head_reason}"}
    return None


def memcached_sample(
    target: Target, timeout: float, request: SampleRequest, progress: Progress | None
) -> dict[str, Any]:
    items: list[Item] = []
    client = MemcachedClient(target, timeout).connect()
    try:
        result = crawl(client, request.crawl, items.extend, progress)
    finally:
        client.close()
    survey = EnvelopeSurvey(request.affected, survey_for(request.entities, request.crawl.delimiter))
    wanted = [item for item in items if item.size <= MEMCACHED_FETCH_LIMIT]
    fetched = 0
    with MemcachedClient(target, timeout).connect() as getter:
        for start in range(0, len(wanted), MEMCACHED_GET_BATCH):
            chunk = wanted[start : start + MEMCACHED_GET_BATCH]
            found = getter.meta_get([item.key for item in chunk])
            values = {key: value for key, (value, _ttl, _flags) in found.items()}
            for item in chunk:
                value = values.get(item.key)
                if value is None:
                    continue  # expired or evicted since the crawl: skipped
                fetched += 1
                survey.add(
                    item.key, item.namespace, value[:VALUE_HEAD_BYTES], len(value), value=value
                )
    return {
        "mode": "sample",
        "pattern": safe_text(request.crawl.match) if request.crawl.match else None,
        "scan": result.to_dict(),
        "complete": result.complete,
        "stop_reason": result.stop_reason,
        "resume_cursor": None,
        "entries": fetched,
        "not_fetched": len(items) - len(wanted),
        # Each fetched value is a get: a miss for an item expired or evicted since the crawl.
        "lookups_added": Lookups(hits=fetched, misses=len(wanted) - fetched).to_dict(),
        **survey.to_dict(),
    }
