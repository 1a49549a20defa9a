"""The run's instructions are not news: a reply that restates them is no alert, and a citation
of them grounds nothing.

A heartbeat run is told what to do by its prompt and by the workspace's instruction files
(HEARTBEAT.md, pinned into every heartbeat prompt, and the operating instructions a recall may
bring along). A small model often recites them back ("[1] Note HEARTBEAT.md: When a heartbeat
arrives, read ..."), citing lines that exist. Such a reply reports nothing that needs the user:
it is recorded as `echo`. An alert's evidence must come from the user's notes, never from the
files that tell the assistant what to check.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from shared.workspace import INSTRUCTION_FILES

RUN_WORDS = 3  # a run of this many words found in the instructions is copied from them
COPIED_SHARE = 0.5  # a recital: at least this share of its words copied in such runs...
OWN_SHARE = 0.2  # ...and at most this share of words its own (found nowhere in them)

_WORD = re.compile(r"\w+")


def instruction_texts(workspace: Path, prompt: str) -> list[str]:
    """The prompt the run was given and the text of each instruction file that exists."""
    from shared.memory.lines import read_lines  # lazily: the heartbeat loop never needs it

    texts = [prompt] if prompt else []
    for name in INSTRUCTION_FILES:
        try:
            texts.append(read_lines(workspace, name, 1, None).text)
        except ValueError:  # absent, or not a note (MemoryFileError)
            continue
    return texts


def restates_instructions(reply: str, instructions: Iterable[str]) -> bool:
    """Whether the reply, citations aside, is its instructions said back: most of its words
    are copied from them in runs, and hardly any are its own. Both, since a short report may
    quote its task ("... in the next 7 days") and a terse one may use the task's words ("The
    water bill is due this week") and still say something new. A reply of nothing but
    citations says nothing, so it counts too."""
    from shared.agent.citations import (  # lazily: the heartbeat loop never needs it
        CITATION,
        NUMBERED,
    )

    words = _words(NUMBERED.sub(" ", CITATION.sub(" ", reply)))
    if not words:
        return True
    sources = [_words(text) for text in instructions]
    vocabulary = {word for source in sources for word in source}
    own = sum(word not in vocabulary for word in words)
    return own <= OWN_SHARE * len(words) and _copied(words, sources) >= COPIED_SHARE * len(words)


def _copied(words: list[str], sources: list[list[str]]) -> int:
    """How many of `words` lie in runs of `RUN_WORDS` found in a source (a reply shorter than
    a run: all of them when it is one phrase of a source)."""
    if len(words) < RUN_WORDS:
        return len(words) if any(_contains(source, words) for source in sources) else 0
    copied_runs = {run for source in sources for run in _runs(source)}
    copied = [False] * len(words)
    for start, run in enumerate(_runs(words)):
        if run in copied_runs:
            copied[start : start + RUN_WORDS] = [True] * RUN_WORDS
    return sum(copied)


def _words(text: str) -> list[str]:
    return _WORD.findall(text.casefold())


def _runs(words: list[str]) -> list[tuple[str, ...]]:
    return [tuple(words[i : i + RUN_WORDS]) for i in range(len(words) - RUN_WORDS + 1)]


def _contains(source: list[str], phrase: list[str]) -> bool:
    size = len(phrase)
    return any(source[i : i + size] == phrase for i in range(len(source) - size + 1))
