"""The secrets cachediag holds, and the one function that hides them in any text."""

from __future__ import annotations

import re

# The user-info part of a URL: everything between :// and the last @ of the authority.
_URL_USERINFO = re.compile(r"://([^/?#\s]*)@")


_SECRETS: set[str] = set()
# Passwords of one or two characters: masked only in text a server sent, and only where
# they stand alone (mask_server_text); blindly replaced everywhere, a password "1" would
# turn every 1 of a report, JSON numbers included, into ***.
_SHORT: set[str] = set()
# What a short password must not be part of to count as standing alone: a word, a
# number, a version ("7.0.15": a password "15" is not in it; "7.0.15-ab" holds "ab").
_TOKEN = "A-Za-z0-9._"


def _mask_userinfo(match: re.Match[str]) -> str:
    user, sep, _ = match.group(1).partition(":")
    # redis://secret@host is a password alone (redis-cli's form): nothing of it is shown.
    return f"://{user}:***@" if sep else "://***@"


def remember_secret(secret: str | None) -> None:
    """Record a password so that `mask_secrets` hides it wherever it turns up."""
    if secret and len(secret) >= 3:
        _SECRETS.add(secret)
    elif secret:  # masking a 1-2 character string everywhere would mangle text
        _SHORT.add(secret)


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


def mask_server_text(text: str) -> str:
    """The short passwords, where they stand alone, in a string a server sent (a version,
    an error echoing its arguments, a setting): masked where the probes collect it, so
    that no pass over the whole output has to guess. Longer ones are left to the output
    pass (`mask_secrets`, masking.py), which hides them everywhere."""
    if not _SHORT:
        return text
    for secret in sorted(_SHORT, key=len, reverse=True):
        if secret in text:
            alone = rf"(?<![{_TOKEN}]){re.escape(secret)}(?![{_TOKEN}])"
            text = re.sub(alone, "***", text)
    return text
