"""Who wrote a line of the workspace: the user, or the assistant (provenance markers).

Text the assistant writes into a note (a daily-log entry, a MEMORY.md edit, a heartbeat alert
when that is switched on) is wrapped in HTML comments, which stay plain markdown: OpenClaw, an
editor and any renderer show the text and hide the markers.

    <!-- localgpt:assistant at=2026-12-02T10:24:56+00:00 session=chat-1 -->
    ### 10:24:56 UTC

    Booked the dentist for Friday.
    <!-- /localgpt:assistant -->

A line edited inside a user's line (a partial replacement) ends with `<!-- localgpt:assistant -->`
instead. A block marker must be alone on its line; an opening marker never closed marks the rest
of the file (over-marking only demotes). Any marker-like text inside what the assistant writes
is removed first, so the assistant cannot close its own block and pass text off as the user's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Provenance = Literal["user", "assistant", "mixed"]
USER: Provenance = "user"
ASSISTANT: Provenance = "assistant"
MIXED: Provenance = "mixed"

INLINE_MARKER = "<!-- localgpt:assistant -->"
CLOSE_MARKER = "<!-- /localgpt:assistant -->"
_OPEN_LINE = re.compile(r"^\s*<!--\s*localgpt:assistant\b[^>]*-->\s*$")
_CLOSE_LINE = re.compile(r"^\s*<!--\s*/\s*localgpt:assistant\s*-->\s*$")
_INLINE = re.compile(r"[ \t]*<!--\s*localgpt:assistant\s*-->[ \t]*$")
# Anything that looks like a marker (opening, closing, inline, with attributes or not).
_ANY_MARKER = re.compile(r"<!--\s*/?\s*localgpt:assistant\b.*?-->", re.IGNORECASE | re.DOTALL)
_ATTR_VALUE = re.compile(r"[^\w.:+\-]")
_HEADING = re.compile(r"^ {0,3}#{1,6}(?:[ \t]|$)")

# How far a search result's score is scaled by who wrote it: the user's own words first.
RANK_WEIGHT: dict[str, float] = {USER: 1.0, MIXED: 0.75, ASSISTANT: 0.5}


@dataclass(frozen=True)
class MarkedLines:
    """A note's lines with the markers taken out (same line count) and who wrote each line."""

    lines: list[str]
    by_assistant: list[bool]


def open_marker(at: str, session: str = "") -> str:
    """The opening comment; `at` (ISO time) and `session` are kept to plain characters."""
    attrs = f"at={_ATTR_VALUE.sub('', at)}"
    if session:
        attrs += f" session={_ATTR_VALUE.sub('', session)[:80]}"
    return f"<!-- localgpt:assistant {attrs} -->"


def remove_markers(text: str) -> str:
    """The text with every marker-like comment removed (for what the assistant writes)."""
    return _ANY_MARKER.sub("", text)


def mark_block(text: str, at: str, session: str = "") -> str:
    """`text` (whole lines) between an opening and a closing marker, each on its own line."""
    body = remove_markers(text).strip("\n")
    return f"{open_marker(at, session)}\n{body}\n{CLOSE_MARKER}"


def mark_line(line: str) -> str:
    """A single line the assistant changed inside a user's line: marked at its end."""
    if not line.strip() or _INLINE.search(line):
        return line
    return f"{line.rstrip()} {INLINE_MARKER}"


def read_marks(text_lines: list[str]) -> MarkedLines:
    """Each line's author, and the lines with markers blanked (marker lines become empty, so
    line numbers and citations are unchanged and the markers never reach the index)."""
    out: list[str] = []
    flags: list[bool] = []
    inside = False
    for line in text_lines:
        if _OPEN_LINE.match(line):
            inside = True
            out.append("")
            flags.append(True)
        elif _CLOSE_LINE.match(line):
            inside = False
            out.append("")
            flags.append(True)
        elif _INLINE.search(line):
            out.append(_INLINE.sub("", line))
            flags.append(True)
        else:
            out.append(line)
            flags.append(inside)
    return MarkedLines(out, flags)


def provenance_of(lines: list[str], by_assistant: list[bool]) -> Provenance:
    """`assistant` when every written line (headings aside, if there is anything else) is the
    assistant's, `user` when none is, `mixed` otherwise."""
    written = [(line, flag) for line, flag in zip(lines, by_assistant, strict=True) if line.strip()]
    body = [(line, flag) for line, flag in written if not _HEADING.match(line)]
    counted = body or written
    if not counted:
        return USER
    flags = {flag for _, flag in counted}
    if flags == {True}:
        return ASSISTANT
    return USER if flags == {False} else MIXED


def combine(first: str, second: str) -> Provenance:
    """The provenance of a span made of two parts."""
    return first if first == second else MIXED  # type: ignore[return-value]


def label_for_model(text: str) -> str:
    """A note as a model should read it: the markers become plain labels that say the text
    is the assistant's own earlier writing, not the user's words."""
    out: list[str] = []
    for line in text.split("\n"):
        if _OPEN_LINE.match(line):
            out.append("[assistant-written (not the user's words; untrusted):]")
        elif _CLOSE_LINE.match(line):
            out.append("[end of assistant-written text]")
        elif _INLINE.search(line):
            out.append(_INLINE.sub("", line) + " [assistant-written]")
        else:
            out.append(line)
    return "\n".join(out)
