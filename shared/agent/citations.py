"""Sources and citations: what an answer was grounded on, cited as `path#Lx-Ly`.

The assistant recalls notes before the model writes; those notes are the answer's sources. A
small model cites them by number (`[2]`), which becomes the note's citation; any model may also
write `path#Lx-Ly` itself. A citation is kept only if that markdown file exists in the workspace
and has those lines: a model must not send the user to a note that is not there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from shared.memory.fts import STOP_WORDS
from shared.workspace import OutsideWorkspaceError, resolve_in_workspace

# `memory/2026-12-01.md#L3-L9`, `MEMORY.md#L4`, also `#L3-9`; optionally inside [ ] or ( ).
CITATION = re.compile(r"(?P<path>[\w\-./]*[\w\-]\.md)#L(?P<start>\d+)(?:-L?(?P<end>\d+))?")
NUMBERED = re.compile(r"\s?\[(\d{1,2}(?:\s*,\s*\d{1,2})*)\]")
_WORD = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class Source:
    """A recalled note: numbered as the model saw it, with the exact lines it came from."""

    number: int
    path: str
    start_line: int
    end_line: int
    text: str
    date: str = ""  # the note's day, when it has one (YYYY-MM-DD)
    heading: str = ""
    provenance: str = "user"  # who wrote the lines: user | assistant | mixed

    @property
    def written_by(self) -> str:
        """How a prompt names a note the assistant wrote (empty for the user's own)."""
        if self.provenance == "assistant":
            return "written earlier by the assistant, not the user's words; unverified"
        if self.provenance == "mixed":
            return "partly written earlier by the assistant; unverified"
        return ""

    @property
    def citation(self) -> str:
        if self.start_line == self.end_line:
            return f"{self.path}#L{self.start_line}"
        return f"{self.path}#L{self.start_line}-L{self.end_line}"

    def as_dict(self) -> dict:
        return {
            "number": self.number,
            "path": self.path,
            "start_line": self.start_line,
            "end_line": self.end_line,
            "citation": self.citation,
            "date": self.date,
            "heading": self.heading,
            "provenance": self.provenance,
            "text": self.text,
        }


def resolve_numbered(text: str, sources: list[Source]) -> tuple[str, list[Source]]:
    """Turn `[2]` (or `[1, 3]`) into `[path#Lx-Ly]`; numbers no note has are dropped."""
    by_number = {s.number: s for s in sources}
    cited: list[Source] = []

    def replace(match: re.Match) -> str:
        found = [by_number.get(int(n)) for n in re.findall(r"\d+", match.group(1))]
        kept = [s for s in found if s is not None]
        for source in kept:
            if source not in cited:
                cited.append(source)
        return " " + " ".join(f"[{s.citation}]" for s in kept) if kept else ""

    return NUMBERED.sub(replace, text), cited


def drop_false_citations(text: str, workspace: Path) -> tuple[str, list[str]]:
    """Remove `path#Lx-Ly` citations whose file or lines do not exist; return the kept ones."""
    kept: list[str] = []
    sizes: dict[str, int | None] = {}

    def check(match: re.Match) -> str:
        path = match.group("path")
        start = int(match.group("start"))
        end = int(match.group("end") or start)
        if path not in sizes:
            sizes[path] = _line_count(workspace, path)
        total = sizes[path]
        if total is None or not 1 <= start <= end <= total:
            return ""
        kept.append(match.group(0))
        return match.group(0)

    cleaned = CITATION.sub(check, text)
    # Brackets and parentheses that held only a dropped citation go too.
    cleaned = re.sub(r"\s?[\[(]\s*[\])]", "", cleaned)
    return cleaned, kept


def attribute(answer: str, sources: list[Source]) -> list[Source]:
    """The sources an uncited answer most likely came from: those sharing its rarer words."""
    words = _content_words(answer)
    if not words:
        return []
    scored = []
    for source in sources:
        shared = words & _content_words(source.text)
        if len(shared) >= max(1, min(2, len(words) // 2)):
            scored.append((len(shared), -source.number, source))
    scored.sort(reverse=True)
    return [s for _, _, s in scored[:2]]


def with_citations(answer: str, cited: list[Source]) -> str:
    """Append the citations of `cited` that the answer does not already carry."""
    missing = [s.citation for s in cited if s.citation not in answer]
    if not missing or not answer.strip():
        return answer
    return answer.rstrip() + " " + " ".join(f"[{c}]" for c in missing)


def _line_count(workspace: Path, rel: str) -> int | None:
    try:
        path = resolve_in_workspace(workspace, rel)
    except (OutsideWorkspaceError, ValueError):
        return None
    if path.suffix.lower() != ".md" or not path.is_file():
        return None
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    return data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)


def _content_words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in STOP_WORDS and len(w) > 1}
