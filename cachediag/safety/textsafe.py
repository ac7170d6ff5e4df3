"""Untrusted text (key names, log lines, server replies) made safe to show.

Key names and log lines are data. Shown raw they could move the cursor, change the
terminal title or, through rich, be read as markup. Everything user-facing goes
through `safe_text` before it reaches a renderer, and renderers build rich `Text`
objects (never markup strings) from it.
"""

from __future__ import annotations

import unicodedata

_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_char(ch: str) -> str:
    if ch in _ESCAPES:
        return _ESCAPES[ch]
    code = ord(ch)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _is_unsafe(ch: str) -> bool:
    # Cc: C0/C1 controls incl. ESC and DEL; Cf: bidi overrides and other invisible
    # formatting that can make a name look like another; Zl/Zp: line separators.
    return unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Cs")


def safe_text(value: str | bytes) -> str:
    """Printable, unambiguous form of `value`: controls and invalid bytes escaped.

    Bytes are decoded as UTF-8; bytes that are not UTF-8 become \\xNN. Backslashes are
    left alone so that escaping twice (facts are escaped when collected, renderers
    escape whatever they print) changes nothing: safe_text(safe_text(x)) == safe_text(x).
    """
    text = value.decode("utf-8", errors="surrogateescape") if isinstance(value, bytes) else value
    out: list[str] = []
    for ch in text:
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte kept by surrogateescape
            out.append(f"\\x{code - 0xDC00:02x}")
        elif _is_unsafe(ch):
            out.append(_escape_char(ch))
        else:
            out.append(ch)
    return "".join(out)


# A key name is data of any length (Redis allows 512 MB): past this many bytes it is
# shown shortened, with its length, in the facts and every output, and the JSON rows
# that carry it say so (key_fields). Its namespace is judged on its start as well
# (scan/redis.NAMESPACE_KEY_BYTES).
KEY_TEXT_BYTES = 256


def key_text(key: str | bytes) -> str:
    """`safe_text(key)`, or for a key past KEY_TEXT_BYTES its start and its length:
    'user:xxxx… (1,048,581 bytes)'."""
    if len(key) <= KEY_TEXT_BYTES:
        return safe_text(key)
    size = len(key.encode("utf-8", "surrogateescape")) if isinstance(key, str) else len(key)
    return f"{safe_text(key[:KEY_TEXT_BYTES])}… ({size:,} bytes)"


def key_fields(key: str | bytes) -> dict[str, object]:
    """{"key": key_text(key)}, and for a shortened one its whole length and a flag."""
    if len(key) <= KEY_TEXT_BYTES:
        return {"key": safe_text(key)}
    size = len(key.encode("utf-8", "surrogateescape")) if isinstance(key, str) else len(key)
    return {"key": key_text(key), "key_bytes": size, "key_truncated": True}
