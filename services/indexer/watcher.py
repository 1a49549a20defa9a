"""Turning file-system events into the workspace paths to re-check.

watchfiles' change types lie under atomic saves (a rename shows as "added") and a directory
created and filled at once often yields no file events, so events are only hints: every
markdown path mentioned is re-checked on disk by the job, new directories are scanned, and a
deleted directory stands for every indexed file under it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

from watchfiles import Change, DefaultFilter

from shared.memory.files import IGNORED_DIRS, scan_workspace


class MarkdownOrDirFilter(DefaultFilter):
    """Markdown files and directories, minus DefaultFilter's ignores (.git, *.swp, *~ ...)."""

    def __call__(self, change: Change, path: str) -> bool:
        if not super().__call__(change, path):
            return False
        return path.lower().endswith(".md") or change == Change.deleted or os.path.isdir(path)


def paths_to_check(
    workspace: Path,
    changes: Iterable[tuple[Change, str]],
    indexed_under: Callable[[str], list[str]],
) -> set[str]:
    """Workspace-relative markdown paths touched by a batch of events."""
    root = workspace.resolve()
    found: set[str] = set()
    for change, raw in changes:
        path = Path(raw)
        try:
            rel = path.relative_to(root).as_posix()
        except ValueError:
            continue
        hidden = any(part in IGNORED_DIRS or part.startswith(".") for part in Path(rel).parts)
        if rel == "." or hidden:
            continue
        if path.is_dir():
            found.update(scan_workspace(root, start=path))
        elif rel.lower().endswith(".md"):
            found.add(rel)
        elif change == Change.deleted:
            found.update(indexed_under(rel))
    return found
