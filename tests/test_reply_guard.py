"""The reply guard on the degenerate replies seen from the embedded model (issue 14): looping
paragraphs, a line repeated inline, recited prompt scaffolding and machine paths."""

from __future__ import annotations

import pytest

from shared.agent.guard import ReplyGuard


def stream(text: str, step: int = 3, **kwargs) -> tuple[str, str, ReplyGuard]:
    """Feed `text` in `step`-char deltas as a model would; (shown, final text, guard)."""
    guard = ReplyGuard(**kwargs)
    shown = ""
    for i in range(0, len(text), step):
        shown += guard.feed(text[i : i + step])
        if guard.tripped:
            break
    shown += guard.finish()
    return shown, guard.text, guard


def test_alternating_paragraphs_are_cut_after_their_first_appearance():
    south = "The garden plan: build a south fence by May and plant tomatoes by the wall.\n"
    north = "The garden plan: build a north fence by May and plant tomatoes by the wall.\n"
    shown, text, guard = stream("Here is what you wrote.\n" + (south + north) * 6)
    assert guard.tripped and guard.tripped.kind == "repetition"
    assert text.count("garden plan") <= 2
    assert shown.count("garden plan") <= 2  # the repeats were held back, never shown


def test_a_line_repeated_on_one_line_is_cut_to_one_copy():
    shown, text, guard = stream("Host: Lindenstrasse 12 " * 29)
    assert guard.tripped and guard.tripped.kind == "repetition"
    assert text == "Host: Lindenstrasse 12"


@pytest.mark.parametrize(
    "scaffolding",
    [
        "User message:\nWhen is my appointment?",
        '<<<END_UNTRUSTED_CONTENT id="5f2c">>>',
        "BEGIN_QUOTED_NOTES",
        "\nQuestion: what else did I write?",
    ],
)
def test_recited_scaffolding_never_reaches_the_user(scaffolding):
    shown, text, guard = stream(f"Your dentist appointment is on 12 May.\n{scaffolding} more")
    assert guard.tripped and guard.tripped.kind == "echo"
    assert text == "Your dentist appointment is on 12 May."
    for marker in ("User message", "<<<", "QUOTED", "Question:"):
        assert marker not in shown


def test_machine_paths_are_hidden():
    home = "/home/ada/.localgpt/workspace"
    shown, text, guard = stream(f"I read {home}/memory/2026-12-01.md for this.", hidden=[home])
    assert guard.tripped and home not in shown and home not in text


def test_reciting_the_instructions_is_an_echo():
    instructions = "Answer in one or two short sentences, using only the notes you were given."
    shown, text, guard = stream(
        "Answer in one or two short sentences, using only the notes you were given.",
        prompt_texts=[instructions],
    )
    assert guard.tripped and guard.tripped.kind == "echo" and text == ""


@pytest.mark.parametrize(
    "answer",
    [
        "Your dentist appointment is on Tuesday 12 May at 9:30 [memory/2026-05-01.md#L4].",
        "- buy seeds\n- build the south fence\n- build the north fence\n- water the tomatoes\n",
        "| day | task |\n|---|---|\n| Mon | yes |\n| Tue | yes |\n| Wed | yes |\n",
        "Ha ha, sure. Done.\n\nThe end.",
        "日本語の答えです。歯医者の予約は五月十二日です。",
    ],
)
def test_ordinary_answers_pass_untouched(answer):
    shown, text, guard = stream(answer)
    assert guard.tripped is None
    assert shown == answer and text == answer


def test_text_streams_without_waiting_for_long_hidden_paths():
    """Only a tail that could begin a marker or a hidden path is held back, not a fixed
    window as long as the longest path (which delayed short answers entirely)."""
    guard = ReplyGuard(hidden=["/home/ada/.localgpt/workspace-with-a-long-name"])
    shown = [guard.feed(piece) for piece in ("Your ", "ferry ", "leaves ", "on the 14th.")]
    assert shown == ["Your ", "ferry ", "leaves ", "on the 14th."]
    assert guard.feed(" See /ho") == " See "  # "/ho" may begin the hidden path: held
    assert guard.feed("tels.") == "/hotels."  # it did not
