"""Packing the fused ranking into results: spans, a character budget, no repeats."""

from __future__ import annotations

import re

from conftest import write

from shared.memory.search import _Chunk, _pack


def chunk(cid, path, start, end, seq, text=None, day=None) -> _Chunk:
    if text is None:
        text = "\n".join(f"line {n} of {path}" for n in range(start, end + 1))
    return _Chunk(cid, path, start, end, "", text, day, seq)


def ranked(*ids: int) -> list[tuple[int, float, float, float]]:
    return [(cid, 1.0 - n / 100, 0.5, 0.5) for n, cid in enumerate(ids)]


def cited(spans) -> list[tuple[str, int, int]]:
    return [(s.path, s.start, s.end) for s in spans]


def test_a_hit_next_to_a_taken_one_extends_its_span_and_costs_only_its_lines():
    chunks = {
        1: chunk(1, "a.md", 1, 3, 0),
        2: chunk(2, "a.md", 4, 6, 1),
        3: chunk(3, "b.md", 1, 2, 0),
    }
    spans = _pack(ranked(2, 3, 1), chunks, limit=10, budget=0)
    assert cited(spans) == [("a.md", 1, 6), ("b.md", 1, 2)]  # a.md keeps its first place
    assert spans[0].chunks == 2
    assert sorted(spans[0].lines) == [1, 2, 3, 4, 5, 6]


def test_overlapping_hits_are_cited_once():
    """Two pieces of text sharing lines 3-4: one span, lines 3-4 counted once."""
    text = {n: f"{n:02d} " + "x" * 17 for n in range(1, 7)}  # each line 20 chars + newline
    chunks = {
        1: chunk(1, "a.md", 1, 4, 0, "\n".join(text[n] for n in range(1, 5))),
        2: chunk(2, "a.md", 3, 6, 1, "\n".join(text[n] for n in range(3, 7))),
    }
    # Budget for 6 lines: both fit only because the shared lines are not paid twice.
    spans = _pack(ranked(1, 2), chunks, limit=10, budget=6 * 21)
    assert cited(spans) == [("a.md", 1, 6)]
    spans = _pack(ranked(1, 2), chunks, limit=10, budget=6 * 21 - 1)
    assert cited(spans) == [("a.md", 1, 4)]


def test_neighbours_across_blank_lines_join_and_pay_for_the_blank_lines():
    chunks = {1: chunk(1, "a.md", 1, 2, 0, "ab\ncd"), 2: chunk(2, "a.md", 5, 5, 1, "ef")}
    spans = _pack(ranked(1, 2), chunks, limit=10, budget=3 + 3 + 2 + 3)  # 2 blank lines
    assert cited(spans) == [("a.md", 1, 5)]
    assert cited(_pack(ranked(1, 2), chunks, limit=10, budget=10)) == [("a.md", 1, 2)]


def test_spans_that_grow_into_each_other_merge():
    chunks = {n: chunk(n, "a.md", 3 * n + 1, 3 * n + 3, n) for n in range(3)}
    spans = _pack(ranked(0, 2, 1), chunks, limit=10, budget=0)
    assert cited(spans) == [("a.md", 1, 9)]
    assert spans[0].chunks == 3


def test_the_budget_is_filled_with_what_fits_and_never_passed():
    long = chunk(1, "a.md", 1, 1, 0, "x" * 500)
    short = chunk(2, "b.md", 1, 1, 0, "y" * 50)
    spans = _pack(ranked(1, 2), {1: long, 2: short}, limit=10, budget=100)
    assert cited(spans) == [("b.md", 1, 1)]  # the long hit did not fit; the next one did


def test_limit_counts_spans_not_chunks():
    chunks = {n: chunk(n, "a.md", n, n, n - 1) for n in range(1, 5)}
    chunks[9] = chunk(9, "b.md", 1, 1, 0)
    spans = _pack(ranked(1, 2, 3, 9, 4), chunks, limit=1, budget=0)
    assert cited(spans) == [("a.md", 1, 3)]  # stops at the hit that would open a 2nd span


def test_near_duplicates_of_the_same_day_are_dropped():
    words = "the plan for the garden is raised beds tomatoes basil and a small pond"
    chunks = {
        1: chunk(1, "MEMORY.md", 4, 4, 2, words),
        2: chunk(2, "knowledge/garden.md", 10, 10, 5, words + " too"),
        3: chunk(3, "memory/2026-05-01.md", 3, 3, 1, words, day="2026-05-01"),
        4: chunk(4, "memory/2026-05-02.md", 3, 3, 1, "- [ ] call mom", day="2026-05-02"),
        5: chunk(5, "memory/2026-05-03.md", 3, 3, 1, "- [ ] call mom", day="2026-05-03"),
    }
    spans = _pack(ranked(1, 2, 3, 4, 5), chunks, limit=10, budget=0)
    # The copy in knowledge/ repeats MEMORY.md; the dated note is another day's event, and
    # short repeated items ("call mom" on two days) are two memories.
    assert [s.path for s in spans] == [
        "MEMORY.md",
        "memory/2026-05-01.md",
        "memory/2026-05-02.md",
        "memory/2026-05-03.md",
    ]


# -- through the real search ----------------------------------------------------------------


def test_search_results_fit_the_budget_and_cite_real_lines(memory, workspace):
    """A day of notes about one topic: the hits merge into spans whose citations are exact
    line ranges of the file, and the cited characters stay within result_chars."""
    lines = ["# Trip log", ""]
    for n in range(60):
        lines.append(f"- Day {n}: we sailed the boat along the coast and fixed the sail rig {n}.")
    write(workspace / "memory" / "2026-06-01.md", "\n".join(lines) + "\n")
    memory.sync()
    file_lines = (workspace / "memory" / "2026-06-01.md").read_text().split("\n")
    for budget in (400, 1500):
        memory.config.memory.result_chars = budget
        found = memory.search("sailing the boat and fixing the sail", 10)
        assert found.results
        total = 0
        for hit in found.results:
            assert re.fullmatch(r"[\w/.-]+\.md#L\d+(-L\d+)?", hit.citation)
            total += sum(len(x) + 1 for x in file_lines[hit.start_line - 1 : hit.end_line])
            if hit.path == "memory/2026-06-01.md":
                first_line = file_lines[hit.start_line - 1]
                assert hit.snippet.split("\n")[0] == first_line.strip()
        assert total <= budget
        spans = sorted(
            (h.start_line, h.end_line) for h in found.results if h.path.startswith("memory/2026")
        )
        for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
            assert start > end + 1  # touching hits would have been one span
    memory.config.memory.result_chars = 0
    unlimited = memory.search("sailing the boat and fixing the sail", 3)
    assert len(unlimited.results) <= 3
    assert sum(h.chunks for h in unlimited.results) >= len(unlimited.results)
