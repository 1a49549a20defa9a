"""A recalled passage narrowed to the lines that answer, for the compact prompt: the model reads
a few hundred characters around the best-matching line, and the citation names those lines."""

from __future__ import annotations

from conftest import write
from scripted_server import Reply, ScriptedServer
from test_answers import open_bot

from shared.agent.focus import focus
from shared.memory.lines import read_lines
from shared.memory.provenance import mark_block

FILLER = [
    f"- Ate lunch at the canteen, table {n}, soup and bread with colleagues." for n in range(12)
]
ANSWER = "- Booked the ferry to Gotland for 14 June, cabin 212, leaving Nynashamn at 9:40."
DAY = "# 2026-11-18\n\n" + "\n".join(FILLER[:6] + [ANSWER] + FILLER[6:]) + "\n"


class Hit:
    """A search result's shape, over a whole file (as a merged span is)."""

    def __init__(self, path: str, start: int, end: int, snippet: str = "") -> None:
        self.path, self.start_line, self.end_line = path, start, end
        self.snippet, self.heading, self.date = snippet, "", "2026-11-18"


def test_the_best_matching_line_and_its_neighbours_within_the_budget(workspace):
    write(workspace / "memory" / "2026-11-18.md", DAY)
    total = DAY.count("\n")
    narrowed = focus(Hit("memory/2026-11-18.md", 1, total), "When is the ferry to Gotland?",
                     workspace, 300)  # fmt: skip
    assert ANSWER in narrowed.snippet and len(narrowed.snippet) <= 300
    assert "#" not in narrowed.snippet  # headings say what the label says
    shown = read_lines(workspace, narrowed.path, narrowed.start_line,
                       narrowed.end_line - narrowed.start_line + 1)  # fmt: skip
    assert shown.text == narrowed.snippet  # the citation names exactly the lines shown


def test_a_missing_file_keeps_the_hit_as_found(workspace):
    hit = Hit("memory/gone.md", 3, 9, "what the index had")
    kept = focus(hit, "anything", workspace, 300)
    assert (kept.path, kept.start_line, kept.end_line, kept.snippet) == (
        "memory/gone.md", 3, 9, "what the index had",
    )  # fmt: skip


def test_the_compact_prompt_shows_the_focused_lines(config, memory, workspace):
    """A scripted OpenAI-compatible server stands in for the small model."""
    write(workspace / "memory" / "2026-11-18.md", DAY)
    memory.sync()
    with ScriptedServer() as server:
        server.replies = [Reply("14 June [1]")]
        result = open_bot(config, memory, server).send("When is the ferry to Gotland?")
        user = server.requests[0]["messages"][-1]["content"]
    assert ANSWER in user
    assert user.count("canteen") <= 3  # not the whole day's log
    source = result.sources[0]
    assert source.start_line <= 9 <= source.end_line  # line 9 of the file is the ferry
    assert source.end_line - source.start_line < DAY.count("\n") - 4  # not the whole day
    assert result.text == f"14 June [{source.citation}]"


def test_the_assistants_lines_are_labelled_and_its_markers_never_reach_the_model(
    config, memory, workspace
):
    """A scripted OpenAI-compatible server stands in for the small model."""
    written = mark_block(ANSWER, "2026-11-18T10:00:00+01:00", "s1")
    write(workspace / "memory" / "2026-11-18.md", DAY.replace(ANSWER, written))
    memory.sync()
    with ScriptedServer() as server:
        server.replies = [Reply("14 June [1]")]
        result = open_bot(config, memory, server).send("When is the ferry to Gotland?")
        user = server.requests[0]["messages"][-1]["content"]
    assert ANSWER in user and "localgpt:assistant" not in user
    # The ferry line is the assistant's, its neighbours the user's: a mixed note, labelled so.
    assert "partly written earlier by the assistant" in user
    assert result.sources[0].provenance == "mixed"
