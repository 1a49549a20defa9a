"""The rule that keeps a recital of the heartbeat's instructions from being raised as an alert."""

from __future__ import annotations

from conftest import write

from shared.config import DEFAULT_HEARTBEAT_PROMPT
from shared.heartbeat.recital import instruction_texts, restates_instructions
from shared.workspace import INSTRUCTION_FILES, is_instruction_file

TASK = "# Heartbeat\n\n- [ ] Check whether any appointment is in the next 7 days and remind me.\n"
INSTRUCTIONS = (DEFAULT_HEARTBEAT_PROMPT, TASK)


def test_instruction_files_are_the_ones_at_the_workspace_root_in_any_case():
    for name in INSTRUCTION_FILES:
        assert is_instruction_file(name) and is_instruction_file(f"./{name.lower()}")
    for path in ("notes/HEARTBEAT.md", "MEMORY.md", "USER.md", "memory/2026-12-01.md"):
        assert not is_instruction_file(path), path


def test_a_recital_of_the_prompt_or_the_task_is_caught():
    for reply in (
        "Read HEARTBEAT.md if it exists (workspace context). Follow it strictly.",
        "If nothing needs attention, reply HEARTBEAT_OK. [knowledge/bills.md#L3]",
        "Check whether any appointment is in the next 7 days and remind me. [HEARTBEAT.md#L3]",
        "**Remind me.**",  # shorter than a run: one phrase of the instructions
        "[HEARTBEAT.md#L1-L3] [2]",  # nothing but citations says nothing
    ):
        assert restates_instructions(reply, INSTRUCTIONS), reply


def test_a_report_is_not_a_recital_even_when_it_quotes_the_task():
    for reply in (
        "Your electricity bill of 84 EUR is due on 5 December (knowledge/bills.md#L3).",
        "Dentist on Friday at 9:30, within the next 7 days (memory/2026-12-01.md#L3).",
        "Backup failed twice (knowledge/nas.md#L3); no appointment in the next 7 days.",
        "Dentist Friday.",  # short, but not a phrase of the instructions
        "Your appointment is due this week (knowledge/bills.md#L3).",  # the task's own words
    ):
        assert not restates_instructions(reply, INSTRUCTIONS), reply
    assert not restates_instructions("Check whether any appointment is due", ())


def test_instruction_texts_are_the_prompt_and_the_instruction_files_that_exist(workspace):
    write(workspace / "HEARTBEAT.md", TASK)
    (workspace / "SOUL.md").unlink()
    texts = instruction_texts(workspace, "the prompt")
    assert texts[0] == "the prompt" and texts[1] == TASK.rstrip("\n")
    assert any("When a heartbeat arrives" in text for text in texts)  # the seeded AGENTS.md
    assert len(texts) == 1 + sum((workspace / name).is_file() for name in INSTRUCTION_FILES)
