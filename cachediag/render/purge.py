"""Text for `cachediag purge`: per target what matched, what was deleted, and how gently.

Plain lines (no table): an on-call engineer pastes them into the incident channel.
Key names and namespaces are already terminal-safe (purge/report escapes them).
"""

from __future__ import annotations

from typing import Any

from cachediag.render.units import human_bytes
from cachediag.safety.textsafe import safe_text

_METHODS = {
    "sampled": "estimated: MEMORY USAGE of {n} sampled keys, extrapolated to the count",
    "measured": "MEMORY USAGE of each matched key",
    "crawler": "item sizes from the crawler",
}


def _n(value: int) -> str:
    return f"{value:,}"


def _bytes_line(bytes_: dict[str, Any], verb: str) -> str | None:
    if bytes_.get("estimated") is None:
        return None
    how = _METHODS.get(bytes_["method"], bytes_["method"]).format(n=_n(bytes_["measured_keys"]))
    return f"  {verb} ~{human_bytes(bytes_['estimated'])} ({how})"


def _purge_lines(row: dict[str, Any]) -> list[str]:
    p = row["purge"]
    lines = []
    named = f"; {_n(p['not_found'])} named keys not found" if p["not_found"] else ""
    dupes = f", {_n(p['duplicates'])} returned twice and counted once" if p["duplicates"] else ""
    if p["mode"] == "dry-run":
        lines.append(
            f"  dry run: {_n(p['matched'])} keys match ({_n(p['scanned'])} scanned{dupes})"
            f"{named}; nothing was deleted"
        )
        line = _bytes_line(p["bytes"], "memory")
    else:
        unconfirmed = p["matched"] - p["deleted"] - p["already_gone"] - p["changed"] - p["failed"]
        lines.append(
            f"  deleted {_n(p['deleted'])} of {_n(p['matched'])} matched · already gone "
            f"{_n(p['already_gone'])} · changed and skipped {_n(p['changed'])} · errors "
            f"{_n(p['failed'])}{named}"
            + (f" · {_n(unconfirmed)} sent, not confirmed" if unconfirmed > 0 else "")
        )
        if dupes:
            lines.append(f"  {_n(p['scanned'])} scanned{dupes}")
        line = _bytes_line(p["bytes"], "freed")
    if line:
        lines.append(line)
    if p["namespaces"]:
        lines.append("  namespaces:")
        width = max(len(n["namespace"]) for n in p["namespaces"])
        lines.extend(f"    {n['namespace']:<{width}}  {_n(n['keys']):>9}" for n in p["namespaces"])
        more = p["namespace_count"] - len(p["namespaces"])
        if more > 0:
            lines.append(f"    … and {_n(more)} more")
    if p["samples"]:
        lines.append("  e.g. " + ", ".join(p["samples"]))
    timing = f"  {p['elapsed_s']:.2f} s"
    if p["keys_per_s"]:
        timing += f", {_n(p['keys_per_s'])} keys scanned/s"
    if p["mode"] == "delete" or p["paused_s"]:
        timing += (
            f"; paused {p['paused_s']:.2f} s for latency ({_n(p['pauses'])} pauses over "
            f"--max-latency); slowest write {p['worst_round_trip_ms']:.1f} ms"
        )
    if p["rate_wait_s"]:
        timing += f"; {p['rate_wait_s']:.2f} s waiting for --rate"
    lines.append(timing)
    if p["backup"]:
        lines.append(
            f"  backup: {safe_text(p['backup']['file'])} ({_n(p['backup']['records'])} keys)"
        )
    rb = p["read_back"]
    if rb["still_present"]:
        lines.append(
            f"  read back: {_n(rb['still_present'])} of {_n(rb['checked'])} deleted keys are "
            "there again (written back by the application since)"
        )
    for error in p["errors"]:
        lines.append(f"  error: {safe_text(error)}")
    if p.get("redirected"):
        lines.append(
            f"  {_n(p['redirected'])} keys were in slots that moved mid-purge: sent to their "
            "new owner"
        )
    if p.get("unfinished_slots"):
        slots = ", ".join(str(slot) for slot in p["unfinished_slots"][:20])
        more = len(p["unfinished_slots"]) - 20
        lines.append(
            f"  not finished: slot{'s' if len(p['unfinished_slots']) > 1 else ''} {slots}"
            + (f" and {more} more" if more > 0 else "")
            + " moved mid-purge; run the purge again to finish them"
        )
    if not p["complete"] and not row.get("nodes"):
        where = f"cursor {p['cursor']}"
        if len(row.get("patterns") or []) > 1:
            where += f" of pattern {p['pattern_index'] + 1}"
        resume = " --resume" + (
            f" (checkpoint {safe_text(p['checkpoint'])})" if p["checkpoint"] else ""
        )
        lines.append(f"  stopped ({p['stop_reason']}) at {where}; continue with{resume}")
    return lines


def _restore_lines(row: dict[str, Any]) -> list[str]:
    r = row["restore"]
    verb = "would restore" if r["mode"] == "dry-run" else "restored"
    count = (
        r["records"] - r["already_present"] - r["expired"]
        if r["mode"] == "dry-run"
        else r["restored"]
    )
    lines = [
        f"  {verb} {_n(count)} of {_n(r['records'])} keys · already present "
        f"{_n(r['already_present'])} · expired since the backup {_n(r['expired'])} · failed "
        f"{_n(r['failed'])}"
    ]
    lines += [f"  error: {safe_text(e)}" for e in r["errors"]]
    return lines


def _node_lines(row: dict[str, Any]) -> list[str]:
    """A system's nodes, one line each: where the keys were, and what each node did."""
    lines = [f"  {len(row['nodes'])} primaries, all at once:"]
    for node in row["nodes"]:
        p = node.get("purge")
        if node["status"] != "up" or p is None:
            message = (node.get("error") or {}).get("message", "")
            lines.append(f"    {safe_text(node['target'])}  {node['status']}: {safe_text(message)}")
            continue
        done = (
            f"{_n(p['matched'])} match"
            if p["mode"] == "dry-run"
            else f"deleted {_n(p['deleted'])} of {_n(p['matched'])}"
        )
        if p["failed"]:
            done += f", errors {_n(p['failed'])}"
        if not p["complete"]:
            resume = f" (checkpoint {safe_text(p['checkpoint'])})" if p["checkpoint"] else ""
            done += f"; stopped ({p['stop_reason']}) at cursor {p['cursor']}: --resume{resume}"
        lines.append(f"    {safe_text(node['target'])}  {done}")
    if row.get("replicas_skipped"):
        lines.append(
            f"  {_n(row['replicas_skipped'])} replicas left alone: they follow their primaries"
        )
    return lines


def render(rows: list[dict[str, Any]], hint: str = "") -> str:
    out: list[str] = []
    for row in rows:
        head = f"{row['kind']:<9} {safe_text(row['target'])}"
        if row.get("version"):
            head += f"  {row['kind'].capitalize()} {safe_text(row['version'])}"
        out.append(head)
        if row["status"] != "up" and not row.get("purge") and not row.get("restore"):
            error = row.get("error") or {}
            out.append(f"  {row['status']}: {safe_text(error.get('message', ''))}")
            continue
        out.extend(_restore_lines(row) if row.get("restore") else _purge_lines(row))
        if row.get("error"):
            out.append(f"  error: {safe_text(row['error'].get('message', ''))}")
        if row.get("nodes"):
            out.extend(_node_lines(row))
    if hint:
        out.append(hint)
    return "\n".join(out) + "\n"
