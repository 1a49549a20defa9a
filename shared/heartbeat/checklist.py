"""HEARTBEAT.md as OpenClaw reads it: the "effectively empty" gate and the optional `tasks:` block.

Ported from OpenClaw's `isHeartbeatContentEffectivelyEmpty`, `parseHeartbeatTasks`, `isTaskDue`
and the runner's `stripHeartbeatTasksBlock`, so a workspace behaves the same under both.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from shared.heartbeat.schedule import ScheduleError, parse_interval

HEARTBEAT_FILE = "HEARTBEAT.md"

_HEADING = re.compile(r"^#+(\s|$)")  # `#TODO` and `#tag` are content, not headings
_EMPTY_ITEM = re.compile(r"^[-*+]\s*(\[[\sXx]?\]\s*)?$")
_FENCE = re.compile(r"^```[A-Za-z0-9_-]*$")
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_EDGE_QUOTE = re.compile(r"^[\"']|[\"']$")


@dataclass(frozen=True)
class Task:
    """One `- name:` entry of the `tasks:` block."""

    name: str
    interval_text: str
    prompt: str

    @property
    def interval(self) -> timedelta | None:
        """None when the interval cannot be parsed (the task is then never due, as OpenClaw)."""
        try:
            return parse_interval(self.interval_text)
        except ScheduleError:
            return None


@dataclass(frozen=True)
class Checklist:
    text: str
    tasks: tuple[Task, ...]

    @property
    def effectively_empty(self) -> bool:
        """Skip the model call: nothing actionable. (A `tasks:` line is content, so a file with
        tasks is never empty; OpenClaw's extra `tasks.length === 0` check is implied.)"""
        return is_effectively_empty(self.text)


def read_checklist(workspace: Path) -> Checklist | None:
    """The workspace's HEARTBEAT.md, or None when it is missing (the heartbeat still runs then:
    OpenClaw reverted skipping on a missing file in v2026.2.21). Other read errors propagate."""
    try:
        text = (workspace / HEARTBEAT_FILE).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return None
    text = text.removeprefix("\ufeff")
    return Checklist(text=text, tasks=tuple(parse_tasks(text)))


def is_effectively_empty(text: str) -> bool:
    """Only blank lines, ATX headings (`# ...`, so the classic `# comment` lines), empty list
    items (`-`, `- [ ]`), fence markers and HTML comments."""
    for line in _HTML_COMMENT.sub("", text).split("\n"):
        trimmed = line.strip()
        if not trimmed or _HEADING.match(trimmed) or _EMPTY_ITEM.match(trimmed):
            continue
        if _FENCE.match(trimmed):
            continue
        return False
    return True


def parse_tasks(text: str) -> list[Task]:
    """OpenClaw's line parser: `tasks:` opens the block, `- name:` starts a task, indented
    `interval:` / `prompt:` lines are its fields; a task needs all three to count."""
    lines = text.split("\n")
    tasks: list[Task] = []
    in_block = False
    for index, line in enumerate(lines):
        trimmed = line.strip()
        if trimmed == "tasks:":
            in_block = True
            continue
        if not in_block:
            continue
        if trimmed and not trimmed.startswith(("interval:", "prompt:", "-")):
            in_block = False
            continue
        if trimmed.startswith("- name:"):
            task, block_ended = _read_task(lines, index)
            if task:
                tasks.append(task)
            in_block = not block_ended
    return tasks


def _read_task(lines: list[str], index: int) -> tuple[Task | None, bool]:
    """The task starting at `lines[index]`, and whether a non-field line ended the block."""
    name = _unquote(lines[index].strip().removeprefix("- name:"))
    interval = prompt = ""
    block_ended = False
    for line in lines[index + 1 :]:
        trimmed = line.strip()
        indented = line.startswith((" ", "\t"))
        if trimmed.startswith("- name:"):
            break
        if trimmed.startswith("interval:") and indented:
            interval = _unquote(trimmed.removeprefix("interval:"))
        elif trimmed.startswith("prompt:") and indented:
            prompt = _unquote(trimmed.removeprefix("prompt:"))
        elif trimmed:
            block_ended = True
            break
    task = Task(name, interval, prompt) if name and interval and prompt else None
    return task, block_ended


def _unquote(value: str) -> str:
    return _EDGE_QUOTE.sub("", value.strip())


def strip_tasks_block(text: str) -> str:
    """The file minus its `tasks:` block: the "Additional context" sent with due tasks."""
    kept: list[str] = []
    in_block = False
    for line in re.split(r"\r?\n", text):
        trimmed = line.strip()
        if not in_block and trimmed == "tasks:":
            in_block = True
            continue
        if in_block:
            if not trimmed or line[:1].isspace() or trimmed.startswith("- name:"):
                continue
            in_block = False
        kept.append(line)
    return "\n".join(kept)


def task_is_due(task: Task, last_run: datetime | None, now: datetime) -> bool:
    """Never run: due. Unparseable interval: never due. Otherwise `now - last_run >= interval`."""
    if last_run is None:
        return True
    interval = task.interval
    return interval is not None and now - last_run >= interval


def due_tasks(
    tasks: tuple[Task, ...], last_runs: Mapping[str, datetime], now: datetime
) -> list[Task]:
    return [task for task in tasks if task_is_due(task, last_runs.get(task.name), now)]
