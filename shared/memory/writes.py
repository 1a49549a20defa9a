"""Writing the user's memory files: append-only daily logs and careful edits of MEMORY.md.

Memory files are the user's data. Writes are atomic (temp file, fsync, os.replace) or true
appends (O_APPEND, one write, fsync); an edit of MEMORY.md first keeps the previous version
under `data/backups/`, and nothing here ever deletes a file.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from shared.config import Config
from shared.durable import atomic_write, write_all
from shared.workspace import relative_path, resolve_in_workspace

MAX_ENTRY_CHARS = 20_000
MAX_MEMORY_MD_BYTES = 2 * 1024 * 1024


class MemoryWriteError(ValueError):
    """A memory write was refused; the message says why and what to do instead."""


@dataclass
class WriteResult:
    path: str  # workspace-relative
    bytes_written: int
    backup: str = ""  # the previous version, relative to LOCALGPT_HOME (data/backups/...)

    def as_dict(self) -> dict:
        out = {"path": self.path, "bytes_written": self.bytes_written}
        if self.backup:
            out["backup"] = self.backup
        return out


def daily_log_path(config: Config, now: datetime) -> Path:
    """`memory/YYYY-MM-DD.md` for the user's date (the canonical name, never a -HHMM variant)."""
    return resolve_in_workspace(config.workspace_dir, f"memory/{now:%Y-%m-%d}.md")


def append_daily_entry(config: Config, text: str, now: datetime) -> WriteResult:
    """Append a timestamped entry to today's daily log, creating it (and memory/) if needed."""
    body = _clean_entry(text)
    path = daily_log_path(config, now)
    path.parent.mkdir(parents=True, exist_ok=True)
    resolve_in_workspace(config.workspace_dir, path.parent)  # memory/ itself may be a link
    zone = now.tzname() or ""
    entry = f"### {now:%H:%M:%S} {zone}".rstrip() + f"\n\n{body}\n"
    with writer_lock(config, "daily-log"):
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            prefix = f"# {now:%Y-%m-%d}\n\n" if size == 0 else _separator(path, size)
            data = (prefix + entry).encode("utf-8")
            write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
    return WriteResult(relative_path(config.workspace_dir, path), len(data))


def update_memory_md(config: Config, old: str, new: str, now: datetime) -> WriteResult:
    """Replace the one passage `old` of MEMORY.md with `new`; an empty `old` appends `new`.

    The passage must occur exactly once. The previous file is copied to data/backups/ first,
    then the new content replaces it atomically.
    """
    if not new.strip() and not old:
        raise MemoryWriteError("nothing to write: `new` is empty")
    if len(new) > MAX_ENTRY_CHARS:
        raise MemoryWriteError(f"`new` is {len(new)} chars; the limit is {MAX_ENTRY_CHARS}")
    path = resolve_in_workspace(config.workspace_dir, "MEMORY.md")
    with writer_lock(config, "memory-md"):
        current = _read_memory_md(path)
        if old:
            count = current.count(old)
            if count == 0:
                raise MemoryWriteError(
                    "the passage to replace was not found in MEMORY.md; quote it exactly "
                    "(read it first with memory_get)"
                )
            if count > 1:
                raise MemoryWriteError(
                    f"the passage occurs {count} times in MEMORY.md; include more "
                    "surrounding text so it is unique"
                )
            updated = current.replace(old, new, 1)
        else:
            updated = current + ("" if not current or current.endswith("\n") else "\n")
            updated += ("\n" if current.strip() else "") + new.rstrip("\n") + "\n"
        backup = keep_backup(config, path, current, now) if path.exists() else ""
        atomic_write(path, updated)
    return WriteResult(
        relative_path(config.workspace_dir, path), len(updated.encode("utf-8")), backup
    )


def _clean_entry(text: str) -> str:
    body = text.strip()
    if not body:
        raise MemoryWriteError("nothing to write: the entry is empty")
    if len(body) > MAX_ENTRY_CHARS:
        raise MemoryWriteError(f"the entry is {len(body)} chars; the limit is {MAX_ENTRY_CHARS}")
    return body


def _separator(path: Path, size: int) -> str:
    """A blank line before the new entry, plus a newline if the file does not end with one."""
    with open(path, "rb") as handle:
        handle.seek(max(0, size - 2))
        tail = handle.read()
    if tail.endswith(b"\n\n"):
        return ""
    return "\n" if tail.endswith(b"\n") else "\n\n"


def _read_memory_md(path: Path) -> str:
    if not path.exists():
        return ""
    if path.stat().st_size > MAX_MEMORY_MD_BYTES:
        raise MemoryWriteError("MEMORY.md is larger than 2 MiB; edit it by hand")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise MemoryWriteError("MEMORY.md is not valid UTF-8; edit it by hand") from None


def keep_backup(config: Config, path: Path, text: str, now: datetime) -> str:
    """Copy `text` (the version about to be replaced) to data/backups/; returns its home-relative
    path. A note below the workspace top is named after its folders too (`memory__x.<stamp>.md`)."""
    stamp = now.astimezone().strftime("%Y%m%dT%H%M%S.%f%z")
    stem = _backup_stem(config, path)
    target = config.backups_dir / f"{stem}.{stamp}{path.suffix}"
    counter = 1
    while target.exists():
        target = config.backups_dir / f"{stem}.{stamp}-{counter}{path.suffix}"
        counter += 1
    atomic_write(target, text)
    return target.relative_to(config.home).as_posix()  # no machine path reaches a model


def _backup_stem(config: Config, path: Path) -> str:
    try:
        rel = path.relative_to(config.workspace_dir.resolve())
    except ValueError:
        return path.stem
    return "__".join([*rel.parent.parts, path.stem])


@contextlib.contextmanager
def writer_lock(config: Config, name: str) -> Iterator[None]:
    """Serialise writers across processes (agents, the API, background tasks)."""
    lock_dir = config.locks_dir
    lock_dir.mkdir(parents=True, exist_ok=True)
    with open(lock_dir / f"{name}.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
