"""The secrets cachediag holds, and the one function that hides them in any text."""

from __future__ import annotations

import re

# The user-info part of a URL: everything between :// and the last @ of the authority.
_URL_USERINFO = re.compile(r"://([^/?#\s]*)@")


_SECRETS: set[str] = set()


def _mask_userinfo(match: re.Match[str]) -> str:
    user, sep, _ = match.group(1).partition(":")
    # redis://secret@host is a password alone (redis-cli's form): nothing of it is shown.
    return f"://{user}:***@" if sep else "://***@"


def remember_secret(secret: str | None) -> None:
    """Record a password so that `mask_secrets` hides it wherever it turns up."""
    if secret and len(secret) >= 3:  # masking a 1-2 character string would mangle text
        _SECRETS.add(secret)


def held_secrets() -> tuple[str, ...]:
    """Every password recorded so far (a bundle proves none of them is in it)."""
    return tuple(sorted(_SECRETS))


def mask_secrets(text: str) -> str:
    """Hide URL passwords, and any password we were given, wherever they appear in `text`.

    Servers echo what they were sent (an AUTH renamed away answers "unknown command
    'auth', with args beginning with: '<password>'"), so masking URL syntax alone is
    not enough: every secret we hold is replaced too.
    """
    text = _URL_USERINFO.sub(_mask_userinfo, text)
    for secret in sorted(_SECRETS, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text
