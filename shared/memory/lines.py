"""Reading a slice of lines from a workspace file, confined to the workspace (memory get)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from shared.memory.access import MemoryFileError, memory_file
from shared.memory.files import SkipFile, read_markdown

MAX_READ_BYTES = 10_000_000


class LinesError(MemoryFileError):
    """The requested lines cannot be read (bad range, unreadable content); 400."""


@dataclass
class LineSlice:
    path: str  # workspace-relative
    start_line: int
    end_line: int
    total_lines: int
    text: str

    def as_dict(self) -> dict:
        return self.__dict__.copy()


def read_lines(
    workspace: Path, user_path: str, start: int = 1, count: int | None = None
) -> LineSlice:
    """Lines `start`..`start+count-1` (1-based) of a note of the workspace.

    Only what `memory_file` allows is read: FileRefused (403) or FileMissing (404) otherwise;
    LinesError (400) for a bad range or content that is not text. All are MemoryFileError.
    """
    if start < 1:
        raise LinesError("--from must be 1 or more")
    if count is not None and count < 1:
        raise LinesError("--lines must be 1 or more")
    note = memory_file(workspace, user_path)
    path, rel = note.path, note.rel
    try:
        text = read_markdown(path, MAX_READ_BYTES).text
    except SkipFile as exc:
        raise LinesError(f"{rel}: {exc}") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    chosen = lines[start - 1 : None if count is None else start - 1 + count]
    end = start + len(chosen) - 1 if chosen else start - 1
    return LineSlice(rel, start, end, len(lines), "\n".join(chosen))
