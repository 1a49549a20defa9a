"""Markdown-aware, line-based chunking sized for the embedding model's window.

Every chunk carries exact 1-based line ranges, so a search hit can be cited as `path#L12-L30`.
Headings start a new chunk and give later chunks their heading path; list items, code fences
and paragraphs are kept whole when they fit, and split at line boundaries when they don't.
Only a single line longer than the budget is split inside the line (its pieces share its number).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from shared.memory.provenance import USER, provenance_of, read_marks

# Bump when chunk boundaries change: a different version makes the index re-chunk every file.
# 6: provenance (who wrote each chunk; markers blanked out of the text)
CHUNKER_VERSION = 6  # 4: date and position (db columns day, seq); 5: the preceding context
CONTEXT_BLOCK_CHARS = 300  # of each preceding block a chunk is indexed with

HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)[ \t#]*$")
FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
LIST_ITEM = re.compile(r"^ {0,3}(?:[-*+]|\d{1,9}[.)])(?:[ \t]|$)")
CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")


def estimate_tokens(text: str) -> int:
    """A conservative WordPiece estimate: ~3.6 chars a token for Latin text, 1 per CJK char."""
    cjk = len(CJK.findall(text))
    return cjk + (len(text) - cjk) * 10 // 36 + 1


@dataclass(frozen=True)
class Chunk:
    start_line: int
    end_line: int
    heading: str
    text: str
    # What comes just before the chunk in its section (the blocks before its first line, up to
    # CONTEXT_BLOCK_CHARS each): indexed and embedded with the chunk, never cited with it. A
    # reply makes sense with the question before it; a list item with its lead-in.
    context: str = ""
    # Who wrote the chunk's lines: user | assistant | mixed (see shared.memory.provenance).
    provenance: str = USER

    @property
    def hash(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


@dataclass
class _Block:
    """Lines that belong together: a heading, a fence, a list item or a paragraph."""

    start: int  # 1-based
    lines: list[str] = field(default_factory=list)
    heading_level: int = 0
    heading_text: str = ""

    @property
    def end(self) -> int:
        return self.start + len(self.lines) - 1


def chunk_markdown(text: str, max_tokens: int = 128, context_blocks: int = 0) -> list[Chunk]:
    """Split markdown into chunks of at most about `max_tokens` tokens each, each with the
    `context_blocks` blocks before it (within its section) as its context. Provenance
    markers are blanked (their lines stay, empty) and decide each chunk's provenance."""
    marked = read_marks([line.rstrip("\r") for line in text.split("\n")])
    lines = marked.lines
    packer = _Packer(max_tokens, lines, context_blocks, marked.by_assistant)
    headings: list[tuple[int, str]] = []
    for block in _blocks(lines):
        if block.heading_level:
            packer.flush_unless_only_headings()
            headings = [h for h in headings if h[0] < block.heading_level]
            headings.append((block.heading_level, block.heading_text))
            packer.heading = " › ".join(h[1] for h in headings if h[1])
        packer.add(block)
    packer.flush()
    return packer.chunks


def _blocks(lines: list[str]) -> Iterator[_Block]:
    current: _Block | None = None
    fence: str | None = None
    for number, raw in enumerate(lines, start=1):
        line = raw
        if fence is not None:  # inside a code fence: everything belongs to it
            current.lines.append(line)
            if line.strip().startswith(fence):
                yield current
                current, fence = None, None
            continue
        if not line.strip():
            if current is not None:
                yield current
            current = None
            continue
        heading = HEADING.match(line)
        opening = FENCE.match(line)
        starts_block = heading or opening or LIST_ITEM.match(line)
        continues_item = current is not None and line[:1] in (" ", "\t") and not opening
        if current is not None and (starts_block and not continues_item):
            yield current
            current = None
        if heading:
            yield _Block(number, [line], len(heading.group(1)), heading.group(2).strip())
            continue
        if current is None:
            current = _Block(number)
            if opening:
                fence = opening.group(1)[0] * len(opening.group(1))
        current.lines.append(line)
    if current is not None:
        yield current


class _Packer:
    """Accumulates blocks into chunks under the token budget."""

    def __init__(
        self, max_tokens: int, source: list[str], context_blocks: int, by_assistant: list[bool]
    ) -> None:
        self.max_tokens = max_tokens
        self.source = source
        self.by_assistant = by_assistant
        self.context_blocks = context_blocks
        self.heading = ""
        self.chunks: list[Chunk] = []
        self._first = self._last = 0  # line range taken so far; 0 when empty
        self._piece: str | None = None  # set when the chunk is part of one long line
        self._tokens = 0
        self._has_body = False  # False while the chunk holds nothing but headings
        self._author: bool | None = None  # whether its body so far is the assistant's

    def add(self, block: _Block) -> None:
        if not block.heading_level:  # the user's words and the assistant's never share a chunk
            author = any(self.by_assistant[block.start - 1 : block.end])
            if self._has_body and self._author is not None and author != self._author:
                self.flush()
            self._author = author
        self._has_body = self._has_body or not block.heading_level
        tokens = sum(estimate_tokens(line) for line in block.lines)
        if self._tokens + tokens > self.max_tokens:
            self.flush()
        if tokens <= self.max_tokens:
            self._take(block.start, block.lines, tokens)
            return
        for offset, line in enumerate(block.lines):  # a block too big for one chunk
            self._add_line(block.start + offset, line)

    def _add_line(self, number: int, line: str) -> None:
        tokens = estimate_tokens(line)
        if self._tokens + tokens > self.max_tokens:
            self.flush()
        if tokens <= self.max_tokens:
            self._take(number, [line], tokens)
            return
        for piece in _split_long_line(line, self.max_tokens):
            self._take(number, [piece], estimate_tokens(piece))
            self._piece = piece
            self.flush()

    def _take(self, start: int, lines: list[str], tokens: int) -> None:
        self._first = self._first or start
        self._last = start + len(lines) - 1
        self._tokens += tokens

    def flush_unless_only_headings(self) -> None:
        """A heading directly followed by a sub-heading stays with the sub-heading's text."""
        if self._has_body:
            self.flush()

    def flush(self) -> None:
        if self._first:
            text = self._piece or "\n".join(self.source[self._first - 1 : self._last])
            if text.strip():
                context = _context(self.source, self._first, self.context_blocks)
                span = slice(self._first - 1, self._last)
                author = provenance_of(self.source[span], self.by_assistant[span])
                chunk = Chunk(self._first, self._last, self.heading, text, context, author)
                self.chunks.append(chunk)
        self._first = self._last = self._tokens = 0
        self._piece = None
        self._has_body = False
        self._author = None


def _context(source: list[str], first: int, blocks: int) -> str:
    """The `blocks` blocks (paragraphs, list items) that end before line `first`, stopping at a
    heading or a fence; each cut to CONTEXT_BLOCK_CHARS."""
    if not blocks or HEADING.match(source[first - 1]):
        return ""  # a chunk that opens a section has nothing before it
    found: list[str] = []
    current: list[str] = []
    number = first - 1
    while number >= 1 and len(found) < blocks:
        line = source[number - 1]
        number -= 1
        if HEADING.match(line) or FENCE.match(line):
            break
        if not line.strip():
            if current:
                found.append("\n".join(current))
                current = []
            continue
        current.insert(0, line)
        if LIST_ITEM.match(line):  # a list item starts its block
            found.append("\n".join(current))
            current = []
    if current and len(found) < blocks:
        found.append("\n".join(current))
    return "\n".join(block[-CONTEXT_BLOCK_CHARS:] for block in reversed(found))


def _split_long_line(line: str, max_tokens: int) -> Iterator[str]:
    """Cut a very long line into pieces under the budget, preferring to cut at spaces."""
    rest = line
    while rest:
        size = min(len(rest), max_tokens * 3)
        while estimate_tokens(rest[:size]) > max_tokens:
            size = size * 3 // 4
        if size < len(rest):
            space = rest.rfind(" ", size // 2, size)
            size = space + 1 if space > 0 else size
        yield rest[:size]
        rest = rest[size:]
