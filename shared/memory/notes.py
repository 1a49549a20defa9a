"""Notes as a client edits them: list the workspace's markdown, read a whole note with its
version, and save it back only if nobody changed it meanwhile.

A note's version is the SHA-256 of its bytes: a client sends back the version it opened, and a
save over a file that changed since (an agent's append, another tab, an editor on disk) is
refused with `NoteConflict`, never merged or overwritten. A save is atomic (temp file + replace)
and the replaced version is kept under data/versions/, as for MEMORY.md edits: what a user wrote
is never lost. Writers of MEMORY.md and the daily log take the same locks as the agent's tools.
"""

from __future__ import annotations

import hashlib
import re
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath

from shared.config import Config
from shared.durable import atomic_write
from shared.memory.access import FileMissing, memory_file
from shared.memory.files import IGNORED_DIRS, scan_workspace
from shared.memory.writes import daily_log_path, keep_version, writer_lock
from shared.workspace import relative_path, resolve_in_workspace

MAX_NOTE_BYTES = 900_000  # under the API's 1 MB body limit, with room for the JSON around it
NEW_FILE_MODE = 0o644  # as the daily log: a note is a plain user file
_DAILY_LOG = re.compile(r"^memory/\d{4}-\d{2}-\d{2}\.md$")


class NoteError(ValueError):
    """A note cannot be read or written as asked; the message says why."""


class NotePathError(NoteError):
    """The path is not a note a client may write: not `.md`, hidden, or outside the workspace."""


class NoteMissing(NoteError):
    """No note at that path (it was never created, or it was moved away)."""


class NoteConflict(NoteError):
    """The note changed (or appeared, or went) since the client opened it."""

    def __init__(self, message: str, current_version: str | None) -> None:
        super().__init__(message)
        self.current_version = current_version


@dataclass
class Note:
    path: str  # workspace-relative, forward slashes
    text: str
    version: str

    def as_dict(self) -> dict:
        return {"path": self.path, "text": self.text, "version": self.version}


@dataclass
class SavedNote:
    path: str
    version: str
    bytes_written: int
    created: bool
    backup: str  # the replaced version, home-relative; empty for a new note

    def as_dict(self) -> dict:
        return self.__dict__.copy()


def note_path(workspace: Path, user_path: str) -> Path:
    """The file a client may read and write as a note, or NotePathError.

    The one rule for client-written files (kept small so it merges with the shared read rule):
    a relative `.md` path inside the workspace, no hidden part (`.git`, dotfiles) and none of
    the folders the indexer ignores.
    """
    raw = user_path.strip()
    parts = PurePosixPath(raw).parts
    if not raw or raw.startswith("/") or "\\" in raw or "\x00" in raw:
        raise NotePathError(f"{raw[:80]!r}: give a path relative to the workspace, like notes/x.md")
    if not raw.lower().endswith(".md"):
        raise NotePathError(f"{raw[:80]}: notes are markdown files; the name must end in .md")
    if any((p.startswith(".") and p not in (".", "..")) or p in IGNORED_DIRS for p in parts):
        raise NotePathError(f"{raw[:80]}: hidden files and folders (like .git) are not notes")
    try:
        return resolve_in_workspace(workspace, raw)  # OutsideWorkspaceError for .. and links
    except OSError as exc:  # e.g. a name longer than the file system allows
        raise NotePathError(f"{raw[:80]}: {exc.strerror or exc}") from None


def version_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def list_notes(workspace: Path) -> list[dict]:
    """Every markdown note in the workspace: what the indexer sees (it skips hidden paths)."""
    found = scan_workspace(workspace)
    return [
        {"path": rel, "size": f.size, "mtime": f.mtime_ns / 1e9} for rel, f in sorted(found.items())
    ]


def read_note(workspace: Path, user_path: str) -> Note:
    """A whole note, read under the one rule every read route follows (`memory_file`)."""
    note_path(workspace, user_path)  # a client's name for a note: 422 says what is wrong
    found = memory_file(workspace, user_path)
    path, rel = found.path, found.rel
    data = _read_bytes(path, rel)
    if data is None:
        raise NoteMissing(f"{rel} does not exist in the workspace")
    return Note(rel, _decoded(rel, data), version_of(data))


def save_note(
    config: Config, user_path: str, text: str, base_version: str | None, now: datetime
) -> SavedNote:
    """Write `text` to the note. `base_version` is the version the client opened; None creates
    a new note and refuses if one exists. Raises NoteConflict when the file is not as opened."""
    workspace = config.workspace_dir
    path = note_path(workspace, user_path)  # a client's name for a note: 422 says what is wrong
    # The read rule too: a link named like a note must lead to a note (not into .git). A note
    # in a folder not made yet has nothing on disk that a link could redirect (FileMissing).
    with suppress(FileMissing):
        path = memory_file(workspace, user_path, must_exist=False).path
    rel = relative_path(workspace.resolve(), path)
    data = text.encode("utf-8")
    if len(data) > MAX_NOTE_BYTES:
        raise NoteError(
            f"the note is {len(data):,} bytes; the page saves at most {MAX_NOTE_BYTES:,}"
        )
    if "\x00" in text:
        raise NoteError("the text contains a NUL character; notes are plain text")
    with writer_lock(config, _lock_name(rel)):
        current = _read_bytes(path, rel)
        _check_base(rel, current, base_version)
        backup = keep_version(config, path, _decoded(rel, current), now) if current else ""
        atomic_write(path, text, mode=None if current is not None else NEW_FILE_MODE)
    return SavedNote(rel, version_of(data), len(data), current is None, backup)


def daily_note_path(config: Config, now: datetime) -> str:
    """Today's daily log, workspace-relative (the one name the daily-log writer uses)."""
    return relative_path(config.workspace_dir.resolve(), daily_log_path(config, now))


def _check_base(rel: str, current: bytes | None, base_version: str | None) -> None:
    if base_version is None:
        if current is not None:
            raise NoteConflict(
                f"{rel} already exists: open it and edit it instead", version_of(current)
            )
        return
    if current is None:
        raise NoteConflict(
            f"{rel} was moved or deleted since you opened it; save it as a new note", None
        )
    if version_of(current) != base_version:
        raise NoteConflict(
            f"{rel} changed since you opened it (another tab, the assistant or an editor "
            "wrote to it); reload it to see the new text, or keep yours to replace it",
            version_of(current),
        )


def _read_bytes(path: Path, rel: str) -> bytes | None:
    if not path.exists():
        return None
    if not path.is_file():
        raise NoteError(f"{rel} is not a regular file")
    if path.stat().st_size > MAX_NOTE_BYTES:
        raise NoteError(
            f"{rel} is larger than {MAX_NOTE_BYTES:,} bytes: edit it with another editor"
        )
    return path.read_bytes()


def _decoded(rel: str, data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise NoteError(f"{rel} is not valid UTF-8: edit it with another editor") from None


def _lock_name(rel: str) -> str:
    """The lock the agent's writers of the same file take (MEMORY.md edits, daily-log appends)."""
    if rel == "MEMORY.md":
        return "memory-md"
    if _DAILY_LOG.match(rel):
        return "daily-log"
    return "notes"
