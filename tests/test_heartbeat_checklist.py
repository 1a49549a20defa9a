"""HEARTBEAT.md parsing: OpenClaw's "effectively empty" rule, missing file, the tasks: block."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from importlib import resources

import pytest
from conftest import write

from shared.heartbeat.checklist import (
    Task,
    due_tasks,
    is_effectively_empty,
    parse_tasks,
    read_checklist,
    strip_tasks_block,
    task_is_due,
)

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)

TASKS_FILE = """\
# HEARTBEAT.md

Check the server once in a while.

tasks:

- name: inbox-triage
  interval: 30m
  prompt: "Check for urgent unread emails and flag anything time sensitive."
- name: calendar-scan
  interval: 2h
  prompt: 'Check for upcoming meetings that need prep or follow-up.'

# Additional instructions
- Keep alerts short.
"""


def test_classic_template_is_effectively_empty():
    template = (resources.files("shared") / "templates" / "HEARTBEAT.md").read_text()
    assert "# Keep this file empty" in template
    assert is_effectively_empty(template)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   \n\t\n",
        "# HEARTBEAT.md\n\n## Checks\n###\n",
        "- [ ]\n* [x]\n+ \n- \n-\n- [X]\n- []\n",
        "```\n```markdown\n```\n",
        "<!-- Heartbeat template; comments-only content prevents scheduled heartbeat calls. -->",
        "# Title\n<!--\nA comment over\nseveral lines\n-->\n",
        "# Title\r\n\r\n# comment line\r\n",
    ],
)
def test_effectively_empty(text):
    assert is_effectively_empty(text)


@pytest.mark.parametrize(
    "text",
    [
        "#TODO check mail",  # not a heading: no space after #
        "- [ ] Call the bank",
        "Check the disk",
        "```python print(1)",
        "<!-- note --> but check the disk",
        "<!-- unclosed comment",
        "tasks:",
    ],
)
def test_not_empty(text):
    assert not is_effectively_empty("# HEARTBEAT.md\n\n" + text + "\n")


def test_missing_file_is_none_and_not_empty(workspace):
    (workspace / "HEARTBEAT.md").unlink()
    assert read_checklist(workspace) is None


def test_read_checklist_strips_bom_and_parses_tasks(workspace):
    write(workspace / "HEARTBEAT.md", "\ufeff" + TASKS_FILE)
    checklist = read_checklist(workspace)
    assert checklist is not None
    assert checklist.text.startswith("# HEARTBEAT.md")
    assert [t.name for t in checklist.tasks] == ["inbox-triage", "calendar-scan"]
    assert not checklist.effectively_empty


def test_parse_tasks_openclaw_example():
    tasks = parse_tasks(TASKS_FILE)
    assert tasks == [
        Task(
            "inbox-triage",
            "30m",
            "Check for urgent unread emails and flag anything time sensitive.",
        ),
        Task("calendar-scan", "2h", "Check for upcoming meetings that need prep or follow-up."),
    ]
    assert tasks[0].interval == timedelta(minutes=30)
    assert tasks[1].interval == timedelta(hours=2)


def test_parse_tasks_needs_all_fields_and_indented_fields():
    text = (
        "tasks:\n"
        "- name: no-prompt\n"
        "  interval: 10m\n"
        "- name: good\n"
        "  interval: 45\n"
        "  prompt: Water the plants\n"
        "- name: flat\n"
        "interval: 5m\n"
        "  prompt: never parsed\n"
        "- name: after-block\n"
        "  interval: 5m\n"
        "  prompt: outside the block\n"
    )
    tasks = parse_tasks(text)
    assert [t.name for t in tasks] == ["good"]
    assert tasks[0].interval == timedelta(minutes=45)  # a bare number is minutes


def test_no_tasks_without_block():
    assert parse_tasks("- name: x\n  interval: 5m\n  prompt: y\n") == []


def test_strip_tasks_block_keeps_the_rest():
    rest = strip_tasks_block(TASKS_FILE)
    assert "inbox-triage" not in rest and "interval:" not in rest
    assert "Check the server once in a while." in rest
    assert "# Additional instructions\n- Keep alerts short." in rest


def test_task_due_rules():
    task = Task("t", "30m", "p")
    assert task_is_due(task, None, NOW)  # never run
    assert not task_is_due(task, NOW - timedelta(minutes=29, seconds=59), NOW)
    assert task_is_due(task, NOW - timedelta(minutes=30), NOW)
    broken = Task("b", "soon", "p")
    assert broken.interval is None
    assert task_is_due(broken, None, NOW)  # never run: due, as OpenClaw
    assert not task_is_due(broken, NOW - timedelta(days=30), NOW)


def test_due_tasks_uses_last_runs_by_name():
    tasks = tuple(parse_tasks(TASKS_FILE))
    runs = {"inbox-triage": NOW - timedelta(minutes=30), "calendar-scan": NOW - timedelta(hours=1)}
    assert [t.name for t in due_tasks(tasks, runs, NOW)] == ["inbox-triage"]
    assert [t.name for t in due_tasks(tasks, {}, NOW)] == ["inbox-triage", "calendar-scan"]
