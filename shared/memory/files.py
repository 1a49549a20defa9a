"""Finding the workspace's markdown files and reading them defensively.

A workspace is the user's folder: it may hold binary files named `.md`, invalid UTF-8, huge
files, FIFOs, dangling links or links that leave it. Each is read as well as it can be, or
skipped with a reason; nothing here raises on bad content.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

# Directory names never descended into (as OpenClaw's watcher ignores them).
IGNORED_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        "node_modules",
        ".pnpm-store",
        ".venv",
        "venv",
        ".tox",
        "__pycache__",
        ".openclaw",
        ".trash",
        ".Trash",
    }
)
BINARY_SNIFF_BYTES = 8192


def is_note_name(rel: str) -> bool:
    """A workspace-relative path names a note: `*.md`, with no hidden (dot) part and no
    ignored folder on the way (`.git/`, `node_modules/`, ...). The index and every read route
    use this one rule (see shared.memory.access)."""
    parts = Path(rel).parts
    if not parts or not parts[-1].lower().endswith(".md"):
        return False
    return not any(part.startswith(".") or part in IGNORED_DIRS for part in parts)


@dataclass(frozen=True)
class DiskFile:
    size: int
    mtime_ns: int


@dataclass
class ReadFile:
    text: str
    hash: str
    size: int
    mtime_ns: int
    warnings: list[str] = field(default_factory=list)


class SkipFile(Exception):
    """This file cannot be indexed; the message is the reason shown to the user."""


def scan_workspace(workspace: Path, start: Path | None = None) -> dict[str, DiskFile]:
    """Every indexable `*.md` under the workspace (or under `start` in it), by relative path.

    Symlinks are followed only when their target stays inside the workspace, and a file reached
    through a link is skipped when its target is indexed under its own path.
    """
    root = workspace.resolve()
    found: dict[str, DiskFile] = {}
    linked: dict[str, tuple[str, DiskFile]] = {}  # real path -> (link path, stat)
    seen_dirs: set[str] = set()
    top = root if start is None else root / start.relative_to(root)
    for dirpath, dirnames, filenames in os.walk(top, followlinks=True):
        real_dir = os.path.realpath(dirpath)
        if real_dir in seen_dirs or not _inside(root, real_dir):
            dirnames[:] = []  # a link loop or a link out of the workspace
            continue
        seen_dirs.add(real_dir)
        dirnames[:] = sorted(d for d in dirnames if d not in IGNORED_DIRS and not d.startswith("."))
        for name in sorted(filenames):
            if not name.lower().endswith(".md") or name.startswith("."):
                continue
            full = os.path.join(dirpath, name)
            rel = Path(full).relative_to(root).as_posix()
            try:
                st = os.stat(full)  # follows links; dangling links raise
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode):
                continue
            disk = DiskFile(st.st_size, st.st_mtime_ns)
            real = os.path.realpath(full)
            if real != os.path.normpath(full) or real_dir != os.path.normpath(dirpath):
                if _inside(root, real):
                    linked.setdefault(real, (rel, disk))
                continue
            found[rel] = disk
    for real, (rel, disk) in linked.items():
        target = Path(real).relative_to(root).as_posix()
        if target not in found and (start is None or not (root / target).exists()):
            found[rel] = disk
    return found


def file_hash(path: Path, max_bytes: int) -> str | None:
    """sha256 of a file's bytes (None when unreadable or over the size limit)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError:
        return None
    return hashlib.sha256(data).hexdigest() if len(data) <= max_bytes else None


def _inside(root: Path, real: str) -> bool:
    return real == str(root) or real.startswith(str(root) + os.sep)


def read_markdown(path: Path, max_bytes: int) -> ReadFile:
    """Read a markdown file as text, or raise SkipFile with the reason."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise SkipFile("file disappeared before it could be read") from None
    except OSError as exc:
        raise SkipFile(f"unreadable: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as handle:
        st = os.fstat(handle.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise SkipFile("not a regular file")
        if st.st_size > max_bytes:
            raise SkipFile(
                f"too large: {st.st_size / 1e6:.1f} MB is over the {max_bytes / 1e6:g} MB limit"
            )
        try:
            data = handle.read(max_bytes + 1)
        except OSError as exc:
            raise SkipFile(f"unreadable: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise SkipFile(f"too large: grew past the {max_bytes / 1e6:g} MB limit while reading")
    text, warnings = decode_text(data)
    return ReadFile(text, hashlib.sha256(data).hexdigest(), len(data), st.st_mtime_ns, warnings)


def decode_text(data: bytes) -> tuple[str, list[str]]:
    """UTF-8 text of a file; binary data raises SkipFile, invalid bytes are replaced and noted."""
    if b"\x00" in data[:BINARY_SNIFF_BYTES]:
        raise SkipFile("binary content (NUL bytes), not markdown")
    try:
        return data.decode("utf-8-sig"), []
    except UnicodeDecodeError:
        pass
    text = data.decode("utf-8", errors="replace").removeprefix("\ufeff")
    bad = text.count("\ufffd")
    if bad > max(16, len(text) // 10):
        raise SkipFile(f"binary content ({bad} invalid UTF-8 sequences), not markdown")
    return text, [f"invalid UTF-8: {bad} byte sequence(s) replaced with U+FFFD"]
