"""Every --json document and JSON line as text: valid JSON, and safe on a terminal.

json.dumps leaves two holes. With ensure_ascii=False it prints C1 controls, DEL, line
and paragraph separators and bidi overrides raw (a key name or a server's reply
holding ESC-like C1 codes or U+202E reaches the terminal reading the JSON); and it
writes NaN and Infinity, which no JSON parser accepts. Here every such character is
written as a \\uXXXX escape (valid JSON: they can only stand inside strings), and a
non-finite number becomes null (the rule that reads it reports an error, saying what
the server sent).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

# Characters json.dumps leaves raw that a terminal acts on or that hide text: DEL and
# the C1 controls, lone surrogates (undecodable bytes kept by surrogateescape), the
# line/paragraph separators and Unicode's invisible format characters (category Cf).
_UNSAFE = re.compile(
    "[\x7f-\x9f\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e"
    "\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb"
    "\ud800-\udfff\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3"
    "\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f]"
)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code > 0xFFFF:  # as JSON writes it: a surrogate pair
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
    return f"\\u{code:04x}"


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def to_json(document: Any, *, indent: int | None = 2, sort_keys: bool = False) -> str:
    """`document` as JSON text (no trailing newline), terminal-safe and parseable."""
    try:
        text = json.dumps(
            document,
            indent=indent,
            ensure_ascii=False,
            allow_nan=False,
            default=str,
            sort_keys=sort_keys,
        )
    except ValueError:  # a NaN or an infinity somewhere: walk the document once more
        text = json.dumps(
            _finite(document),
            indent=indent,
            ensure_ascii=False,
            allow_nan=False,
            default=str,
            sort_keys=sort_keys,
        )
    return _UNSAFE.sub(_escape, text)
