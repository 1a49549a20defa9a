"""Durable file writes, shared by memory, heartbeat and token writes.

A module of its own, outside `shared.memory`: importing that package loads numpy and the index,
which the heartbeat process does not need.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def write_all(fd: int, data: bytes) -> None:
    """`os.write` until every byte is written (it may write fewer than asked)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def fsync_dir(directory: Path) -> None:
    """Make a rename or a new file in `directory` survive a crash."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, text: str, mode: int | None = None) -> None:
    """Replace `path` with `text` so a reader sees the old file or the new one, never a mix.
    Without `mode`, an existing file keeps its mode and a new one gets mkstemp's 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        write_all(fd, text.encode("utf-8"))
        os.fsync(fd)
        os.close(fd)
        fd = -1
        if mode is not None:
            os.chmod(tmp, mode)
        elif path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        os.replace(tmp, path)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)
