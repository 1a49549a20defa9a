"""Streaming an answer as it will finally read, for clients that cannot take text back.

The assistant checks an answer's citations once it is whole: a small model's `[2]` becomes the
note's `path#Lx-Ly`, a citation to lines that do not exist is dropped (shared/agent/citations).
The page replaces the streamed text with the checked one; an OpenAI client only appends deltas.
So the stream passes text on only where it is settled: never the word still being written
(it may grow into a citation), nor an opened bracket before it closes, and what it passes on
goes through the same inline checks. Those checks only ever touch a whole bracket or a whole
word, so a settled piece reads exactly as it will in the checked answer; `finish` sends the rest
of the checked answer (its last words, and citations attributed at the end).
"""

from __future__ import annotations

from pathlib import Path

from shared.agent.citations import Source, drop_false_citations, resolve_numbered
from shared.logs import get_logger

log = get_logger("api")

OPENERS, CLOSERS = "[(", "])"


class AnswerStream:
    """One turn's text, fed token by token; returns what may be sent now."""

    def __init__(self, workspace: Path, numbered: bool) -> None:
        self.workspace = workspace
        self.numbered = numbered  # the compact profile: `[n]` refers to the numbered notes
        self.sources: list[Source] = []
        self._raw = ""  # the current model message's text so far
        self._passed = 0  # how much of it was settled and sent
        self._sent = ""  # what was sent for it

    def set_sources(self, sources: list[dict]) -> None:
        self.sources = [Source(**{k: v for k, v in s.items() if k != "citation"}) for s in sources]

    def feed(self, delta: str) -> str:
        self._raw += delta
        end = settled_end(self._raw, self._passed)
        if end <= self._passed:
            return ""
        return self._send(self._raw[self._passed : end], end)

    def next_message(self) -> str:
        """The model called a tool: what it wrote so far was not the answer. Send the rest of
        it, then a paragraph break before whatever comes next."""
        rest = self._send(self._raw[self._passed :], len(self._raw)) if self._raw else ""
        shown = bool(self._sent.strip())
        self._raw, self._passed, self._sent = "", 0, ""
        return rest + "\n\n" if shown else rest

    def finish(self, checked: str) -> str:
        """The rest of the checked answer (`TurnResult.text`)."""
        if checked.startswith(self._sent):
            return checked[len(self._sent) :]
        # Not expected (the checks are local); the client keeps what it has.
        log.warning("answer_stream_diverged", sent=len(self._sent), checked=len(checked))
        return ""

    def _send(self, piece: str, end: int) -> str:
        if self.numbered:
            piece, _ = resolve_numbered(piece, self.sources)
        piece, _ = drop_false_citations(piece, self.workspace)
        self._passed = end
        self._sent += piece
        return piece


def settled_end(text: str, start: int) -> int:
    """How far `text` (settled up to `start`) is settled now: up to the whitespace before its
    last word, and before any bracket still open; always at a word's end."""
    end = len(text)
    while end > start and not text[end - 1].isspace():
        end -= 1  # the last word may still grow
    while end > start and text[end - 1].isspace():
        end -= 1  # a citation check may take the space before a word with it
    depth, opened = 0, None
    for i in range(start, end):
        char = text[i]
        if char in OPENERS:
            if depth == 0:
                opened = i
            depth += 1
        elif char in CLOSERS and depth:
            depth -= 1
    if depth and opened is not None:
        end = opened
        while end > start and text[end - 1].isspace():
            end -= 1
    return end
