"""A small model's short answer, tidied: the answer the user asked for, not talk about the prompt.

Asked for "the short answer, then the note number", a 135M model often writes "The note number is
4. The user asked about the trip. The answer is 17 August 2023." and then goes on. Sentences about
the prompt (the note number, what the user asked) are noise, but the number they name is the
citation; "The answer is X" is X; the prompt asked for a short answer, so the reply ends with the
first sentence that answers. Citations written anywhere in the reply are kept.
"""

from __future__ import annotations

import re

from shared.agent.focus import STEM, content_stems
from shared.memory.fts import STOP_WORDS

# A sentence ends at . ! or ? followed by space and a capital, digit, bracket or quote.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\[\"'(])")
_ABBREVIATIONS = frozenset((
    "dr", "mr", "mrs", "ms", "mx", "prof", "st", "jr", "sr", "mt", "ft", "vs", "etc", "e.g",
    "i.e", "approx", "dept", "univ",
))  # fmt: skip
# Sentences that talk about the prompt instead of answering.
_ABOUT_THE_PROMPT = re.compile(
    r"\bnote (?:number|no\.?)\b|\bthe user (?:asked|asks|is asking|wants|provided|requested)\b"
    r"|\brefers? to the note\b|\bshort answer\b|\bin a few words\b"
    r"|\bthe question (?:is|asks|was)\b|^\s*\[\d{1,2}\]\s*note from\b"
    r"|\bthe notes? (?:was|were|is|are) (?:given|written|about|from|sent)\b"
    r"|\bthe answer to (?:this|the|your) question (?:lies|depends|is not|can)\b",
    re.I,
)
_MONTH = r"(?:st|nd|rd|th)?,?\s*(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)"
# "note number is 4" names note 4; "note number is 13 October 2023" names a day, not a note.
_NOTE_NUMBER = re.compile(
    rf"\bnote (?:number |no\.? )?(?:is |was )?#?(\d{{1,2}})\b(?!\s*{_MONTH}|[.,:/-]\d)", re.I
)
_THE_ANSWER_IS = re.compile(
    r"^\s*(?:so,?\s*)?the answer(?: to (?:this|the|your) question)? (?:is|would be)[:\s]+", re.I
)
# "Jon started going to the gym in March 2023", asked "When did Jon start to go to the gym?":
# the words before "in" restate the question, the rest answers it. Restated words are the
# question's own (compared by stem) or stop words between them; the answer starts at a verb or
# preposition that follows them (dropped: "in March") or at a word that opens a phrase (kept:
# "a trophy", "because...").
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
_COPULA = re.compile(r"(?:is|are|was|were|will be|took place|happened)\b[:\s]*", re.I)
_PREPOSITION = frozenset(["in", "on", "at", "for", "during", "around", "from", "as", "to"])
_OPENS_ANSWER = frozenset((
    "a", "an", "the", "by", "because", "since", "her", "his", "their", "its", "my", "our", "your",
))  # fmt: skip
_OPENING_QUOTE = "\"'“‘("
_LIST_MARK = re.compile(r"^\s*(?:\d{1,2}[.)]|[-*•])\s+(?=\S)")
# "1." alone is the start of a list the model never wrote, unless a number was asked for.
_BARE_LIST_MARK = re.compile(r"^\s*\d{1,2}[.)]\s*$")
_ASKS_FOR_A_NUMBER = re.compile(
    r"\bhow (?:many|much|old|long|often)\b|\bwhat (?:number|age)\b", re.I
)
_CITATION = re.compile(r"\[[^\[\]\n]{1,200}\]")


def tidy_short_answer(text: str, question: str) -> str | None:
    """A question's answer is the first sentence that answers (with what follows when it ends
    in a colon, introducing a list); a request ("Summarise...") keeps every sentence that
    answers. Citations from the dropped sentences follow the answer. None when no sentence
    answers: the reply only talks about the prompt."""
    answering: list[str] = []
    cited: list[str] = []
    for sentence in _sentences(text):
        if _ABOUT_THE_PROMPT.search(sentence):
            cited += [f"[{n}]" for n in _NOTE_NUMBER.findall(sentence)]
        elif _complete(answering, question):
            cited += _CITATION.findall(sentence)
        elif _BARE_LIST_MARK.match(_CITATION.sub("", sentence)) and not _ASKS_FOR_A_NUMBER.search(
            question
        ):
            continue
        else:
            first = not answering
            answer = _LIST_MARK.sub("", _THE_ANSWER_IS.sub("", sentence)).strip()
            answering.append(answer if first else sentence)
    answer = " ".join(s for s in answering if s)
    if not re.search(r"[^\W_]", _CITATION.sub("", answer)):
        return None  # nothing but citations (or marks): no answer
    if _complete(answering, question):
        answer = _without_restated_question(answer, question)
    missing = [c for c in dict.fromkeys(cited) if c not in answer]
    return " ".join([answer, *missing])


def _without_restated_question(answer: str, question: str) -> str:
    """ "The interview took place on 21 June 2023." -> "21 June 2023." (asked "When was the
    interview?"); "Melanie says running is great for her health." -> "Her health." (asked
    "What does Melanie say running is great for?"). Kept whole when a word before the answer
    is not the question's, or when the rest would not open an answer."""
    asked = {_stem(word) for word in _WORD.findall(question)}
    words = list(_WORD.finditer(answer))
    last, restated = -1, 0  # the last of the question's words, and how many
    for index, word in enumerate(words):
        lower = word.group().lower()
        if _stem(lower) in asked:
            if lower not in STOP_WORDS:
                last, restated = index, restated + 1
        elif lower not in STOP_WORDS:  # glue between the question's words
            break
    if last < 0 or last + 1 >= len(words):
        return answer
    after = words[last + 1]
    copula = _COPULA.match(answer, after.start())
    if copula:
        start = copula.end()
        preposition = re.match(r"(?:on|at|in|by|to)\s+", answer[start:], re.I)
        start += preposition.end() if preposition else 0
    elif restated >= 2 and after.group().lower() in _PREPOSITION and last + 2 < len(words):
        start = words[last + 2].start()
    elif restated >= 2 and after.group().lower() in _OPENS_ANSWER:
        start = after.start()
    else:
        return answer
    if any(mark in answer[: after.start()] for mark in ",;:()[]"):
        return answer  # a clause before the answer: not a restated question
    while start > 0 and answer[start - 1] in _OPENING_QUOTE:
        start -= 1
    rest = answer[start:]
    if not content_stems(rest):
        return answer
    return rest[0].upper() + rest[1:]


def _stem(word: str) -> str:
    """A rough stem, so "started" matches "start" and "named" matches "name"."""
    word = word.lower().replace("’", "'").removesuffix("'s")
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) - len(suffix) >= 3 and word.endswith(suffix):
            word = word[: -len(suffix)]
            break
    return word.removesuffix("e")[:STEM]


def _sentences(text: str) -> list[str]:
    return [
        sentence.strip()
        for line in text.strip().splitlines()
        for sentence in _split_line(line)
        if sentence.strip()
    ]


def _split_line(line: str) -> list[str]:
    """Sentences of one line; "Dr. Weber" or "J. Smith" does not end one."""
    pieces, start = [], 0
    for end in _SENTENCE_END.finditer(line):
        words = line[start : end.start()].split()
        last = words[-1].rstrip(".").lower() if words else ""
        if last in _ABBREVIATIONS or (len(last) == 1 and last.isalpha()):
            continue
        pieces.append(line[start : end.start()])
        start = end.end()
    return [*pieces, line[start:]]


def _complete(answering: list[str], question: str) -> bool:
    """Whether a question's answer is whole: one sentence that does not end in a colon."""
    is_question = question.rstrip().endswith("?")
    return is_question and bool(answering) and not answering[-1].endswith(":")
