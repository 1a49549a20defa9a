"""Each service process's own log file, `<log_dir>/<service>.jsonl`, rotated by size.

Two processes of one service (two workers) must never share a file: rotating renames the file,
so a second writer would keep appending to the renamed file, or rotate it again. Each process
therefore claims a numbered slot with a non-blocking `flock` held for its lifetime: slot 1 writes
`worker.jsonl`, slot 2 `worker.2.jsonl`, and so on. The kernel releases the lock when the process
dies (even by SIGKILL), so restarts reuse the same files and the disk used stays bounded by
(concurrent processes) x (max_bytes x (backups + 1)), unlike a file per pid.

Backups are named as the stdlib's RotatingFileHandler names them (`worker.jsonl.1` newest ...
`.5` oldest), which is what `shared.logview` reads.
"""

from __future__ import annotations

import fcntl
import os
import re
import stat
import threading
from pathlib import Path

from shared.durable import write_all

MAX_SLOTS = 64
_SERVICE_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


class LogFileBusy(RuntimeError):
    """Every slot of a service's log files is held by another live process."""


class _Slot:
    """This process's claimed log file (one per process, kept across reconfiguration)."""

    key: tuple[str, Path] | None = None
    lock_fd: int | None = None
    path: Path | None = None

    @classmethod
    def claim(cls, log_dir: Path, service: str) -> Path:
        key = (service, log_dir.resolve())
        if cls.key == key and cls.path is not None:
            return cls.path
        cls.release()
        log_dir.mkdir(parents=True, exist_ok=True)
        for slot in range(1, MAX_SLOTS + 1):
            fd = os.open(log_dir / f".{service}.{slot}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            cls.key, cls.lock_fd = key, fd
            cls.path = log_dir / (f"{service}.jsonl" if slot == 1 else f"{service}.{slot}.jsonl")
            return cls.path
        raise LogFileBusy(f"all {MAX_SLOTS} log files of {service!r} in {log_dir} are in use")

    @classmethod
    def release(cls) -> None:
        if cls.lock_fd is not None:
            os.close(cls.lock_fd)
        cls.key = cls.lock_fd = cls.path = None


def log_file_for(service: str, log_dir: Path) -> Path:
    """Claim (or return this process's already claimed) log file of `service` in `log_dir`."""
    if not _SERVICE_NAME.match(service):
        raise ValueError(f"service name {service!r} cannot name a log file")
    return _Slot.claim(log_dir, service)


def release_log_file() -> None:
    """Give up this process's claimed file (a process that stops writing files)."""
    _Slot.release()


def running_writers(service: str, log_dir: Path) -> int:
    """How many live processes hold a log file of `service` (i.e. run it against this home)."""
    count = 0
    for lock in log_dir.glob(f".{service}.*.lock"):
        try:
            fd = os.open(lock, os.O_RDONLY)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            count += 1
        finally:
            os.close(fd)
    return count


class RotatingFile:
    """Appends whole lines to `path` (readable by the owner only: lines may quote notes and
    task text), starting a new file before one would grow past `max_bytes`.

    One `os.write` a line, on an O_APPEND descriptor: no buffer to flush, and a line is never
    split across files. Only a regular file rotates (not /dev/null or a pipe put in its place).
    """

    def __init__(self, path: Path, max_bytes: int, backups: int) -> None:
        self.path, self.max_bytes, self.backups = path, max_bytes, backups
        self._lock = threading.Lock()
        self._fd = -1
        self._size = 0
        self._regular = False
        self._closed = False
        self._open()

    def write(self, line: str) -> None:
        data = line.encode("utf-8", "backslashreplace") + b"\n"
        with self._lock:
            if self._closed:  # a late line for a file given up (logging was reconfigured)
                return
            if self._fd < 0:  # a rotation failed to reopen it: try again
                self._open()
            if self._should_rotate(len(data)):
                self._rotate()
            write_all(self._fd, data)
            self._size += len(data)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1

    def _open(self) -> None:
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        info = os.fstat(self._fd)
        self._regular, self._size = stat.S_ISREG(info.st_mode), info.st_size

    def _should_rotate(self, incoming: int) -> bool:
        rotates = self._regular and self.max_bytes > 0 and self.backups > 0
        return rotates and self._size > 0 and self._size + incoming > self.max_bytes

    def _rotate(self) -> None:
        """`name.jsonl` -> `.1`, `.1` -> `.2`, ...; the oldest backup is dropped."""
        os.close(self._fd)
        self._fd = -1
        for n in range(self.backups - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{n}")
            if older.exists():
                os.replace(older, self.path.with_name(f"{self.path.name}.{n + 1}"))
        if self.path.exists():
            os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))
        self._open()
