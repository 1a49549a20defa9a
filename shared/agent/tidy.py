"""A small model's short answer, tidied: the answer the user asked for, not talk about the prompt.

Asked for "the short answer, then the note number", a 135M model often writes "The note number is
4. The user asked about the trip. The answer is 17 August 2023." and then goes on. Sentences about
the prompt (the note number, what the user asked) are noise, but the number they name is the
citation; "The answer is X" is X; the prompt asked for a short answer, so the reply ends with the
first sentence that answers. Citations written anywhere in the reply are kept.
"""

from __future__ import annotations

import re

from shared.agent.focus import content_stems

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
# "Melanie's reason for running is to clear her mind": the part before the verb restates the
# question (every word of it is in the question), the rest answers it.
_RESTATED = re.compile(
    r"^(?P<restated>[^,;:()\[\]]{3,120}?)\s+(?:is|are|was|were|took place|happened|will be)\s+"
    r"(?:on|at|in|by|to\s+)?\s*(?P<answer>\S.*)$",
    re.I,
)
_LIST_MARK = re.compile(r"^\s*(?:\d{1,2}[.)]|[-*•])\s+(?=\S)")
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
        else:
            first = not answering
            answer = _LIST_MARK.sub("", _THE_ANSWER_IS.sub("", sentence)).strip()
            answering.append(answer if first else sentence)
    answer = " ".join(s for s in answering if s)
    if not answer:
        return None
    if _complete(answering, question):
        answer = _without_restated_question(answer, question)
    missing = [c for c in dict.fromkeys(cited) if c not in answer]
    return " ".join([answer, *missing])


def _without_restated_question(answer: str, question: str) -> str:
    """ "The interview took place on 21 June 2023." -> "21 June 2023." (asked "When was the
    interview?"): only when every word before the verb is the question's own."""
    found = _RESTATED.match(answer)
    if not found:
        return answer
    restated = content_stems(found["restated"])
    if not restated or not restated <= content_stems(question):
        return answer
    rest = found["answer"]
    return rest[0].upper() + rest[1:]


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
