"""A streamed answer reads as the checked one (services/api/answer_stream.py): whatever the
token boundaries, the text an OpenAI client pieces together from `/v1` deltas is exactly the
assistant's checked answer (numbers resolved, false citations dropped, attributed citations
appended), and nothing is sent that the check would later change."""

from __future__ import annotations

import random

import pytest
from conftest import write

from services.api.answer_stream import AnswerStream, settled_end
from shared.agent.assistant import Assistant
from shared.agent.citations import Source

NOTE = "# 2026-11-28\n\n- Dentist appointment: Tuesday 12 May 2026 at 9:30.\n- Fence: south.\n"
SOURCES = [
    Source(1, "memory/2026-11-28.md", 1, 3, "Dentist appointment: Tuesday 12 May 2026 at 9:30"),
    Source(2, "memory/2026-11-28.md", 4, 4, "Fence: south."),
]
ANSWERS = [
    "Tuesday 12 May at 9:30 [1].",
    "It is on Tuesday [1, 2] (see [2]) and [7] nothing else.",
    "See memory/2026-11-28.md#L3 and memory/2026-11-28.md#L99 (memory/gone.md#L1).\n\nDone [2]",
    "The dentist is on Tuesday 12 May at 9:30",  # uncited: attributed at the end
    "An open bracket [that never closes and (nested) text",
    "  leading spaces, trailing spaces   \n\n",
    "[1]",
    "",
]


def chunkings(text: str, seed: int) -> list[list[str]]:
    if len(text) < 2:
        return [[text]]
    rng = random.Random(seed)
    out = [[text], list(text)]
    for _ in range(20):
        cuts = sorted(rng.sample(range(1, len(text)), min(len(text) - 1, rng.randint(1, 12))))
        out.append([text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)])
    return out


@pytest.mark.parametrize("profile", ["compact", "full"])
@pytest.mark.parametrize("answer", ANSWERS)
def test_the_streamed_text_is_the_checked_answer(config, workspace, profile, answer):
    write(workspace / "memory" / "2026-11-28.md", NOTE)
    checked = Assistant(config, None, None)._cited(answer, SOURCES, profile)
    for pieces in chunkings(answer, seed=len(answer)):
        stream = AnswerStream(workspace, numbered=profile == "compact")
        stream.set_sources([s.as_dict() for s in SOURCES])
        sent = "".join(stream.feed(p) for p in pieces)
        assert checked.startswith(sent), (pieces, sent, checked)  # never sent, then changed
        assert sent + stream.finish(checked) == checked


def test_text_streams_word_by_word_not_at_the_end(workspace):
    write(workspace / "memory" / "2026-11-28.md", NOTE)
    stream = AnswerStream(workspace, numbered=True)
    stream.set_sources([s.as_dict() for s in SOURCES])
    assert stream.feed("Tuesday 12") == "Tuesday"
    assert stream.feed(" May at") == " 12 May"
    assert stream.feed(" 9:30 [") == " at 9:30"
    assert stream.feed("1]. Then") == " [memory/2026-11-28.md#L1-L3]."


def test_text_before_a_tool_call_is_kept_and_set_apart(workspace):
    stream = AnswerStream(workspace, numbered=False)
    sent = stream.feed("Let me look that up")
    sent += stream.next_message()
    assert sent == "Let me look that up\n\n"
    sent = stream.feed("Tuesday at 9:30.")
    assert sent + stream.finish("Tuesday at 9:30.") == "Tuesday at 9:30."


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [("one two", 0, 3), ("one two ", 0, 7), ("one", 0, 0), ("a [b c] d e", 0, 9), ("a [b c", 0, 1),
     ("x (y", 0, 1), ("one two three", 3, 7)],
)  # fmt: skip
def test_settled_end(text, start, end):
    assert settled_end(text, start) == end
