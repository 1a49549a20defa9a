"""Session transcripts: one append-only JSONL file a session under `sessions/`, resumable.

The layout follows OpenClaw/pi (openclaw-compat §5.2): a `session` header line, then entries
with `id`, `parentId` and `timestamp`: `message` (an OpenAI-shaped chat message), `compaction`
(`summary`, `firstKeptEntryId`, `tokensBefore`) and `custom` (bookkeeping outside the context).
Lines are only ever appended; a line torn by a crash is skipped on load, not fatal.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shared.logs import get_logger

log = get_logger(__name__)

SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
FLUSH_TYPE = "localgpt:memory-flush"
# Turns that ended without an answer stay in the transcript (never in the model's context):
# what was asked, and the error or the stop. A rename is an entry too (the file stays append-only).
FAILED_TYPE = "localgpt:turn-failed"
STOPPED_TYPE = "localgpt:turn-stopped"
TITLE_TYPE = "localgpt:title"
UNANSWERED_TYPES = (FAILED_TYPE, STOPPED_TYPE)
MAX_TITLE_CHARS = 200
VERSION = 1


class SessionError(ValueError):
    """A session cannot be opened or created; the message says why."""


@dataclass
class SessionInfo:
    id: str
    path: Path
    created: str
    updated: float  # mtime
    messages: int
    title: str  # the first user message, shortened
    model: str


def new_session_id() -> str:
    return f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def _iso_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Session:
    """An open transcript: its entries in memory, appended to disk as they happen."""

    def __init__(self, path: Path, header: dict, entries: list[dict]) -> None:
        self.path = path
        self.header = header
        self.entries = entries

    @property
    def id(self) -> str:
        return self.header["id"]

    @property
    def model(self) -> str:
        return self.header.get("model", "")

    def append(self, entry: dict) -> dict:
        """Add an entry (id, parentId and timestamp are filled in) and write it durably."""
        entry = {
            "id": secrets.token_hex(4),
            "parentId": self.entries[-1]["id"] if self.entries else None,
            "timestamp": _iso_now(),
            **entry,
        }
        _append_line(self.path, entry)
        self.entries.append(entry)
        return entry

    def add_message(self, message: dict, **extra: Any) -> dict:
        return self.append({"type": "message", "message": message, **extra})

    def add_compaction(self, summary: str, first_kept_id: str | None, tokens_before: int) -> dict:
        return self.append(
            {
                "type": "compaction",
                "summary": summary,
                "firstKeptEntryId": first_kept_id,
                "tokensBefore": tokens_before,
            }
        )

    def add_custom(self, custom_type: str, data: dict) -> dict:
        return self.append({"type": "custom", "customType": custom_type, "data": data})

    def rename(self, title: str) -> str:
        """Give the session a title of the user's (an appended entry; the latest one wins)."""
        line = " ".join(title.split())
        if not line:
            raise SessionError("a session title must not be empty")
        if len(line) > MAX_TITLE_CHARS:
            raise SessionError(f"a session title is at most {MAX_TITLE_CHARS} characters")
        self.add_custom(TITLE_TYPE, {"title": line})
        return line

    @property
    def title(self) -> str:
        return _title(self.entries)

    @property
    def compaction_count(self) -> int:
        return sum(1 for e in self.entries if e.get("type") == "compaction")

    def flushed_this_cycle(self) -> bool:
        """True once the memory flush has run since the last compaction (once per cycle)."""
        count = self.compaction_count
        return any(
            e.get("type") == "custom"
            and e.get("customType") == FLUSH_TYPE
            and e.get("data", {}).get("compactionCount") == count
            for e in self.entries
        )

    def summary(self) -> str:
        latest = self._latest_compaction()
        return latest.get("summary", "") if latest else ""

    def context_entries(self) -> list[dict]:
        """Message entries the model still sees: those after the last compaction's cut."""
        latest = self._latest_compaction()
        messages = [e for e in self.entries if e.get("type") == "message"]
        if latest is None:
            return messages
        keep_from = latest.get("firstKeptEntryId")
        ids = [e["id"] for e in messages]
        if keep_from is None or keep_from not in ids:
            return []
        return messages[ids.index(keep_from) :]

    def context_messages(self) -> list[dict]:
        return [e["message"] for e in self.context_entries()]

    def _latest_compaction(self) -> dict | None:
        return next((e for e in reversed(self.entries) if e.get("type") == "compaction"), None)


class SessionStore:
    """The `sessions/` folder: create, open, list."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path_for(self, session_id: str) -> Path:
        if not SESSION_ID.match(session_id):
            raise SessionError(
                f"invalid session id {session_id!r}: use letters, digits, '-' and '_' only"
            )
        return self.directory / f"{session_id}.jsonl"

    def create(self, model: str, cwd: Path, session_id: str | None = None) -> Session:
        session_id = session_id or new_session_id()
        path = self.path_for(session_id)
        self.directory.mkdir(parents=True, exist_ok=True)
        header = {
            "type": "session",
            "version": VERSION,
            "id": session_id,
            "timestamp": _iso_now(),
            "cwd": str(cwd),
            "model": model,
        }
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise SessionError(f"session {session_id} already exists") from None
        os.close(fd)
        _append_line(path, header)
        return Session(path, header, [])

    def open(self, session_id: str) -> Session:
        path = self.path_for(session_id)
        if not path.is_file():
            raise SessionError(f"no session {session_id!r} in {self.directory}")
        header, entries = _load(path)
        return Session(path, header, entries)

    def archive(self, session_id: str) -> Path:
        """Move a transcript aside as `<id>.jsonl.deleted.<µs since epoch>` (OpenClaw's
        `.deleted.` suffix), never over an earlier archive: a hard link claims the new name
        (it fails if the name is taken, unlike a rename), then the transcript is unlinked."""
        path = self.path_for(session_id)
        if not path.is_file():
            raise SessionError(f"no session {session_id!r} in {self.directory}")
        stamp = time.time_ns() // 1000
        for attempt in range(1000):
            suffix = f".deleted.{stamp}" + (f"-{attempt}" if attempt else "")
            target = path.with_name(path.name + suffix)
            try:
                os.link(path, target)
            except FileExistsError:
                continue
            os.unlink(path)
            return target
        raise SessionError(f"cannot archive {session_id!r}: no free archive name")

    def resolve(self, given: str) -> str:
        """The id of the session `given` names: its id or a unique start of it
        (`shared.ids`). Raises UnknownId or AmbiguousId."""
        from shared.ids import InvalidId, resolve_id

        if not SESSION_ID.match(given.strip()):  # also keeps glob characters out
            raise InvalidId(f"invalid session id {given!r}: use letters, digits, '-' and '_' only")

        def starting_with(prefix: str, limit: int) -> list[str]:
            if not self.directory.is_dir():
                return []
            names = sorted(p.stem for p in self.directory.glob(f"{prefix}*.jsonl"))
            return [n for n in names if SESSION_ID.match(n)][:limit]

        return resolve_id(given, starting_with, "session")

    def open_or_create(self, session_id: str, model: str, cwd: Path) -> Session:
        if self.path_for(session_id).is_file():
            return self.open(session_id)
        return self.create(model, cwd, session_id)

    def list(self) -> list[SessionInfo]:
        """Sessions, most recently used first."""
        if not self.directory.is_dir():
            return []
        infos = []
        for path in self.directory.glob("*.jsonl"):
            if not SESSION_ID.match(path.stem):
                continue
            header, entries = _load(path)
            infos.append(
                SessionInfo(
                    id=header.get("id", path.stem),
                    path=path,
                    created=header.get("timestamp", ""),
                    updated=path.stat().st_mtime,
                    messages=sum(1 for e in entries if _is_message(e) or _unanswered(e)),
                    title=_title(entries),
                    model=header.get("model", ""),
                )
            )
        return sorted(infos, key=lambda i: i.updated, reverse=True)


def _is_message(entry: dict) -> bool:
    return entry.get("type") == "message"


def _unanswered(entry: dict) -> bool:
    """A failed or stopped turn (counted and titled like a message, shown with its error)."""
    return entry.get("type") == "custom" and entry.get("customType") in UNANSWERED_TYPES


def _title(entries: list[dict]) -> str:
    """The user's own title if renamed, else the first thing asked (answered or not)."""
    named = [
        e["data"].get("title")
        for e in entries
        if e.get("type") == "custom" and e.get("customType") == TITLE_TYPE and e.get("data")
    ]
    if named and named[-1]:
        return str(named[-1])
    shown = next((e.get("text") for e in entries if e.get("text")), None)
    for entry in entries:
        if shown:
            break
        if _is_message(entry) and entry["message"].get("role") == "user":
            shown = entry["message"].get("content") or ""
        elif _unanswered(entry):
            shown = (entry.get("data") or {}).get("text") or ""
    line = " ".join(str(shown or "").split())
    return line if len(line) <= 60 else line[:59] + "…"


def _append_line(path: Path, entry: dict) -> None:
    data = (json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8")
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            data = b"\n" + data  # a torn last line stays alone (and is skipped on load)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def _load(path: Path) -> tuple[dict, list[dict]]:
    header: dict = {"type": "session", "id": path.stem}
    entries: list[dict] = []
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError:
                log.warning("session_line_skipped", path=str(path), line=number)
                continue
            if not isinstance(item, dict):
                continue
            if item.get("type") == "session" and number == 1:
                header = item
            elif item.get("type") != "session" and "id" in item:
                entries.append(item)
    return header, entries
