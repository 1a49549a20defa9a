"""Chunk boundaries and line ranges: every chunk must cite exactly the lines it holds."""

from __future__ import annotations

from shared.memory.chunker import chunk_markdown, estimate_tokens


def lines_of(text: str, chunk) -> str:
    return "\n".join(text.split("\n")[chunk.start_line - 1 : chunk.end_line])


DOC = """# Project Atlas

Atlas is our migration from the old billing system.
It started in March.

## Decisions

- Use Postgres 16
- Keep the REST API
  for one more year
- Drop SOAP

## Code

```python
def migrate():

    return True
```

## Notes
Final line without newline"""


def test_chunk_text_is_exactly_its_line_range():
    for max_tokens in (16, 32, 64, 128, 256):
        for chunk in chunk_markdown(DOC, max_tokens):
            assert chunk.text == lines_of(DOC, chunk), (max_tokens, chunk)


def test_chunks_cover_every_non_blank_line_once():
    chunks = chunk_markdown(DOC, 24)
    covered = [n for c in chunks for n in range(c.start_line, c.end_line + 1)]
    assert len(covered) == len(set(covered)), "no line belongs to two chunks"
    content = {n for n, line in enumerate(DOC.split("\n"), 1) if line.strip()}
    assert content <= set(covered)


def test_headings_start_chunks_and_give_a_heading_path():
    chunks = chunk_markdown(DOC, 256)
    starts = {c.start_line: c for c in chunks}
    assert starts[1].heading == "Project Atlas"
    assert starts[6].heading == "Project Atlas › Decisions"
    assert starts[6].text.startswith("## Decisions")
    assert starts[13].heading == "Project Atlas › Code"
    assert chunks[-1].heading == "Project Atlas › Notes"
    assert chunks[-1].end_line == 22


def test_heading_followed_by_subheading_is_not_a_chunk_of_its_own():
    text = "# Title\n\n## Section\n\nBody text."
    chunks = chunk_markdown(text, 128)
    assert [(c.start_line, c.end_line) for c in chunks] == [(1, 5)]
    assert chunks[0].heading == "Title › Section"


def test_list_items_and_their_continuations_stay_together():
    text = "- " + "alpha " * 20 + "\n  continued item\n- second item " + "beta " * 20
    chunks = chunk_markdown(text, 48)
    assert [(c.start_line, c.end_line) for c in chunks] == [(1, 2), (3, 3)]


def test_code_fence_is_not_split_when_it_fits():
    chunks = chunk_markdown(DOC, 40)
    fence = [c for c in chunks if "def migrate" in c.text]
    assert len(fence) == 1
    assert "```python" in fence[0].text and fence[0].text.rstrip().endswith("```")


def test_heading_inside_code_fence_is_not_a_heading():
    text = "# Real\n\n```\n# not a heading\n```\n"
    chunks = chunk_markdown(text, 128)
    assert all(c.heading == "Real" for c in chunks)


def test_oversized_block_splits_at_line_boundaries():
    text = "\n".join(f"line {i} " + "word " * 10 for i in range(1, 41))
    chunks = chunk_markdown(text, 64)
    assert len(chunks) > 1
    for chunk in chunks:
        assert chunk.text == lines_of(text, chunk)
        assert estimate_tokens(chunk.text) <= 64 + 2


def test_a_single_huge_line_is_split_but_keeps_its_line_number():
    text = "intro\n\n" + "word " * 2000 + "\n\noutro"
    chunks = chunk_markdown(text, 100)
    long_pieces = [c for c in chunks if c.start_line == 3]
    assert len(long_pieces) > 5
    assert all(c.end_line == 3 for c in long_pieces)
    assert "".join(c.text for c in long_pieces) == "word " * 2000
    assert all(estimate_tokens(c.text) <= 100 for c in long_pieces)


def test_windows_line_endings_and_empty_input():
    assert chunk_markdown("", 128) == []
    assert chunk_markdown("\n\n  \n", 128) == []
    chunks = chunk_markdown("# T\r\n\r\nbody\r\n", 128)
    assert chunks[0].heading == "T" and "\r" not in chunks[0].text


def test_cjk_counts_about_one_token_per_character():
    assert estimate_tokens("记" * 100) >= 100
    chunks = chunk_markdown("记忆" * 300, 128)
    assert len(chunks) >= 4
    assert all(estimate_tokens(c.text) <= 128 for c in chunks)


def test_chunks_fit_the_model_window():
    text = "\n".join(f"- item {i}: " + "lorem ipsum dolor " * 9 for i in range(100))
    assert all(estimate_tokens(c.text) <= 128 for c in chunk_markdown(text, 128))


def test_a_chunk_is_indexed_with_the_block_before_it_within_its_section():
    long_question = "- Gina: " + "so much happened " * 30 + "What business are you thinking of?"
    text = "\n".join(
        [
            "# Day",
            "",
            long_question,
            "- Jon: A dance studio, because I love dancing.",
            "",
            "## Later",
            "",
            "A paragraph after the heading.",
        ]
    )
    chunks = chunk_markdown(text, 16, context_blocks=1)
    by_first_line = {c.text.split("\n")[0]: c for c in chunks}
    reply = by_first_line["- Jon: A dance studio, because I love dancing."]
    # The end of the question (its last 300 characters): the words nearest the reply.
    assert reply.context.endswith("What business are you thinking of?")
    assert len(reply.context) == 300
    assert reply.text.startswith("- Jon:")  # context is never part of the cited lines
    assert by_first_line["## Later"].context == ""  # not across headings
    assert all(c.context == "" for c in chunk_markdown(text, 16))  # off by default
    two = chunk_markdown(text, 16, context_blocks=2)
    assert [c.context for c in two if c.text.startswith("- Jon")] == [reply.context]  # one above
