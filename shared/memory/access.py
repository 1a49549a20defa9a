"""Which workspace files may be read: the notes, and nothing else.

`memory_file()` is the one rule every read route uses (GET /api/memory/file, the memory_get
tool, MCP's memory_get and resources, `localgpt memory get`) and any write route should use
too: a markdown note inside the workspace, named the way the index names notes
(`shared.memory.files.is_note_name`: no `.git/`, no dotfile, no ignored folder), a regular
file, reached without a symlink that leads out. A workspace also holds the user's other files
(`.git/config` with a credential URL, `knowledge/secret.txt`); they are refused by name,
before the disk is asked, so a refusal does not even tell whether they exist.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from shared.memory.files import is_note_name

NOT_A_NOTE = "markdown files only (.md notes of the workspace; never hidden files or .git/)"


class MemoryFileError(ValueError):
    """A workspace file cannot be read; the message says why. HTTP: `status`."""

    status = 400


class FileRefused(MemoryFileError):
    """Not a note: outside the workspace, hidden, ignored, not markdown, not a regular file."""

    status = 403


class FileMissing(MemoryFileError):
    """A note name that is allowed, but no such file exists."""

    status = 404


@dataclass(frozen=True)
class NoteFile:
    path: Path  # the real path on disk (links followed)
    rel: str  # workspace-relative, forward slashes, as named


def memory_file(workspace: Path, user_path: str, must_exist: bool = True) -> NoteFile:
    """Check `user_path` (workspace-relative, or absolute inside the workspace) names a note
    that may be read; raises FileRefused (403) or FileMissing (404). `must_exist=False` lets a
    write route check a new note's name (the parent folder must then be inside too)."""
    root = workspace.resolve()
    rel = _relative_name(root, workspace, user_path)
    if not is_note_name(rel):
        raise FileRefused(f"{_shown(rel)} is not a note: {NOT_A_NOTE}")
    real = _real_path(root, rel, must_exist)
    if real is None:
        raise FileMissing(f"{rel} does not exist in the workspace")
    return NoteFile(real, rel)


def _relative_name(root: Path, workspace: Path, user_path: str) -> str:
    """The path as named, made workspace-relative without following links; `..` refused."""
    if not user_path or not user_path.strip() or "\x00" in user_path:
        raise MemoryFileError("invalid path: a workspace-relative .md path is required")
    raw = Path(user_path).expanduser()
    if raw.is_absolute():
        for base in (workspace.absolute(), root):
            try:
                raw = raw.relative_to(base)
                break
            except ValueError:
                continue
        else:
            raise FileRefused(f"{_shown(user_path)} is outside the workspace")
    parts = PurePosixPath(raw.as_posix()).parts
    if ".." in parts:
        raise FileRefused(f"{_shown(user_path)} is outside the workspace ('..' is not allowed)")
    return PurePosixPath(*[p for p in parts if p != "."]).as_posix() if parts else ""


def _real_path(root: Path, rel: str, must_exist: bool) -> Path | None:
    """The file's real path, checked to stay inside the workspace and to be a note there too
    (a link named `notes.md` pointing at `.git/x.md` is refused); None when it is missing."""
    candidate = root / rel
    try:
        real = candidate.resolve()
        info = os.stat(real)
    except FileNotFoundError:  # missing, or a dangling link
        info = None
    except OSError as exc:  # a name too long, a link loop
        raise MemoryFileError(f"{rel[:120]} cannot be read: {exc.strerror or exc}") from None
    if real != root and root not in real.parents:
        raise FileRefused(f"{rel} leads outside the workspace (a symlink)")
    if not is_note_name(real.relative_to(root).as_posix()):
        raise FileRefused(f"{rel} leads to a file that is not a note (a symlink)")
    if info is None:
        return real if not must_exist and real.parent.is_dir() else None
    if stat.S_ISDIR(info.st_mode):
        raise FileRefused(f"{rel} is a directory, not a note")
    if not stat.S_ISREG(info.st_mode):
        raise FileRefused(f"{rel} is not a regular file (a FIFO, socket or device)")
    return real


def _shown(path: str) -> str:
    return repr(path[:120])
