"""Reading a slice of lines from a workspace file, confined to the workspace (memory get)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from shared.memory.files import SkipFile, read_markdown
from shared.workspace import relative_path, resolve_in_workspace

MAX_READ_BYTES = 10_000_000


class LinesError(ValueError):
    """The requested file cannot be read; the message says why."""


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
    """Lines `start`..`start+count-1` (1-based) of a file inside the workspace.

    Raises OutsideWorkspaceError for paths that leave the workspace, LinesError otherwise.
    """
    if start < 1:
        raise LinesError("--from must be 1 or more")
    if count is not None and count < 1:
        raise LinesError("--lines must be 1 or more")
    try:
        path = resolve_in_workspace(workspace, user_path)
        exists = path.exists()
    except OSError as exc:  # e.g. a name longer than the file system allows
        raise LinesError(f"cannot read {user_path[:80]!r}: {exc.strerror or exc}") from None
    rel = relative_path(workspace.resolve(), path)
    if not exists:
        raise LinesError(f"{rel} does not exist in the workspace")
    if path.is_dir():
        raise LinesError(f"{rel} is a directory")
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
