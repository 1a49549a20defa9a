"""The tool a heartbeat run uses to tick items off in HEARTBEAT.md (`- [ ]` <-> `- [x]`).

It changes exactly one byte, the mark inside the brackets, and nothing else in the file. The
new file is written to a temp file, fsynced and swapped in with os.replace, and only if the
file still holds what was read (a user saving meanwhile is retried, never overwritten).
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from shared.durable import fsync_dir
from shared.heartbeat.checklist import HEARTBEAT_FILE
from shared.workspace import resolve_in_workspace

_ITEM = re.compile(r"^(?P<lead>[ \t]*(?:[-*+]|\d{1,9}[.)])[ \t]+\[)(?P<mark>[ xX])\](?:[ \t]+|$)")
_FENCE = re.compile(r"^[ \t]{0,3}(```|~~~)")
ATTEMPTS = 3


class CheckboxError(ValueError):
    """The item cannot be changed; the message says why and what exists."""


class NoMatchError(CheckboxError):
    pass


class AmbiguousMatchError(CheckboxError):
    pass


class ConcurrentEditError(CheckboxError):
    pass


@dataclass(frozen=True)
class Item:
    line: int  # 1-based
    text: str
    checked: bool
    mark_offset: int  # character offset of the mark in the file


@dataclass(frozen=True)
class CheckboxResult:
    path: Path
    line: int
    text: str
    checked: bool
    changed: bool  # False when it already had that state (the file is not written)


def list_items(text: str) -> list[Item]:
    """Checkbox list items outside fenced code blocks."""
    items: list[Item] = []
    offset = 0
    in_fence = False
    for number, line in enumerate(text.split("\n"), start=1):
        if _FENCE.match(line):
            in_fence = not in_fence
        elif not in_fence and (match := _ITEM.match(line)):
            label = _normalise(line[match.end() :])
            items.append(Item(number, label, match["mark"] != " ", offset + match.start("mark")))
        offset += len(line) + 1
    return items


def _normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def find_item(items: list[Item], wanted: str) -> Item:
    """Exact text, then case-insensitive, then a case-insensitive part of one item's text."""
    target = _normalise(wanted)
    if not target:
        raise NoMatchError("give the text of the item to change")
    folded = target.casefold()
    for matches in (
        [i for i in items if i.text == target],
        [i for i in items if i.text.casefold() == folded],
        [i for i in items if folded in i.text.casefold()],
    ):
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            lines = "; ".join(f"line {i.line}: {i.text!r}" for i in matches)
            raise AmbiguousMatchError(f"{wanted!r} matches {len(matches)} items ({lines})")
    known = "; ".join(repr(i.text) for i in items) or "none"
    raise NoMatchError(f"no checkbox item matches {wanted!r} (items: {known})")


def set_checkbox(workspace: Path, item: str, checked: bool = True) -> CheckboxResult:
    """Tick (or untick) the HEARTBEAT.md item whose text is `item`."""
    path = resolve_in_workspace(workspace, HEARTBEAT_FILE)
    for _ in range(ATTEMPTS):
        try:
            original = path.read_bytes()
        except FileNotFoundError:
            raise CheckboxError(f"{HEARTBEAT_FILE} does not exist") from None
        found, updated = _apply(original, item, checked)
        if updated is None:
            return CheckboxResult(path, found.line, found.text, checked, changed=False)
        try:
            _swap_in(path, original, updated)
        except ConcurrentEditError:
            continue
        return CheckboxResult(path, found.line, found.text, checked, changed=True)
    raise ConcurrentEditError(f"{HEARTBEAT_FILE} kept changing while being updated; try again")


def _apply(original: bytes, item: str, checked: bool) -> tuple[Item, bytes | None]:
    """The matched item and the new bytes (None when already in the wanted state)."""
    try:
        text = original.decode("utf-8")
    except UnicodeDecodeError:
        raise CheckboxError(f"{HEARTBEAT_FILE} is not valid UTF-8; not touching it") from None
    found = find_item(list_items(text), item)
    if found.checked == checked:
        return found, None
    at = len(text[: found.mark_offset].encode("utf-8"))
    if original[at : at + 1] not in (b" ", b"x", b"X"):
        raise CheckboxError(f"internal error: no checkbox mark at byte {at}")
    return found, original[:at] + (b"x" if checked else b" ") + original[at + 1 :]


def _swap_in(path: Path, original: bytes, updated: bytes) -> None:
    """Write a temp file beside `path`, fsync it, and os.replace it in if `path` is unchanged."""
    temp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        try:
            view = memoryview(updated)
            while view:
                view = view[os.write(fd, view) :]
            os.fchmod(fd, path.stat().st_mode & 0o7777)
            os.fsync(fd)
        finally:
            os.close(fd)
        if path.read_bytes() != original:
            raise ConcurrentEditError(f"{HEARTBEAT_FILE} changed while being updated")
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
