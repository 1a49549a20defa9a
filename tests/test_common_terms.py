"""Terms in half the chunks or more carry no BM25 weight: the keyword leg leaves them out.

The index is written straight into the real schema (2,400 chunks, no vectors) so the
frequencies are exact; the last test runs the whole search with the real model.
"""

from __future__ import annotations

import pytest
from conftest import write

from shared.config import MemoryConfig
from shared.memory import CommonTerms, Memory, db
from shared.memory.fts import terms_expression
from shared.memory.search import MemorySearch

CHUNKS = 2400


def text_of(n: int) -> str:
    words = ["alpha"]  # every chunk
    if n % 8 < 5:
        words.append("beta")  # 5/8 of the chunks: common
    if n % 2 == 0 and n % 12 != 0:
        words.append("delta")  # under half: kept
    if n % 80 == 0:
        words.append("gamma gamma")  # 30 chunks: rare
    return " ".join(words)


@pytest.fixture
def conn(tmp_path):
    conn = db.connect(tmp_path / "m.db")
    with db.write_tx(conn):
        conn.execute("INSERT INTO files(path, size, mtime_ns, indexed_at) VALUES ('n.md',0,0,0)")
        for n in range(1, CHUNKS + 1):
            conn.execute(
                "INSERT INTO chunks(id, path, start_line, end_line, heading, text, hash,"
                " embed_hash) VALUES (?, 'n.md', ?, ?, '', ?, '', '')",
                (n, n, n, text_of(n)),
            )
            conn.execute(
                "INSERT INTO chunks_fts(rowid, body, heading, path) VALUES (?, ?, '', 'n')",
                (n, text_of(n)),
            )
    yield conn
    conn.close()


def test_terms_in_half_the_chunks_are_common(conn):
    terms = CommonTerms()
    assert terms.without_common(conn, ["alpha", "beta", "delta", "gamma"]) == ["delta", "gamma"]
    assert terms.without_common(conn, ["alpha", "beta"]) == []
    assert terms.without_common(conn, ["nowhere"]) == ["nowhere"]


def test_leaving_them_out_does_not_change_the_ranking(conn):
    """BM25 scores them ~1e-6: the top of the ranking is the same without them."""

    def top(terms: list[str]) -> list[int]:
        rows = conn.execute(
            "SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH ?"
            " ORDER BY bm25(chunks_fts, 1.0, 0.5, 0.5), rowid LIMIT 30",
            (terms_expression(terms),),
        )
        return [rowid for (rowid,) in rows]

    assert top(["alpha", "beta", "gamma"]) == top(["gamma"])


def test_small_indexes_are_left_alone(tmp_path):
    conn = db.connect(tmp_path / "small.db")
    with db.write_tx(conn):
        conn.execute("INSERT INTO files(path, size, mtime_ns, indexed_at) VALUES ('n.md',0,0,0)")
        for n in range(1, 11):
            conn.execute(
                "INSERT INTO chunks(id, path, start_line, end_line, heading, text, hash,"
                " embed_hash) VALUES (?, 'n.md', 1, 1, '', 'alpha', '', '')",
                (n,),
            )
            conn.execute(
                "INSERT INTO chunks_fts(rowid, body, heading, path) VALUES (?, 'alpha', '', '')",
                (n,),
            )
    assert CommonTerms().without_common(conn, ["alpha"]) == ["alpha"]


def test_keyword_only_search_still_finds_common_terms(conn):
    """Without vectors nothing else could rank the query: all its terms are used."""
    search = MemorySearch(conn, None, MemoryConfig())
    found = search.search("alpha beta", 5)
    assert found.mode == "keyword" and len(found.results) == 5


def test_a_common_term_is_left_to_meaning(config, workspace, embedder):
    """Hybrid: a query of common terms ranks by meaning when meaning finds related chunks."""
    for n in range(60):  # with the workspace's own files, 'garden' is in over half the chunks
        topic = "the garden and the tomatoes" if n < 56 else "the quarterly budget"
        if n == 59:
            topic = "the release is late again"
        write(
            workspace / f"memory/standup-{n:02d}.md", f"# Standup {n}\n\nWe talked about {topic}.\n"
        )
    memory = Memory(config, embedder, common_terms=CommonTerms(min_chunks=4))
    try:
        memory.sync()
        found = memory.search("standup garden", 5)
        assert found.mode == "hybrid" and found.results
        assert all(hit.keyword_score == 0 for hit in found.results)
        assert all(hit.vector_score >= 0.3 for hit in found.results)
        assert "garden" in found.results[0].snippet
        rare = memory.search("standup release", 5)  # 'release' is rare: keywords count
        assert rare.results[0].path == "memory/standup-59.md"
        assert rare.results[0].keyword_score == 1.0
        plain = Memory(config, embedder)  # the default leaves an index this small alone
        assert any(hit.keyword_score > 0 for hit in plain.search("standup garden", 5).results)
        plain.close()
    finally:
        memory.close()


def test_the_weakest_real_hit_keeps_its_keyword_weight(tmp_path):
    """With the common term left out, the pool holds only real hits; the floor of the
    normalisation stays at 0, as when chunks matching only the common term (scoring ~0)
    filled the pool, so the second-best hit is not pushed to 0."""
    conn = db.connect(tmp_path / "m.db")
    with db.write_tx(conn):
        conn.execute("INSERT INTO files(path, size, mtime_ns, indexed_at) VALUES ('n.md',0,0,0)")
        for n in range(1, CHUNKS + 1):
            body = f"python notes filler word{n}"
            if n == 1:
                body += " asyncio asyncio event loop"
            if n == 2:
                body += " asyncio and a much longer body " + "padding " * 30
            conn.execute(
                "INSERT INTO chunks(id, path, start_line, end_line, heading, text, hash,"
                " embed_hash) VALUES (?, 'n.md', ?, ?, '', ?, '', '')",
                (n, n, n, body),
            )
            conn.execute(
                "INSERT INTO chunks_fts(rowid, body, heading, path) VALUES (?, ?, '', 'n')",
                (n, body),
            )
    found = MemorySearch(conn, None, MemoryConfig()).search("python asyncio", 5)
    scores = {hit.start_line: hit.keyword_score for hit in found.results}
    assert scores[1] == 1.0 and 0.1 < scores[2] < 1.0
    conn.close()
