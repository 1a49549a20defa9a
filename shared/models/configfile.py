"""Setting keys in config.toml while keeping the rest of the file as the user wrote it.

Only the lines of the keys that change are touched (comments, order and other sections stay
byte for byte); values are written by tomli-w, and the result is read back with tomllib before
it replaces the file, atomically. A file laid out so that a key cannot be found on its own line
(a dotted key, an inline table) is rewritten whole by tomli-w instead, after a backup.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w

REMOVE = object()  # a value meaning "delete this key"


class ConfigEditError(Exception):
    """config.toml could not be changed; the message says why."""


@dataclass
class Change:
    section: str
    key: str
    old: Any  # None: was not set
    new: Any  # None: removed

    def describe(self) -> str:
        where = f"[{self.section}] {self.key}"
        if self.new is None:
            return f"{where}: removed (was {_shown(self.old)})"
        if self.old is None:
            return f"{where}: set to {_shown(self.new)}"
        return f"{where}: {_shown(self.old)} -> {_shown(self.new)}"

    def as_dict(self) -> dict:
        return {"section": self.section, "key": self.key, "old": self.old, "new": self.new}


def _shown(value: Any) -> str:
    return tomli_w.dumps({"v": value}).strip()[4:]


def set_keys(path: Path, updates: dict[tuple[str, str], Any]) -> list[Change]:
    """Set (or with REMOVE, delete) `(section, key)` values in the TOML file at `path`;
    returns what actually changed (nothing is written when nothing changes)."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    try:
        before = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigEditError(f"{path} is not valid TOML ({exc}); fix it first") from None
    changes = []
    for (section, key), value in updates.items():
        table = before.get(section)
        old = table.get(key) if isinstance(table, dict) else None
        new = None if value is REMOVE else value
        if value is REMOVE and old in (None, ""):
            continue  # an empty value and no value mean the same: nothing to remove
        if old != new:
            changes.append(Change(section, key, old, new))
    if not changes:
        return []
    lines = text.splitlines(keepends=True)
    for change in changes:
        lines = _edit(lines, change)
    edited = "".join(lines)
    if not _matches(edited, before, changes):
        backup = path.with_name(path.name + ".bak")
        backup.write_text(text, encoding="utf-8")
        edited = tomli_w.dumps(_apply(before, changes))
    _write(path, edited)
    return changes


def _edit(lines: list[str], change: Change) -> list[str]:
    start, end = _section_range(lines, change.section)
    key_line = re.compile(rf"^\s*(?:{re.escape(change.key)}|\"{re.escape(change.key)}\")\s*=")
    found = next((i for i in range(start, end) if key_line.match(lines[i])), None)
    if change.new is None:
        return lines if found is None else lines[:found] + lines[found + 1 :]
    new_line = tomli_w.dumps({change.key: change.new})
    if found is not None:
        return lines[:found] + [new_line] + lines[found + 1 :]
    if start == end == len(lines) and not _has_header(lines, change.section):
        tail = "" if not lines or lines[-1].endswith("\n") else "\n"
        return lines + [f"{tail}\n[{change.section}]\n", new_line]
    # After a commented-out example of the key (`# model = ...`), else after the header.
    commented = re.compile(rf"^\s*#\s*{re.escape(change.key)}\s*=")
    at = next((i + 1 for i in range(start, end) if commented.match(lines[i])), start)
    return lines[:at] + [new_line] + lines[at:]


def _has_header(lines: list[str], section: str) -> bool:
    header = re.compile(rf"^\s*\[\s*{re.escape(section)}\s*\]\s*(#.*)?$")
    return any(header.match(line) for line in lines)


def _section_range(lines: list[str], section: str) -> tuple[int, int]:
    """Lines after `[section]` up to the next table header; (n, n) when there is no header."""
    header = re.compile(rf"^\s*\[\s*{re.escape(section)}\s*\]\s*(#.*)?$")
    for i, line in enumerate(lines):
        if header.match(line):
            end = next(
                (j for j in range(i + 1, len(lines)) if lines[j].lstrip().startswith("[")),
                len(lines),
            )
            return i + 1, end
    return len(lines), len(lines)


def _apply(data: dict, changes: list[Change]) -> dict:
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in data.items()}
    for change in changes:
        section = out.setdefault(change.section, {})
        if change.new is None:
            section.pop(change.key, None)
        else:
            section[change.key] = change.new
    return out


def _matches(text: str, before: dict, changes: list[Change]) -> bool:
    try:
        after = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return False
    return after == _apply(before, changes)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(path.name + f".{os.getpid()}.tmp")
    temp.write_text(text, encoding="utf-8")
    if path.exists():
        os.chmod(temp, path.stat().st_mode & 0o777)
    os.replace(temp, path)
