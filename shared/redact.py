"""Masking secrets in log events, so no API key or token ever reaches a log line.

Three nets, because a secret can arrive by name, by shape or by value:
- by name: the value of any key that names a credential (`api_key`, `token`, `Authorization`...);
- by shape: strings that look like well-known API keys (`sk-...`, `sk-ant-...`, `Bearer ...`,
  GitHub/Slack/AWS/Google/Hugging Face keys, JWTs) or like `password=...` inside a message;
- by value: the exact LocalGPT API token, re-read from its file whenever the file changes (the API
  creates it after logging is configured).
Counts such as `max_tokens` or `prompt_tokens` are not credentials and stay visible.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

MASK = "[redacted]"
MIN_TOKEN_CHARS = 8  # a shorter "token" would mask ordinary words

_SENSITIVE_KEY = re.compile(
    r"(?:^|_)(?:api_?key|access_?key|secret_?key|private_?key|client_secret|token|secret|"
    r"password|passwd|passphrase|authorization|auth|cookie|set_cookie|credentials?)$"
)
_KEY_SHAPES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\bBearer\s+[A-Za-z0-9._~+/=-]{8,}", re.IGNORECASE), f"Bearer {MASK}"),
    (re.compile(r"(?<![A-Za-z0-9])sk-[A-Za-z0-9_-]{16,}"), MASK),  # OpenAI, Anthropic sk-ant-
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}"), MASK),
    (re.compile(r"\bgithub_pat_[A-Za-z0-9_]{22,}"), MASK),
    (re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"), MASK),
    (re.compile(r"\bAKIA[0-9A-Z]{16}\b"), MASK),
    (re.compile(r"\bAIza[0-9A-Za-z_-]{35}"), MASK),
    (re.compile(r"\b(?:hf|gsk|xai|pplx|r8)_[A-Za-z0-9]{20,}"), MASK),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), MASK),
    # `api_key=...`, `"password": "..."`, `?token=...` inside free text.
    (
        re.compile(
            r"(?i)\b((?:x-)?api[_-]?key|access[_-]?token|token|password|passwd|secret|"
            r"client[_-]secret)(\"?'?\s*[:=]\s*)(?!\[redacted\])"
            r"(\"[^\"]*\"|'[^']*'|[^\s\"'&,;}]{4,})"
        ),
        rf"\1\2{MASK}",
    ),
]


def _any_of(shapes: list[tuple[re.Pattern[str], str]]) -> re.Pattern[str]:
    """One pattern matching wherever any shape matches: most text has no secret, and one pass
    over it is much cheaper than one pass per shape."""
    parts = []
    for pattern, _ in shapes:
        source = pattern.pattern
        if source.startswith("(?i)"):
            source = f"(?i:{source[4:]})"
        elif pattern.flags & re.IGNORECASE:
            source = f"(?i:{source})"
        parts.append(f"(?:{source})")
    return re.compile("|".join(parts))


_ANY_SHAPE = _any_of(_KEY_SHAPES)


def is_sensitive_key(key: object) -> bool:
    return isinstance(key, str) and bool(_SENSITIVE_KEY.search(key.lower().replace("-", "_")))


def redact_text(text: str, exact: str | None = None) -> str:
    """Mask key-shaped substrings and every occurrence of `exact` (the LocalGPT token)."""
    if exact and len(exact) >= MIN_TOKEN_CHARS and exact in text:
        text = text.replace(exact, MASK)
    if not _ANY_SHAPE.search(text):
        return text
    for pattern, replacement in _KEY_SHAPES:
        text = pattern.sub(replacement, text)
    return text


def redact_value(value: Any, exact: str | None = None) -> Any:
    """A copy of `value` with secrets masked, walking dicts, lists and tuples."""
    if isinstance(value, str):
        return redact_text(value, exact)
    if isinstance(value, dict):
        return {
            k: _mask(v) if is_sensitive_key(k) else redact_value(v, exact) for k, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [redact_value(v, exact) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    # Anything else would be rendered through str()/repr() later: render it here, masked.
    return redact_text(str(value), exact)


def _mask(value: Any) -> Any:
    """Keep "no value" visible (None, False, empty): it tells a reader the key was missing."""
    return value if value is None or isinstance(value, bool) or value == "" else MASK


class TokenFile:
    """The current content of the token file, re-read only when the file changes."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._signature: tuple[int, int, int] | None = None
        self._value: str | None = None

    def value(self) -> str | None:
        if self.path is None:
            return None
        try:
            st = os.stat(self.path)
        except OSError:
            self._signature, self._value = None, None
            return None
        signature = (st.st_ino, st.st_mtime_ns, st.st_size)
        if signature != self._signature:
            try:
                self._value = self.path.read_text(encoding="utf-8").strip() or None
            except (OSError, UnicodeDecodeError):
                self._value = None
            self._signature = signature
        return self._value


def redaction_processor(token_file: Path | None) -> Callable[[Any, str, dict], dict]:
    """A structlog processor masking secrets in the whole event (message, fields, traceback)."""
    token = TokenFile(token_file)

    def redact(_: object, __: str, event: dict) -> dict:
        return redact_value(event, token.value())

    return redact
