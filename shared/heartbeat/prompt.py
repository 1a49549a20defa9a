"""The heartbeat user message, built as OpenClaw's runner builds it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, tzinfo
from pathlib import Path

from shared.heartbeat.checklist import HEARTBEAT_FILE, Checklist, Task, strip_tasks_block
from shared.heartbeat.schedule import zone_name

TASKS_INTRO = "Run the following periodic tasks (only those due based on their intervals):"
TASKS_ACK = "After completing all due tasks, reply HEARTBEAT_OK."
# LocalGPT's one addition: an alert is raised only when it cites a note line that exists. No
# example path: a small model copies it, and HEARTBEAT.md (the instruction) is no evidence.
GROUNDING = (
    "If something needs attention, cite the note line that shows it as path#Lstart-Lend; "
    "HEARTBEAT.md itself does not count, and an alert without such a citation is not raised."
)


def build_prompt(
    base_prompt: str,
    checklist: Checklist | None,
    due: list[Task],
    workspace: Path,
    now: datetime,
    zone: tzinfo,
) -> str:
    """Due tasks replace the configured prompt (with the rest of the file as context);
    otherwise the configured prompt, plus the exact HEARTBEAT.md path when it names the file.
    Both end with the `Current time:` line unless the text already has one."""
    text = _tasks_prompt(checklist, due) if due else _with_path_hint(base_prompt, workspace)
    text += "\n" + GROUNDING
    if "Current time:" not in text:
        text += "\n" + current_time_line(now, zone)
    return text


def _tasks_prompt(checklist: Checklist | None, due: list[Task]) -> str:
    lines = "\n".join(f"- {task.name}: {task.prompt}" for task in due)
    text = f"{TASKS_INTRO}\n\n{lines}\n\n{TASKS_ACK}"
    context = strip_tasks_block(checklist.text).strip() if checklist else ""
    if context:
        text += f"\n\nAdditional context from HEARTBEAT.md:\n{context}"
    return text


def _with_path_hint(prompt: str, workspace: Path) -> str:
    if not re.search(r"heartbeat\.md", prompt, re.IGNORECASE):
        return prompt
    path = (workspace / HEARTBEAT_FILE).as_posix()
    return (
        f"{prompt}\nWhen reading HEARTBEAT.md, use workspace file {path} (exact case). "
        "Do not read docs/heartbeat.md."
    )


def current_time_line(now: datetime, zone: tzinfo) -> str:
    """`Current time: Monday, November 23, 2026, 14:30 (Europe/Berlin) / 2026-11-23 13:30 UTC`."""
    local = now.astimezone(zone)
    user = f"{local:%A}, {local:%B} {local.day}, {local.year}, {local:%H:%M}"
    utc = now.astimezone(UTC)
    return f"Current time: {user} ({zone_name(zone)}) / {utc:%Y-%m-%d %H:%M} UTC"
