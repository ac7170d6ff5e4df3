"""Text a server sent, made fit for the facts where it is collected.

A server under diagnosis may be broken or hostile: its replies can hold terminal escapes
(an error reply `ERR \\x1b[2J...`, an OBJECT ENCODING, a Memcached setting) and can echo
the password it was sent. Every string the clients and probes take from a server goes
through `server_text` once, as it is read, so every output (tables, JSON, files) shows
the same escaped, masked text, and passwords of one or two characters, which the output
pass cannot mask without mangling numbers, are masked here (secrets.mask_server_text).
"""

from __future__ import annotations

from cachediag.safety.secrets import mask_server_text
from cachediag.safety.textsafe import safe_text


def server_text(value: str | bytes) -> str:
    """`value` terminal-safe, with the short passwords masked (the output pass masks the
    others, wherever they are)."""
    text = value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else value
    # Most server text is plain ASCII: nothing to escape, and the check runs in C.
    safe = text if text.isascii() and text.isprintable() else safe_text(text)
    return mask_server_text(safe)
