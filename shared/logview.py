"""Reading the services' JSON log files: merged in time order, filtered, followed, formatted.

Files live in `$LOCALGPT_HOME/logs`: one chain per writing process, `<name>.jsonl` plus the
backups RotatingFileHandler made of it (`<name>.jsonl.1` newest ... `.5` oldest). Each chain is
in time order, so chains are merged lazily with heapq (a few rotated 10 MB files never sit in
memory at once). Following polls (no inotify dependency, works on every file system) and notices
rotation by the path naming a new inode: the old file is drained first, so no line is lost.
Lines that are not JSON objects with `ts` and `event` (a partial write, a stray print) are skipped.
"""

from __future__ import annotations

import heapq
import json
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any, NamedTuple

LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}
_LEVEL_ALIASES = {"warn": "warning", "exception": "error", "fatal": "critical"}
_BACKUP = re.compile(r"^(?P<base>.+\.jsonl)\.(?P<n>\d+)$")
_DURATION_PART = re.compile(r"(\d+)([dhms])")
_UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


class LogViewError(ValueError):
    """A filter the user gave cannot be used; the message says why."""


class Record(NamedTuple):
    ts: str
    data: dict[str, Any]
    raw: str


def parse_line(line: str) -> Record | None:
    """The record a log line holds, or None for anything that is not one."""
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        data = json.loads(line)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    ts, event = data.get("ts"), data.get("event")
    if not isinstance(ts, str) or parse_ts(ts) is None or event is None:
        return None
    return Record(ts, data, line)


def parse_ts(ts: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(ts)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def normalize_level(name: str) -> str:
    name = name.strip().lower()
    return _LEVEL_ALIASES.get(name, name)


def parse_level(name: str) -> int:
    level = normalize_level(name)
    if level not in LEVELS:
        raise LogViewError(f"unknown level {name!r}; use one of {', '.join(LEVELS)}")
    return LEVELS[level]


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """`90s`, `10m`, `1h30m`, `2d` ago, or an ISO timestamp (local time unless it has a zone)."""
    raw = text.strip().lower().replace(" ", "")
    parts = _DURATION_PART.findall(raw)
    if parts and "".join(n + u for n, u in parts) == raw:
        seconds = sum(int(n) * _UNIT_SECONDS[u] for n, u in parts)
        return (now or datetime.now(UTC)) - timedelta(seconds=seconds)
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise LogViewError(
            f"--since {text!r} is neither a duration like 10m, 1h30m, 2d nor a timestamp "
            "like 2026-11-23T01:30"
        ) from None
    return moment if moment.tzinfo else moment.astimezone()


@dataclass
class LogFilter:
    """Which records to show; an empty filter shows everything."""

    services: list[str] = field(default_factory=list)
    min_level: int = 0
    task: str | None = None
    since: datetime | None = None

    def matches(self, record: Record) -> bool:
        data = record.data
        if self.services and data.get("service") not in self.services:
            return False
        if self.min_level and _level_of(data) < self.min_level:
            return False
        if self.task and not str(data.get("task_id", "")).startswith(self.task):
            return False
        if self.since is not None:
            moment = parse_ts(record.ts)
            if moment is None or moment < self.since:
                return False
        return True


def _level_of(data: dict[str, Any]) -> int:
    return LEVELS.get(normalize_level(str(data.get("level", "info"))), LEVELS["info"])


class FileTail:
    """Complete lines of one path, read incrementally across rotation and truncation."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.handle: IO[bytes] | None = None
        self.inode: int | None = None
        self._partial = b""

    def open(self) -> bool:
        try:
            self.handle = open(self.path, "rb")  # noqa: SIM115 - kept open while following
        except OSError:
            return False
        self.inode = os.fstat(self.handle.fileno()).st_ino
        self._partial = b""
        return True

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
        self.handle = None

    def read_available(self) -> list[str]:
        """Lines completed since the last read; a trailing partial line waits for its end."""
        if self.handle is None:
            return []
        data = self._partial + self.handle.read()
        *lines, self._partial = data.split(b"\n")
        return [line.decode("utf-8", "replace") for line in lines]

    def poll(self) -> list[str]:
        """New lines; after a rotation, the rest of the old file then the new file's lines."""
        if self.handle is None and not self.open():
            return []
        try:
            current = os.stat(self.path)  # before draining: writes to the old file came first
        except FileNotFoundError:
            current = None
        lines = self.read_available()
        if current is None:
            return lines
        if current.st_ino != self.inode:
            lines += self._rotated_since()
            self.close()
            if self.open():
                lines += self.read_available()
        elif self.handle is not None and current.st_size < self.handle.tell():
            self.handle.seek(0)  # truncated in place
            self._partial = b""
            lines += self.read_available()
        return lines

    def _rotated_since(self) -> list[str]:
        """Lines of backups newer than the file we had open, when several rotations happened
        between two polls (our file is now `.k`: read `.k-1` ... `.1`). If our file is gone
        (deleted by hand, not rotated), the backups are old news and nothing is re-read."""
        newest_first = list(reversed(backups_of(self.path)))
        inodes = []
        for backup in newest_first:
            try:
                inodes.append(os.stat(backup).st_ino)
            except OSError:
                inodes.append(None)
        newer = newest_first[: inodes.index(self.inode)] if self.inode in inodes else []
        lines: list[str] = []
        for backup in reversed(newer):
            try:
                lines += backup.read_bytes().decode("utf-8", "replace").splitlines()
            except OSError:
                continue
        return lines


def backups_of(base: Path) -> list[Path]:
    """Rotated copies of `base`, oldest first (`.5`, `.4`, ... `.1`)."""
    found = []
    for path in base.parent.glob(base.name + ".*"):
        match = _BACKUP.match(path.name)
        if match and match["base"] == base.name:
            found.append((int(match["n"]), path))
    return [path for _, path in sorted(found, reverse=True)]


def _records(lines: Iterable[str]) -> Iterator[Record]:
    for line in lines:
        record = parse_line(line)
        if record is not None:
            yield record


class LogReader:
    """All chains in one log folder: their history merged by time, then what they append."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.tails: dict[Path, FileTail] = {}

    def bases(self) -> list[Path]:
        """Current files plus bases known only through backups (mid-rotation, or removed)."""
        if not self.log_dir.is_dir():
            return []
        names = {p for p in self.log_dir.glob("*.jsonl") if p.is_file()}
        for path in self.log_dir.glob("*.jsonl.*"):
            match = _BACKUP.match(path.name)
            if match:
                names.add(path.with_name(match["base"]))
        return sorted(names)

    def history(self) -> Iterator[Record]:
        """Every record now on disk, oldest first; following continues exactly after it."""
        streams = []
        for base in self.bases():
            tail = self.tails.setdefault(base, FileTail(base))
            tail.open()  # first, so a rotation meanwhile cannot hide lines
            streams.append(_records(self._chain_lines(tail)))
        return heapq.merge(*streams, key=lambda record: record.ts)

    def _chain_lines(self, tail: FileTail) -> Iterator[str]:
        for backup in backups_of(tail.path):
            try:
                with open(backup, "rb") as handle:
                    if tail.inode is not None and os.fstat(handle.fileno()).st_ino == tail.inode:
                        continue  # our open file was rotated into this name just now
                    for line in handle:
                        yield line.decode("utf-8", "replace")
            except OSError:
                continue
        yield from tail.read_available()

    def poll(self) -> list[Record]:
        """Records appended since the last call, in time order. A file that appeared meanwhile
        is read whole, with any backups it already rotated into."""
        found: list[Record] = []
        for base in self.bases():
            if base not in self.tails:
                tail = self.tails[base] = FileTail(base)
                tail.open()
                found.extend(_records(self._chain_lines(tail)))
        for tail in self.tails.values():
            found.extend(_records(tail.poll()))
        found.sort(key=lambda record: record.ts)
        return found

    def close(self) -> None:
        for tail in self.tails.values():
            tail.close()


# --- the readable form ------------------------------------------------------------------------

_CORE_KEYS = {"ts", "level", "event", "service", "pid", "logger"}
_BARE_VALUE = re.compile(r"^[^\s\"'=\x00-\x1f\x7f-\x9f]+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_LEVEL_STYLE = {
    "debug": "2",
    "info": "32",
    "warning": "33",
    "error": "31",
    "critical": "1;31",
}
_SERVICE_COLOURS = ["36", "35", "34", "32", "33", "96", "95", "94"]


def _paint(text: str, style: str, colour: bool) -> str:
    return f"\x1b[{style}m{text}\x1b[0m" if colour and style else text


def _escape(text: str) -> str:
    """No control character from a log line reaches the terminal (no escape injection)."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode(), text)


def format_value(value: Any) -> str:
    if isinstance(value, str):
        return value if _BARE_VALUE.match(value) else json.dumps(value, ensure_ascii=False)
    return _escape(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


def _exception_summary(value: Any) -> str:
    """`exc_type: exc_value` of structlog's dict traceback (the innermost exception)."""
    if isinstance(value, list) and value and isinstance(value[-1], dict):
        last = value[-1]
        return f"{last.get('exc_type', 'Exception')}: {last.get('exc_value', '')}"
    return str(value).strip().splitlines()[-1] if str(value).strip() else ""


def local_time(ts: str) -> str:
    moment = parse_ts(ts)
    if moment is None:
        return ts
    local = moment.astimezone()
    return local.strftime("%Y-%m-%d %H:%M:%S.") + f"{local.microsecond // 1000:03d}"


def format_record(record: Record, colour: bool = False) -> str:
    """`time service[pid] level event key=value ...` on one line."""
    data = record.data
    service = str(data.get("service", "?"))
    level = normalize_level(str(data.get("level", "info")))
    service_style = _SERVICE_COLOURS[sum(service.encode()) % len(_SERVICE_COLOURS)]
    head = [
        _paint(local_time(record.ts), "2", colour),
        _paint(_escape(f"{service}[{data.get('pid', '?')}]"), service_style, colour),
        _paint(f"{level:<8}", _LEVEL_STYLE.get(level, ""), colour),
        _paint(_escape(str(data.get("event"))), "1", colour),
    ]
    extras = []
    for key, value in data.items():
        if key in _CORE_KEYS:
            continue
        shown = _exception_summary(value) if key == "exception" else value
        extras.append(_paint(_escape(key) + "=", "2", colour) + format_value(shown))
    return " ".join(head + extras)
