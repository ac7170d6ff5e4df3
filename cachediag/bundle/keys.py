"""`--redact-keys`: every key name in every file replaced by its namespace and a short
stable hash (`user:<h:3f2a9c>`), for users who may not share key names.

The keys are those the facts name (the key samples, the keys the logs named) and any
`<prefix>:<id>` a log line names; the same key gets the same hash in every file, so
a maintainer can still follow one key from the sample to the logs.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import Any

_BOUNDARY = r"A-Za-z0-9_:./@-"


def hashed(key: str) -> str:
    digest = hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:6]
    prefix, sep, _ = key.partition(":")
    return f"{prefix}:<h:{digest}>" if sep and prefix else f"<h:{digest}>"


def _facts_keys(value: Any, out: set[str]) -> None:
    if isinstance(value, dict):
        for name, item in value.items():
            if name == "key" and isinstance(item, str):
                out.add(item)
            else:
                _facts_keys(item, out)
    elif isinstance(value, list):
        for item in value:
            _facts_keys(item, out)


class KeyRedactor:
    def __init__(self) -> None:
        self.keys: set[str] = set()
        self.replaced = 0  # names replaced so far, over every text and document
        self._pattern: re.Pattern[str] | None = None

    def learn_facts(self, facts: Any) -> None:
        _facts_keys(facts, self.keys)
        self._pattern = None

    def learn_text(self, texts: Iterable[str]) -> None:
        from cachediag.logscan.keys import extract_keys

        for text in texts:
            for line in text.splitlines():
                for key in extract_keys(line.encode("utf-8", "surrogateescape")):
                    if not key.endswith(b":***"):
                        self.keys.add(key.decode("utf-8", "surrogateescape"))
        self._pattern = None

    def _compiled(self) -> re.Pattern[str] | None:
        if self._pattern is None and self.keys:
            names = sorted((k for k in self.keys if k), key=len, reverse=True)
            alternatives = "|".join(re.escape(k) for k in names)
            self._pattern = re.compile(f"(?<![{_BOUNDARY}])(?:{alternatives})(?![{_BOUNDARY}])")
        return self._pattern

    def text(self, text: str) -> tuple[str, int]:
        pattern = self._compiled()
        if pattern is None:
            return text, 0
        text, count = pattern.subn(lambda m: hashed(m.group(0)), text)
        self.replaced += count
        return text, count

    def walk(self, value: Any) -> Any:
        """A JSON document with every key name in its strings replaced (structure kept)."""
        if isinstance(value, str):
            return self.text(value)[0]
        if isinstance(value, dict):
            return {
                self.walk(k) if isinstance(k, str) else k: self.walk(v) for k, v in value.items()
            }
        if isinstance(value, list):
            return [self.walk(v) for v in value]
        return value
