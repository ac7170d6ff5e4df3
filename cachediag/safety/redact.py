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
