"""Focusing a recalled note on the lines that answer the question, for small models.

Search returns passages sized for recall (merged neighbouring chunks, up to ~1,000 characters);
a small model reading three of those loses the one line that answers. So the compact prompt
shows each note's best-matching lines and their neighbours, within a few hundred characters,
read from the file itself so the citation names exactly the lines shown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from shared.memory.access import MemoryFileError
from shared.memory.fts import STOP_WORDS
from shared.memory.lines import read_lines
from shared.memory.provenance import USER, provenance_of, read_marks
from shared.workspace import OutsideWorkspaceError

_WORD = re.compile(r"[^\W_]+")
STEM = 5  # words sharing their first letters match ("painted" ~ "painting")


@dataclass(frozen=True)
class Focused:
    path: str
    start_line: int
    end_line: int
    snippet: str
    heading: str = ""
    date: str = ""
    provenance: str = USER  # who wrote the lines shown: user | assistant | mixed


def focus(hit, question: str, workspace: Path, max_chars: int) -> Focused:
    """`hit` narrowed to its lines that best match `question`, within `max_chars`."""
    date = getattr(hit, "date", "") or ""
    as_found = Focused(
        hit.path, hit.start_line, hit.end_line, hit.snippet, hit.heading, date,
        getattr(hit, "provenance", USER),
    )  # fmt: skip
    try:
        # From the top: whether a line is the assistant's depends on markers above the hit.
        piece = read_lines(workspace, hit.path, 1, hit.end_line)
    except (MemoryFileError, OutsideWorkspaceError):  # gone or refused since it was indexed
        return as_found
    marked = read_marks(piece.text.split("\n"))  # the assistant's markers blanked, lines kept
    lines = marked.lines
    keep = [
        i
        for i, line in enumerate(lines)
        if i >= hit.start_line - 1 and line.strip() and not line.lstrip().startswith("#")
    ]
    if not keep:
        return as_found
    wanted = content_stems(question)
    best = max(keep, key=lambda i: (len(wanted & content_stems(lines[i])), -i))
    chosen = [best]
    size = len(lines[best])
    at = keep.index(best)
    before, after = at - 1, at + 1
    while before >= 0 or after < len(keep):  # neighbours, nearest first, while they fit
        grew = False
        for index in (after, before):
            if 0 <= index < len(keep) and size + len(lines[keep[index]]) + 1 <= max_chars:
                chosen.append(keep[index])
                size += len(lines[keep[index]]) + 1
                grew = True
        before, after = before - 1, after + 1
        if not grew:
            break
    chosen.sort()
    text = "\n".join(lines[i] for i in chosen)
    if len(text) > max_chars:  # one line longer than the budget: cut it at a word
        text = text[:max_chars].rsplit(" ", 1)[0] + "…"
    first, last = chosen[0], chosen[-1]
    written_by = provenance_of([lines[i] for i in chosen], [marked.by_assistant[i] for i in chosen])
    return Focused(
        hit.path,
        piece.start_line + first,
        piece.start_line + last,
        text,
        hit.heading,
        date,
        written_by,
    )


def content_stems(text: str) -> set[str]:
    """The word stems that carry meaning (stop words and short words left out)."""
    return {w[:STEM] for w in _WORD.findall(text.lower()) if w not in STOP_WORDS and len(w) > 2}
