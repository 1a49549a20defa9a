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

import functools
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MASK = "[redacted]"
MIN_TOKEN_CHARS = 8  # a shorter "token" would mask ordinary words

_SENSITIVE_KEY = re.compile(
    r"(?:^|_)(?:api_?key|access_?key|secret_?key|private_?key|client_secret|token|secret|"
    r"password|passwd|passphrase|authorization|auth|cookie|set_cookie|credentials?)$"
)


@dataclass(frozen=True)
class KeyShape:
    """A secret's shape, and the literals (lower case) at least one of which any match contains:
    checking those with `in` is ~10x cheaper than a regex pass, and most text has none."""

    pattern: re.Pattern[str]
    replacement: str
    markers: tuple[str, ...]


_KEY_SHAPES: list[KeyShape] = [
    KeyShape(
        re.compile(r"\bBearer\s+[A-Za-z0-9._~+/=-]{8,}", re.IGNORECASE),
        f"Bearer {MASK}",
        ("bearer",),
    ),
    # OpenAI, Anthropic (sk-ant-...)
    KeyShape(re.compile(r"(?<![A-Za-z0-9])sk-[A-Za-z0-9_-]{16,}"), MASK, ("sk-",)),
    KeyShape(
        re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}"), MASK, ("ghp_", "gho_", "ghu_", "ghs_", "ghr_")
    ),
    KeyShape(re.compile(r"\bgithub_pat_[A-Za-z0-9_]{22,}"), MASK, ("github_pat_",)),
    KeyShape(re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"), MASK, ("xox",)),
    KeyShape(re.compile(r"\bAKIA[0-9A-Z]{16}\b"), MASK, ("akia",)),
    KeyShape(re.compile(r"\bAIza[0-9A-Za-z_-]{35}"), MASK, ("aiza",)),
    KeyShape(
        re.compile(r"\b(?:hf|gsk|xai|pplx|r8)_[A-Za-z0-9]{20,}"),
        MASK,
        ("hf_", "gsk_", "xai_", "pplx_", "r8_"),
    ),
    KeyShape(
        re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
        MASK,
        ("eyj",),
    ),
    # `api_key=...`, `"password": "..."`, `?token=...` inside free text.
    KeyShape(
        re.compile(
            r"(?i)\b((?:x-)?api[_-]?key|access[_-]?token|token|password|passwd|secret|"
            r"client[_-]secret)(\"?'?\s*[:=]\s*)(?!\[redacted\])"
            r"(\"[^\"]*\"|'[^']*'|[^\s\"'&,;}]{4,})"
        ),
        rf"\1\2{MASK}",
        ("key", "token", "passw", "secret"),
    ),
]
_ANY_MARKER = re.compile("|".join(re.escape(m) for shape in _KEY_SHAPES for m in shape.markers))


def is_sensitive_key(key: object) -> bool:
    return isinstance(key, str) and _is_sensitive_name(key)


@functools.lru_cache(maxsize=4096)  # log events reuse a few dozen keys
def _is_sensitive_name(key: str) -> bool:
    return bool(_SENSITIVE_KEY.search(key.lower().replace("-", "_")))


def redact_text(text: str, exact: str | None = None) -> str:
    """Mask key-shaped substrings and every occurrence of `exact` (the LocalGPT token)."""
    if _maskable(exact) and exact in text:
        text = text.replace(exact, MASK)
    # casefold() maps what IGNORECASE matches too (the Kelvin sign to k, the long s to s).
    folded = text.casefold()
    if not _ANY_MARKER.search(folded):
        return text
    for shape in _KEY_SHAPES:
        if any(marker in folded for marker in shape.markers):
            text = shape.pattern.sub(shape.replacement, text)
    return text


def could_hold_secret(text: str, exact: str | None = None) -> bool:
    """False only when `redact_text(text, exact)` would return `text` as it is: no key marker
    and no `exact` in it. Cheaper than `redact_text`, so many strings can be cleared at once."""
    if _maskable(exact) and exact in text:
        return True
    return _ANY_MARKER.search(text.casefold()) is not None


def _maskable(exact: str | None) -> bool:
    return bool(exact) and len(exact) >= MIN_TOKEN_CHARS


def redact_value(value: Any, exact: str | None = None) -> Any:
    """A copy of `value` with secrets masked, walking dicts, lists and tuples."""
    if isinstance(value, str):
        return redact_text(value, exact)
    if isinstance(value, dict):
        return {
            k: mask_value(v) if is_sensitive_key(k) else redact_value(v, exact)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [redact_value(v, exact) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    # Anything else would be rendered through str()/repr() later: render it here, masked.
    return redact_text(str(value), exact)


def mask_value(value: Any) -> Any:
    """Keep "no value" visible (None, False, empty): it tells a reader the key was missing."""
    return value if value is None or isinstance(value, bool) or value == "" else MASK


class TokenFile:
    """The current content of the token file, re-read only when the file changes.

    Once there is a token, the file is looked at no more than once a second (a `stat` a log
    line was a fifth of a line's cost); until then, on every call, so a token created after
    logging began is masked from its first use. A token replaced while a process runs (LocalGPT
    never replaces one; a user could) is masked by that process within the second."""

    def __init__(self, path: Path | None, recheck_seconds: float = 1.0) -> None:
        self.path, self.recheck_seconds = path, recheck_seconds
        self._signature: tuple[int, int, int] | None = None
        self._value: str | None = None
        self._next_check = 0.0

    def value(self) -> str | None:
        if self.path is None:
            return None
        now = time.monotonic()
        if self._value is not None and now < self._next_check:
            return self._value
        self._next_check = now + self.recheck_seconds
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
