"""The compact grounded prompt: persona, numbered notes with dates, the question, a format.

What a small model can do well is copy a short answer out of a few relevant lines; what it does
with OpenClaw's long bootstrap is recite it. So it gets only this:

    system:  who it is, today's date, and how to answer (short, from the notes, cite [n])
    history: the last exchanges of the session, as plain text, briefly
    user:    Notes: [1] (8 May 2023, memory/2023-05-08.md) ...  [2] ...  Question: ...

Notes come from memory search; they are the user's data and the model is told so. The whole
prompt stays within a token budget so the first answer token comes quickly on a laptop CPU.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from shared.agent.citations import Source
from shared.agent.compaction import text_tokens
from shared.agent.untrusted import neutralise

DEFAULT_BUDGET = 900  # prompt tokens (4 chars a token) for notes, history and question
HISTORY_TURNS = 2  # earlier exchanges shown, newest last
HISTORY_CHARS = 300  # per earlier message
MIN_NOTE_CHARS = 120  # a note cut shorter than this is left out instead
MAX_NOTES = 4

SYSTEM = (
    "You are LocalGPT, the user's assistant. You answer questions about the user's notes. "
    "Today is {today}. Give only the short answer in a few words, then the note number in "
    "brackets."
)

# A second try for a reply that only talked about the prompt (often "The note number is 4."):
# asked for the answer alone, a small model stops talking about notes; the citation then comes
# from the words it shares with them.
ANSWER_ONLY_SYSTEM = (
    "You are LocalGPT, the user's assistant. You answer questions about the user's notes. "
    "Today is {today}. Give only the short answer in a few words."
)

NO_NOTES = "(no notes matched this question)"

_DAY_IN_PATH = re.compile(r"(?:^|/)(\d{4})-(\d{2})-(\d{2})\.md$")


@dataclass
class CompactPrompt:
    messages: list[dict]
    sources: list[Source]  # the notes the model saw, numbered as it saw them
    instructions: str  # the system text (the reply guard treats a recital of it as an echo)


def note_day(path: str) -> str:
    """YYYY-MM-DD for a daily log (`memory/2026-12-01.md`), else ""."""
    match = _DAY_IN_PATH.search(path)
    if not match:
        return ""
    try:
        return date(*map(int, match.groups())).isoformat()
    except ValueError:
        return ""


def build_compact_prompt(
    question: str,
    hits: list,
    history: list[dict],
    now: datetime,
    budget: int = DEFAULT_BUDGET,
    instructions: str = SYSTEM,
) -> CompactPrompt:
    """Messages for a small model. `hits` are memory search results, best first; `history`
    the session's earlier messages (user/assistant dicts with plain `content`)."""
    system = instructions.format(today=f"{now:%A} {now.day} {now:%B %Y}")
    question = question.strip()
    remaining = budget - text_tokens(system) - text_tokens(question) - 16
    past = _history(history, remaining // 4)
    remaining -= sum(text_tokens(m["content"]) for m in past)
    sources = _sources(hits, remaining)
    notes = "\n\n".join(_render(s) for s in sources) or NO_NOTES
    user = f"Notes:\n{notes}\n\nQuestion: {question}"
    messages = [{"role": "system", "content": system}, *past, {"role": "user", "content": user}]
    return CompactPrompt(messages, sources, system)


def _sources(hits: list, budget_tokens: int) -> list[Source]:
    """Number the hits as notes, cutting or dropping them to fit the budget."""
    sources: list[Source] = []
    chars_left = max(0, budget_tokens) * 4
    for hit in hits[:MAX_NOTES]:
        text = neutralise(hit.snippet.strip())
        overhead = len(hit.path) + 40
        if len(text) + overhead > chars_left:
            text = _cut(text, chars_left - overhead)
            if len(text) < MIN_NOTE_CHARS:
                break
        chars_left -= len(text) + overhead
        sources.append(
            Source(
                number=len(sources) + 1,
                path=hit.path,
                start_line=hit.start_line,
                end_line=hit.end_line,
                text=text,
                date=getattr(hit, "date", "") or note_day(hit.path),
                heading=hit.heading,
                provenance=getattr(hit, "provenance", "user"),
            )
        )
    return sources


def _render(source: Source) -> str:
    when = _spoken_date(source.date)
    label = f"Note from {when}" if when else f"Note {source.path}"
    if source.written_by:
        label += f" ({source.written_by})"
    return f"[{source.number}] {label}:\n{_without_headings(source.text)}"


def _without_headings(text: str) -> str:
    """Heading lines repeat what the label says (the day) and get copied as answers."""
    lines = [line for line in text.split("\n") if not line.lstrip().startswith("#")]
    return "\n".join(lines).strip() or text


def _spoken_date(iso: str) -> str:
    try:
        day = date.fromisoformat(iso)
    except ValueError:
        return ""
    return f"{day.day} {day:%B %Y}"


def _history(messages: list[dict], budget_tokens: int) -> list[dict]:
    """The last exchanges as plain user/assistant text, newest kept first when cut."""
    plain = [
        {"role": m["role"], "content": _clip(str(m.get("content") or ""), HISTORY_CHARS)}
        for m in messages
        if m.get("role") in ("user", "assistant") and m.get("content") and not m.get("tool_calls")
    ][-2 * HISTORY_TURNS :]
    while plain and sum(text_tokens(m["content"]) for m in plain) > budget_tokens:
        plain = plain[2:] if len(plain) > 1 else []
    if plain and plain[0]["role"] != "user":
        plain = plain[1:]
    return plain


def _cut(text: str, limit: int) -> str:
    """At most `limit` chars, ending at a line (or word) boundary."""
    if len(text) <= limit:
        return text
    head = text[: max(0, limit)]
    cut = head.rfind("\n")
    if cut < limit // 2:
        cut = head.rfind(" ")
    return head[:cut].rstrip() if cut > 0 else ""


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
