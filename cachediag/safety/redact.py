"""Secrets out of sample lines, then terminal-safe text.

Redacted: values of password=/passwd=/pwd=/token=/secret=/api_key=... (also `key: value`
and JSON `"key": "value"`), Authorization / Proxy-Authorization header values (the scheme
is kept: `Authorization: Bearer ***`), and the password in URLs (`redis://user:***@host`).
The result then goes through `safe_text`, so a log line can carry neither terminal
escapes nor rich markup to the screen (renderers build `Text` objects from it).
Whatever is printed or written afterwards, samples included, still goes through the one
output pass (safety/masking), which hides every password cachediag holds.
"""

from __future__ import annotations

import functools
import re

from cachediag.safety.textsafe import safe_text

MASK = "***"
MAX_SAMPLE_BYTES = 4096
MAX_SAMPLE_CHARS = 500

# One list of the names that mark a credential, shared with the affected-keys counter
# (keys.py), so a value hidden in a sample line is not shown again as a "key".
SECRET_NAMES = (
    r"pass(?:word|wd|phrase)?|pwd|pw|secret|token|api[_-]?key|access[_-]?key|"
    r"private[_-]?key|credentials?|auth(?!orization)|jwt|cookie|session[_-]?id|sid"
)

# userinfo of any URL, up to its @ (a password may hold '/', and over-masking is safe)
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://[^\s/:@]*:)([^\s@]+)(@)")
_AUTHORIZATION = re.compile(
    r"(?i)((?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?"
    r"(?:(?:bearer|basic|digest|token|negotiate|apikey|aws4-hmac-sha256)\s+)?)([^\s\"',;}]+)"
)
_COOKIE = re.compile(r"(?i)(\b(?:set-)?cookie[\"']?\s*[:=]\s*)([^\r\n]+)")
# Redis' own: AUTH [user] password, requirepass / masterauth in config dumps
# (AUTH in capitals only: "auth ok for user:5" is prose, not a command)
_REDIS_AUTH = re.compile(r"(\bAUTH(?:\s+\S+)?\s+|(?i:\b(?:requirepass|masterauth))\s+)(\S+)")
_KEY_VALUE = re.compile(
    r"(?i)([\w.-]*(?:" + SECRET_NAMES + r")[\w.-]*[\"']?\s*(?:=>|%3d|[=:])\s*)"
    r"(\"[^\"]*\"|'[^']*'|[^\s\"',;&}]+)"
)


def _mask_value(match: re.Match[str]) -> str:
    value = match.group(2)
    quote = value[0] if value[:1] in ("'", '"') else ""
    return match.group(1) + quote + MASK + quote


def redact(text: str) -> str:
    """The text with credentials replaced by ***."""
    text = _URL_PASSWORD.sub(lambda m: m.group(1) + MASK + m.group(3), text)
    text = _AUTHORIZATION.sub(lambda m: m.group(1) + MASK, text)
    text = _COOKIE.sub(lambda m: m.group(1) + MASK, text)
    text = _REDIS_AUTH.sub(lambda m: m.group(1) + MASK, text)
    return _KEY_VALUE.sub(_mask_value, text)


def sample_bytes(buf: bytes, start: int, end: int) -> bytes:
    """What a sample keeps of the line buf[start:end] until it is shown: enough bytes for
    `sample_text` to tell whether it was cut. Every range of a big log collects its own
    samples and only the first few survive the merge, so redaction and escaping (~150 µs
    a line) wait for those."""
    return buf[start : min(end, start + MAX_SAMPLE_BYTES + 1)]


def sample_text(line: bytes) -> str:
    """A raw log line as a redacted, escaped, length-limited sample."""
    raw = line[:MAX_SAMPLE_BYTES].rstrip(b"\r\n")
    text = raw.decode("utf-8", errors="surrogateescape")
    safe = safe_text(redact(text))
    if len(safe) > MAX_SAMPLE_CHARS or len(line) > MAX_SAMPLE_BYTES:
        safe = safe[:MAX_SAMPLE_CHARS] + "…"
    return safe


# -- the bundle pass: every file of a `gather` bundle, with what was hidden counted ---------
# (kinds, never values). Structured readings are scrubbed where their structure is known
# (CONFIG GET by parameter name, ACL rules, SLOWLOG arguments, CLIENT LIST cmd); this pass
# then runs over every file's text as well, so that a secret in an unexpected place (a log
# line, a process's command line, a server's reply) is caught by its shape or its value.

# A value: quoted whole, or up to whatever ends a word in JSON, a header or a query string.
_VALUE = r"(\"[^\"]*\"|'[^']*'|[^\s\"',;}]+)"
# Redis settings whose value is a credential: requirepass, masterauth, tls-*-pass,
# sentinel's auth-pass; `--name value` (a command line) and `name value` (a config file).
_REDIS_SECRET_SETTING = re.compile(
    r"(?i)(\b(?:requirepass|masterauth|tls-[a-z-]*pass|sentinel\s+auth-pass\s+\S+|auth-pass\s+\S+)"
    r"[\"']?[ \t]+)" + _VALUE
)
# AUTH [user] password, as _REDIS_AUTH, with a value that stops at JSON's quote and comma.
_REDIS_AUTH_VALUE = re.compile(r"(\bAUTH(?:[ \t]+[^\s\"',;}]+)?[ \t]+)" + _VALUE)
# An ACL rule line (ACL LIST, users.acl, ACL SETUSER): `>pw` / `<pw` set or remove a
# password, `#<sha256>` / `!<sha256>` a hash.
_ACL_LINE = re.compile(r"(?i)\b(?:user|setuser)\s+\S+\s")
_ACL_PASSWORD = re.compile(r"(?<!\S)([<>])(?!\*\*\*(?!\S))\S+")
_ACL_HASH = re.compile(r"(?<!\S)([#!])[0-9a-fA-F]{64}(?!\S)")

# (kind, pattern, the group holding the value); everything else of the match is kept.
_BUNDLE_PATTERNS: tuple[tuple[str, re.Pattern[str], int], ...] = (
    ("url_password", _URL_PASSWORD, 2),
    ("authorization", _AUTHORIZATION, 2),
    ("cookie", _COOKIE, 2),
    ("redis_setting", _REDIS_SECRET_SETTING, 2),
    ("redis_auth", _REDIS_AUTH_VALUE, 2),
    ("key_value", _KEY_VALUE, 2),
)


def secret_forms(secret: str) -> set[str]:
    """The ways a credential may be written down: as it is, and URL-encoded (%XX upper or
    lower case, `+` for a space)."""
    from urllib.parse import quote, quote_plus

    forms = {secret, quote(secret, safe=""), quote_plus(secret, safe=""), quote(secret)}
    forms |= {re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), f) for f in set(forms)}
    return {form for form in forms if form}


class Redactions:
    """What one file had hidden, by kind; counts only, never a value."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def add(self, kind: str, count: int = 1) -> None:
        if count:
            self.counts[kind] = self.counts.get(kind, 0) + count

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def _acl_line(line: str, tally: Redactions) -> str:
    if not _ACL_LINE.search(line):
        return line
    line, passwords = _ACL_PASSWORD.subn(lambda m: m.group(1) + MASK, line)
    line, hashes = _ACL_HASH.subn(lambda m: m.group(1) + MASK, line)
    tally.add("acl_password", passwords)
    tally.add("acl_hash", hashes)
    return line


def redact_acl_rules(text: str, tally: Redactions) -> str:
    """ACL rules (ACL LIST, a users.acl file) with `>password` and `#hash` rules masked."""
    return "".join(_acl_line(line, tally) for line in text.splitlines(keepends=True))


# How much of the pattern pass a file gets: "all" (logs, command lines, anything free-form),
# "server" (a server's structured reply: its credential fields were scrubbed by name, and
# `name=value` shapes would only mangle counters like cmdstat_auth:calls=3), "none" (JSON
# documents that were masked when collected).
PatternLevel = str


def redact_bundle_text(
    text: str, credentials: tuple[str, ...], tally: Redactions, patterns: PatternLevel = "all"
) -> str:
    """`text` with every credential cachediag was given (in each form) and, with `patterns`,
    every credential-shaped value hidden; what was hidden is counted in `tally`.

    `patterns="none"` is for the JSON documents (facts, check results): they were masked
    when collected, and the shapes could match key names (`token:42`) whose change would
    make `check --from` judge other facts than the live check did.
    """
    for form in sorted({f for c in credentials for f in secret_forms(c)}, key=len, reverse=True):
        count = text.count(form)
        if count:
            text = text.replace(form, MASK)
            tally.add("credential", count)
    if patterns == "none":
        return text
    if "user" in text.lower():
        text = redact_acl_rules(text, tally)
    for kind, pattern, group in _BUNDLE_PATTERNS:
        if kind == "key_value" and patterns == "server":
            continue
        text = pattern.sub(
            functools.partial(_masked_group, group=group, kind=kind, tally=tally), text
        )
    return text


# Values that hide nothing: the mask itself, and the SLOWLOG placeholders (probes/stalls).
_ALREADY_HIDDEN = frozenset({MASK, "<arg>", "<key>"})


def _masked_group(match: re.Match[str], group: int, kind: str, tally: Redactions) -> str:
    """The match with its value group masked (quotes kept); counted unless already masked."""
    value = match.group(group)
    quote = value[0] if len(value) > 1 and value[:1] in ("'", '"') and value[-1] == value[0] else ""
    if value.strip("'\"") in _ALREADY_HIDDEN:
        return match.group(0)
    tally.add(kind)
    start, end = match.start(group) - match.start(), match.end(group) - match.start()
    whole = match.group(0)
    return whole[:start] + quote + MASK + quote + whole[end:]
