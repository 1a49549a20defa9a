"""A small model's reply tidied to its answer (replies below were written by SmolLM2-135M on
the compact prompt), and the assistant marking a reply with no answer in it."""

from __future__ import annotations

import pytest
from scripted_server import Reply, ScriptedServer
from test_answers import notes, open_bot  # noqa: F401 (fixtures)

from shared.agent.tidy import tidy_short_answer

QUESTION = "When did Caroline go to the support group?"


@pytest.mark.parametrize(
    ("reply", "answer"),
    [
        (
            "The note number is 4. The user asked about when Caroline went to the support group."
            " The answer is 17 August 2023.",
            "17 August 2023. [4]",
        ),
        ("The answer is: 13th October 2023", "13th October 2023"),
        ("The note number is 13 October 2023. The answer is 13 October 2023.", "13 October 2023."),
        ("No, she would not. She is a fan of classical music [2].", "No, she would not. [2]"),
        ("Luna [1]", "Luna [1]"),
        ("Dr. Weber, at 9:30 [1]. He is new.", "Dr. Weber, at 9:30 [1]."),
        ("1) The Perseid meteor shower [1]", "The Perseid meteor shower [1]"),
        ("The note was given by Melanie. Sweden [2].", "Sweden [2]."),
        (
            "The activities Melanie does are:\n1) pottery [1]\n2) camping [3]",
            "The activities Melanie does are: 1) pottery [1] [3]",
        ),
        ("[2] Note from 15 July 2023:\nShe went on 14 July 2023.", "She went on 14 July 2023."),
    ],
)
def test_a_question_gets_its_first_answering_sentence_and_every_citation(reply, answer):
    assert tidy_short_answer(reply, QUESTION) == answer


@pytest.mark.parametrize(
    ("reply", "question", "answer"),
    [
        ("The interview took place on June 21, 2023.", "When was the interview?", "June 21, 2023."),
        ("Gina's favorite style is contemporary [2].", "What is Gina's favorite style?",
         "Contemporary [2]."),
        ("Melanie prioritizes self-care by running, which is great.",
         "How does Melanie prioritize self-care?", "By running, which is great."),
        ("Jon started to go to the gym in March 2023 [1].", "When did Jon start to go to the gym?",
         "March 2023 [1]."),
        ("Melanie says running has been great for her mental health.",
         "What does Melanie say running has been great for?", "Her mental health."),
        ("Gina received a trophy from a dance competition", "What did Gina receive from a contest?",
         "A trophy from a dance competition"),
        ("Jon's currently reading \"The Nightingale\".", "What book is Jon currently reading?",
         "\"The Nightingale\"."),
        # A word the question does not have ends the restated part; the answer must open there.
        ("Jon went to a fair on 24 April.", "When did Jon go to a fair?",
         "Jon went to a fair on 24 April."),
        ("Caroline joined a new LGBTQ+ group in May.", "When did Caroline join a new group?",
         "Caroline joined a new LGBTQ+ group in May."),
        ("Yes, Melanie did paint it.", "Did Melanie paint it?", "Yes, Melanie did paint it."),
        ("Jon is not sure.", "Where is Jon?", "Not sure."),
        ("The painting by Caroline is a sunset.", "What did Melanie paint?",
         "The painting by Caroline is a sunset."),
    ],
)  # fmt: skip
def test_the_restated_question_is_left_out_of_the_answer(reply, question, answer):
    assert tidy_short_answer(reply, question) == answer


def test_a_request_keeps_every_sentence_that_answers():
    reply = "The sea is wide. The note number is 2. It is deep. It is blue [1]."
    tidied = tidy_short_answer(reply, "Write three sentences about the sea.")
    assert tidied == "The sea is wide. It is deep. It is blue [1]. [2]"


@pytest.mark.parametrize(
    "reply",
    [
        "The note number is 1897569. The user asked about where Caroline moved from.",
        "The note number is 14, which refers to the note itself.",
        "The question is: When did Caroline have a picnic?",
        "The answer to this question lies in the context of the previous notes.",
        "1.",  # a list begun and never written
        "6)",
        "17. [2]",  # a citation alone answers nothing
        "[1] 14.",
    ],
)
def test_a_reply_only_about_the_prompt_has_no_answer(reply):
    assert tidy_short_answer(reply, QUESTION) is None


def test_a_bare_number_answers_a_question_that_asks_for_one():
    assert tidy_short_answer("3.", "How many children does Melanie have?") == "3."


def test_the_assistant_keeps_the_answer_and_cites_the_note_the_model_named(
    config,
    memory,
    notes,  # noqa: F811
):
    """A scripted OpenAI-compatible server stands in for the small model."""
    with ScriptedServer() as server:
        server.replies = [
            Reply(
                "The note number is 1. The user asked about the dentist. The answer is "
                "Tuesday 12 May at 9:30. I hope this helps you plan your week ahead."
            )
        ]
        bot = open_bot(config, memory, server)
        result = bot.send("When is my dentist appointment?")
        cited = result.sources[0].citation
        assert result.text == f"Tuesday 12 May at 9:30. [{cited}]" and result.clean
        assert bot.session.entries[-1]["message"]["content"] == result.text
        assert len(server.requests) == 1


def test_a_reply_only_about_the_prompt_is_asked_again_for_the_answer_alone(
    config,
    memory,
    notes,  # noqa: F811
):
    """A scripted OpenAI-compatible server stands in for the small model."""
    with ScriptedServer() as server:
        server.replies = [
            Reply("The note number is 1, which refers to the note itself."),
            Reply("Tuesday 12 May at 9:30, Dr. Weber."),
        ]
        bot = open_bot(config, memory, server)
        result = bot.send("When is my dentist appointment?")
        first, second = (r["messages"][0]["content"] for r in server.requests)
        assert "note number" in first and "note number" not in second
        assert result.text.startswith("Tuesday 12 May at 9:30, Dr. Weber. [memory/2026-11-28.md#L")
        assert result.clean and result.model_calls == 2

        server.replies = [
            Reply("The note number is 1, which refers to the note itself."),
            Reply("The user asked about the dentist."),
        ]
        nothing = bot.send("When is my dentist appointment?")
        assert nothing.text == "" and nothing.stopped == "guard"
        assert "instead of answering" in nothing.notice and nothing.sources
