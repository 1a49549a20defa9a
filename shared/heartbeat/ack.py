"""Is the model's heartbeat reply news? OpenClaw's `HEARTBEAT_OK` stripping and 300-char rule.

A reply that is the token (at its start or end, possibly wrapped in light markup) with at most
`ack_max_chars` left over is an acknowledgement and is never reported; `NO_REPLY` alone means
"say nothing"; anything else is an alert. Ported from OpenClaw's `stripHeartbeatToken`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

HEARTBEAT_TOKEN = "HEARTBEAT_OK"
SILENT_TOKEN = "NO_REPLY"
DEFAULT_ACK_MAX_CHARS = 300

# The token at the end, with up to 4 trailing non-word characters ("HEARTBEAT_OK.", "...!!!").
_TOKEN_AT_END = re.compile(re.escape(HEARTBEAT_TOKEN) + r"[^\w]{0,4}$", re.ASCII)  # JS \w
_SILENT = re.compile(r"^\s*" + re.escape(SILENT_TOKEN) + r"\s*$", re.IGNORECASE)

ReplyKind = Literal["ok-empty", "ok-token", "silent", "alert"]


@dataclass(frozen=True)
class Stripped:
    text: str
    did_strip: bool


@dataclass(frozen=True)
class ReplyVerdict:
    """`alert` carries the text to report; the other kinds are dropped."""

    kind: ReplyKind
    text: str

    @property
    def is_alert(self) -> bool:
        return self.kind == "alert"


def strip_markup(text: str) -> str:
    """Drop HTML tags and `&nbsp;`, and markdown wrappers (`*`, backtick, `~`, `_`) at the edges,
    so `**HEARTBEAT_OK**` and `<b>HEARTBEAT_OK</b>` still count."""
    text = re.sub(r"<[^>]*>", " ", text)
    text = re.sub(r"&nbsp;", " ", text, flags=re.IGNORECASE)
    text = re.sub(r"^[*`~_]+", "", text)
    return re.sub(r"[*`~_]+$", "", text)


def strip_token_at_edges(raw: str) -> Stripped:
    """Repeatedly remove the token at the start or end; one in the middle is left alone."""
    text = raw.strip()
    if HEARTBEAT_TOKEN not in text:
        return Stripped(text, False)
    did_strip = False
    while True:
        current = text.strip()
        if current.startswith(HEARTBEAT_TOKEN):
            text = current[len(HEARTBEAT_TOKEN) :].lstrip()
        elif _TOKEN_AT_END.search(current):
            index = current.rfind(HEARTBEAT_TOKEN)
            before = current[:index].rstrip()
            after = current[index + len(HEARTBEAT_TOKEN) :].lstrip()
            text = f"{before}{after}".rstrip() if before else ""
        else:
            break
        did_strip = True
    return Stripped(re.sub(r"\s+", " ", text).strip(), did_strip)


def strip_heartbeat_token(raw: str | None) -> Stripped:
    """The reply with the token removed, trying the text as written, then with markup removed."""
    trimmed = (raw or "").strip()
    normalized = strip_markup(trimmed)
    if HEARTBEAT_TOKEN not in trimmed and HEARTBEAT_TOKEN not in normalized:
        return Stripped(trimmed, False)
    original = strip_token_at_edges(trimmed)
    if original.did_strip and original.text:
        return original
    markup_free = strip_token_at_edges(normalized)
    return markup_free if markup_free.did_strip else Stripped(trimmed, False)


def classify_reply(raw: str | None, ack_max_chars: int = DEFAULT_ACK_MAX_CHARS) -> ReplyVerdict:
    """ok-empty (nothing said), silent (`NO_REPLY`), ok-token (an ack with at most
    `ack_max_chars` characters left), or alert (the text to report)."""
    trimmed = (raw or "").strip()
    if not trimmed:
        return ReplyVerdict("ok-empty", "")
    if _SILENT.match(trimmed):
        return ReplyVerdict("silent", "")
    stripped = strip_heartbeat_token(trimmed)
    if not stripped.did_strip:
        return ReplyVerdict("alert", trimmed)
    if len(stripped.text) <= ack_max_chars:
        return ReplyVerdict("ok-token", "")
    return ReplyVerdict("alert", stripped.text)
