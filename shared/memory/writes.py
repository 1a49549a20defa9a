"""Writing the user's memory files: append-only daily logs and guarded edits of MEMORY.md.

Memory files are the user's data. Writes are atomic (temp file, fsync, os.replace) or true
appends (O_APPEND, one write, fsync), and nothing here ever deletes a file. What the assistant
writes is marked as its own (shared.memory.provenance), so search ranks it below the user's
words and prompts frame it as untrusted. An edit of MEMORY.md:

- is refused when it would remove more than `MAX_REMOVED_SHARE` of the file, unless the user
  confirmed it (the edit is kept as a pending edit the CLI or the page can apply);
- is skipped when it appends what the file already says (a duplicate);
- first keeps the previous version in `data/versions/` (in the LocalGPT home, never in the
  workspace), so `localgpt memory history` / `restore` can bring any version back;
- is logged, with the session that made it, to `data/versions/writes.jsonl` and the log.

This module is the one daily-log writer: tools, MCP and the heartbeat (when switched on) call
`append_daily_entry`.
"""

from __future__ import annotations

import contextlib
import difflib
import fcntl
import json
import os
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from shared.config import Config
from shared.durable import atomic_write, write_all
from shared.logs import get_logger
from shared.memory.provenance import mark_block, mark_line, read_marks, remove_markers
from shared.workspace import relative_path, resolve_in_workspace

log = get_logger(__name__)

MAX_ENTRY_CHARS = 4_000  # one entry the assistant writes (a daily-log entry, a MEMORY.md edit)
MAX_MEMORY_MD_BYTES = 2 * 1024 * 1024
MAX_REMOVED_SHARE = 0.20  # of MEMORY.md's lines or bytes, in one edit, without confirmation
SMALL_REMOVAL_BYTES = 80  # removing less than this is never "a large share" (a typo fix)
MEMORY_MD = "MEMORY.md"
_SPACE = re.compile(r"\s+")


class MemoryWriteError(ValueError):
    """A memory write was refused; the message says why and what to do instead."""


class ConfirmationRequired(MemoryWriteError):
    """The edit would remove a large share of MEMORY.md: it is kept as a pending edit, applied
    only when the user confirms (`apply_pending`). Tools report it to the model; the CLI asks
    the user; the API answers 409 with the pending id."""

    def __init__(self, message: str, pending_id: str, removed_share: float) -> None:
        super().__init__(message)
        self.pending_id = pending_id
        self.removed_share = removed_share

    def as_dict(self) -> dict:
        return {
            "error": str(self),
            "confirmation_required": True,
            "pending_edit": self.pending_id,
            "removed_share": round(self.removed_share, 3),
        }


class VersionNotFound(MemoryWriteError):
    """No kept version has that name."""


class PendingEditNotFound(MemoryWriteError):
    """No pending edit has that id (applied already, or never made)."""


@dataclass
class WriteResult:
    path: str  # workspace-relative
    bytes_written: int
    version: str = ""  # the previous version kept, relative to LOCALGPT_HOME (data/versions/...)
    duplicate: bool = False  # the text was already there: nothing written

    def as_dict(self) -> dict:
        out: dict = {"path": self.path, "bytes_written": self.bytes_written}
        if self.version:
            out["previous_version"] = self.version
        if self.duplicate:
            out["duplicate"] = "already in the file: nothing written"
        return out


@dataclass(frozen=True)
class Version:
    name: str  # e.g. MEMORY.20261202T102456.123456+0000.md
    file: str  # the workspace file it is a version of
    saved_at: float
    size: int
    session: str  # the session whose write replaced it ("" if unknown)
    action: str


def daily_log_path(config: Config, now: datetime) -> Path:
    """`memory/YYYY-MM-DD.md` for the user's date (the canonical name, never a -HHMM variant)."""
    return resolve_in_workspace(config.workspace_dir, f"memory/{now:%Y-%m-%d}.md")


def append_daily_entry(
    config: Config, text: str, now: datetime, session: str = "", heading: str = ""
) -> WriteResult:
    """Append an assistant-written entry (`### HH:MM:SS zone`, or `### heading`) to today's
    daily log, creating it (and memory/) if needed; an entry already there is not repeated."""
    body = _clean_entry(text)
    path = daily_log_path(config, now)
    path.parent.mkdir(parents=True, exist_ok=True)
    resolve_in_workspace(config.workspace_dir, path.parent)  # memory/ itself may be a link
    title = heading or f"{now:%H:%M:%S} {now.tzname() or ''}".rstrip()
    entry = mark_block(f"### {title}\n\n{body}", now.isoformat(timespec="seconds"), session)
    rel = relative_path(config.workspace_dir, path)
    with writer_lock(config, "daily-log"):
        if _already_says(_text_of(path), body):
            _log_write(config, rel, "duplicate", session, 0)
            return WriteResult(rel, 0, duplicate=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            prefix = f"# {now:%Y-%m-%d}\n\n" if size == 0 else _separator(path, size)
            data = (prefix + entry + "\n").encode("utf-8")
            write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
    _log_write(config, rel, "append", session, len(data))
    return WriteResult(rel, len(data))


def update_memory_md(
    config: Config,
    old: str,
    new: str,
    now: datetime,
    session: str = "",
    confirmed: bool = False,
) -> WriteResult:
    """Replace the one passage `old` of MEMORY.md with `new`; an empty `old` appends `new`.

    The passage must occur exactly once. An edit removing more than MAX_REMOVED_SHARE of the
    file raises ConfirmationRequired unless `confirmed`. The previous file is kept as a version
    first, then the new content replaces it atomically.
    """
    if not new.strip() and not old:
        raise MemoryWriteError("nothing to write: `new` is empty")
    if len(new) > MAX_ENTRY_CHARS:
        raise MemoryWriteError(
            f"`new` is {len(new)} chars; one entry may be at most {MAX_ENTRY_CHARS}: "
            "write the essentials"
        )
    path = resolve_in_workspace(config.workspace_dir, MEMORY_MD)
    with writer_lock(config, "memory-md"):
        current = _read_memory_md(path)
        if not old and _already_says(current, new):
            _log_write(config, MEMORY_MD, "duplicate", session, 0)
            return WriteResult(MEMORY_MD, 0, duplicate=True)
        updated = _edited(current, old, new, now, session)
        share = removed_share(current, updated)
        if share > MAX_REMOVED_SHARE and not confirmed:
            pending = _keep_pending(config, old, new, session, share)
            _log_write(config, MEMORY_MD, "refused", session, 0, pending=pending)
            raise ConfirmationRequired(
                f"refused: this edit would remove {share:.0%} of MEMORY.md (more than "
                f"{MAX_REMOVED_SHARE:.0%}). Nothing was changed. Ask the user to confirm it; "
                f"it is kept as pending edit {pending}. Prefer a smaller, targeted edit.",
                pending,
                share,
            )
        version = keep_version(config, path, current, now) if path.exists() else ""
        atomic_write(path, updated)
    size = len(updated.encode("utf-8"))
    _log_write(config, MEMORY_MD, "replace" if old else "append", session, size, version)
    return WriteResult(MEMORY_MD, size, version)


def apply_pending(config: Config, pending_id: str, now: datetime, session: str = "") -> WriteResult:
    """Apply an edit the user confirmed (kept by a refused `update_memory_md`)."""
    path = _pending_path(config, pending_id)
    try:
        edit = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise PendingEditNotFound(f"no pending edit {pending_id!r}") from None
    result = update_memory_md(
        config, edit["old"], edit["new"], now, session or edit.get("session", ""), confirmed=True
    )
    path.unlink(missing_ok=True)  # LocalGPT's own record, not the user's data
    return result


def removed_share(before: str, after: str) -> float:
    """The larger of the shares of lines and of bytes of `before` that `after` no longer has
    (0 when less than SMALL_REMOVAL_BYTES go)."""
    old_lines = before.splitlines()
    if not old_lines:
        return 0.0
    matcher = difflib.SequenceMatcher(None, old_lines, after.splitlines(), autojunk=False)
    kept = {
        i for block in matcher.get_matching_blocks() for i in range(block.a, block.a + block.size)
    }
    gone = [line for i, line in enumerate(old_lines) if i not in kept and line.strip()]
    gone_bytes = sum(len(line.encode("utf-8")) + 1 for line in gone)
    if gone_bytes < SMALL_REMOVAL_BYTES:
        return 0.0
    written = [line for line in old_lines if line.strip()] or old_lines
    total_bytes = max(1, len(before.encode("utf-8")))
    return max(len(gone) / len(written), gone_bytes / total_bytes)


def memory_versions(config: Config, file: str = MEMORY_MD) -> list[Version]:
    """The kept versions of a file, newest first, with the session whose write replaced each."""
    folder = _versions_dir(config, file)
    if not folder.is_dir():
        return []
    sessions = {row.get("version"): row for row in _write_log(config) if row.get("version")}
    out = []
    for item in folder.iterdir():
        if not item.is_file() or item.name.startswith("."):
            continue
        row = sessions.get(f"{folder.relative_to(config.home).as_posix()}/{item.name}", {})
        info = item.stat()
        out.append(
            Version(
                item.name, file, info.st_mtime, info.st_size,
                row.get("session", ""), row.get("action", ""),
            )
        )  # fmt: skip
    return sorted(out, key=lambda v: (v.saved_at, v.name), reverse=True)


def restore_version(config: Config, name: str, now: datetime, session: str = "") -> WriteResult:
    """Bring a kept version of MEMORY.md back; the current file is kept as a version first."""
    folder = _versions_dir(config, MEMORY_MD)
    source = folder / Path(name).name
    if not name or Path(name).name != name or not source.is_file():
        raise VersionNotFound(f"no version {name!r}; `localgpt memory history` lists them")
    text = source.read_text(encoding="utf-8")
    path = resolve_in_workspace(config.workspace_dir, MEMORY_MD)
    with writer_lock(config, "memory-md"):
        current = _read_memory_md(path)
        version = keep_version(config, path, current, now) if path.exists() else ""
        atomic_write(path, text)
    size = len(text.encode("utf-8"))
    _log_write(config, MEMORY_MD, "restore", session, size, version, restored=name)
    return WriteResult(MEMORY_MD, size, version)


# -- editing ------------------------------------------------------------------------------


def _edited(current: str, old: str, new: str, now: datetime, session: str) -> str:
    """MEMORY.md with the edit applied; the assistant's new text carries its marker."""
    at = now.isoformat(timespec="seconds")
    if not old:
        updated = current + ("" if not current or current.endswith("\n") else "\n")
        return updated + ("\n" if current.strip() else "") + mark_block(new, at, session) + "\n"
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
    start = current.index(old)
    end = start + len(old)
    whole_lines = (start == 0 or current[start - 1] == "\n") and (
        end == len(current) or current[end - 1] == "\n" or current[end] == "\n"
    )
    clean = remove_markers(new)
    if not clean.strip():
        replacement = ""  # a deletion writes nothing of the assistant's
    elif whole_lines:
        trailing = "\n" if old.endswith("\n") else ""
        replacement = mark_block(clean, at, session) + trailing
    else:
        replacement = clean
    updated = current[:start] + replacement + current[end:]
    if clean.strip() and not whole_lines:  # mark each line the edit touched, at its end
        lines = updated.split("\n")
        first = updated.count("\n", 0, start)
        last = first + replacement.count("\n")
        for index in range(first, last + 1):
            lines[index] = mark_line(lines[index])
        updated = "\n".join(lines)
    return updated


def _text_of(path: Path) -> str:
    """A file's text for comparison ("" when it is missing or unreadable)."""
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _already_says(current: str, text: str) -> bool:
    """`current` already holds this text as whole paragraphs (or, for one line, as a line),
    whitespace and markers aside: appending it again would only repeat it."""
    wanted = _paragraphs(remove_markers(text))
    if not wanted or not current:
        return False
    plain = "\n".join(read_marks(current.split("\n")).lines)
    if "\x00" not in wanted and wanted in {_SPACE.sub(" ", s).strip() for s in plain.split("\n")}:
        return True
    return f"\x00{wanted}\x00" in f"\x00{_paragraphs(plain)}\x00"


def _paragraphs(text: str) -> str:
    """Paragraphs with whitespace collapsed, joined by NUL (a boundary no text contains)."""
    blocks = (_SPACE.sub(" ", block).strip() for block in re.split(r"\n\s*\n", text))
    return "\x00".join(block for block in blocks if block)


def _clean_entry(text: str) -> str:
    body = remove_markers(text).strip()
    if not body:
        raise MemoryWriteError("nothing to write: the entry is empty")
    if len(body) > MAX_ENTRY_CHARS:
        raise MemoryWriteError(
            f"the entry is {len(body)} chars; one entry may be at most {MAX_ENTRY_CHARS}: "
            "write the essentials"
        )
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


# -- versions, pending edits, the write log -----------------------------------------------


def _versions_dir(config: Config, file: str) -> Path:
    return config.versions_dir / file.replace("/", "__")


def keep_version(config: Config, path: Path, text: str, now: datetime) -> str:
    """Keep `text` as a version of `path`; every name is new (a counter breaks a tie)."""
    folder = _versions_dir(config, relative_path(config.workspace_dir.resolve(), path))
    stamp = now.astimezone().strftime("%Y%m%dT%H%M%S.%f%z")
    target = folder / f"{path.stem}.{stamp}{path.suffix}"
    counter = 1
    while target.exists():
        target = folder / f"{path.stem}.{stamp}-{counter}{path.suffix}"
        counter += 1
    atomic_write(target, text)
    return target.relative_to(config.home).as_posix()  # no machine path reaches a model


def _pending_path(config: Config, pending_id: str) -> Path:
    if not re.fullmatch(r"[0-9a-f]{12}", pending_id or ""):
        raise PendingEditNotFound(f"no pending edit {pending_id!r}")
    return config.versions_dir / "pending" / f"{pending_id}.json"


def _keep_pending(config: Config, old: str, new: str, session: str, share: float) -> str:
    pending_id = secrets.token_hex(6)
    record = {"old": old, "new": new, "session": session, "share": share, "at": time.time()}
    atomic_write(_pending_path(config, pending_id), json.dumps(record), mode=0o600)
    return pending_id


def _log_write(
    config: Config, file: str, action: str, session: str, size: int, version: str = "", **extra
) -> None:
    """One line per write in `data/versions/writes.jsonl` (and a `memory_write` log event)."""
    row = {"at": datetime.now(UTC).isoformat(), "file": file, "action": action}
    row |= {"session": session, "bytes": size, "version": version, **extra}
    log.info("memory_write", **row)
    config.versions_dir.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8")
    fd = os.open(
        config.versions_dir / "writes.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600
    )
    try:
        write_all(fd, line)
    finally:
        os.close(fd)


def _write_log(config: Config) -> list[dict]:
    try:
        text = (config.versions_dir / "writes.jsonl").read_text(encoding="utf-8")
    except OSError:
        return []
    rows = []
    for line in text.splitlines():
        with contextlib.suppress(ValueError):
            rows.append(json.loads(line))
    return rows


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
