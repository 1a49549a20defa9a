"""User text never reaches FTS5 MATCH raw: hostile queries run as plain words against a real DB."""

from __future__ import annotations

import pytest

from shared.memory import db
from shared.memory.fts import fts_text, match_expression, query_terms

HOSTILE = [
    'say "hello" world',
    '"unbalanced quote',
    "wildcard* star",
    "-negated -term",
    "NEAR(alpha beta, 2)",
    "alpha NEAR beta",
    "AND OR NOT",
    "body:secret",
    "^caret (paren) {brace}",
    "sqlite-vec: knn/search",
    "C++ & 100% 'single'",
    "记忆系统",
    "東京 trip 2026",
    "emoji 🚀 rocket",
    "\x00null\x01ctrl",
    "    ",
    "?!.,;",
]


@pytest.fixture
def conn(tmp_path):
    conn = db.connect(tmp_path / "m.db")
    rows = [
        (1, "we say hello to the world"),
        (2, "wildcard tokens and a star"),
        (3, "alpha and beta are near each other"),
        (4, "the body of the secret note"),
        (5, fts_text("我们的记忆系统在东京")),
        (6, "a rocket launch 🚀 and sqlite vec search"),
    ]
    with db.write_tx(conn):
        conn.executemany(
            "INSERT INTO chunks_fts(rowid, body, heading, path) VALUES (?, ?, '', '')", rows
        )
    return conn


@pytest.mark.parametrize("query", HOSTILE)
def test_hostile_queries_never_raise(conn, query):
    expression = match_expression(query)
    if expression is None:
        assert not any(ch.isalnum() for ch in query)
        return
    list(conn.execute("SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH ?", (expression,)))


def search(conn, query: str) -> set[int]:
    expression = match_expression(query)
    rows = conn.execute("SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH ?", (expression,))
    return {r[0] for r in rows}


def test_operators_are_plain_words(conn):
    assert search(conn, "NEAR(alpha beta, 2)") == {3}
    assert search(conn, "body:secret") == {4}
    assert 1 in search(conn, 'say "hello" world')


def test_terms_are_or_ed_and_stop_words_dropped(conn):
    assert query_terms("What is the wildcard of the world?") == ["wildcard", "world"]
    assert search(conn, "what about wildcard or world") == {1, 2}


def test_a_query_of_only_stop_words_still_searches():
    assert query_terms("what is it") == ["what", "is", "it"]


def test_porter_stemming_matches_word_forms(conn):
    assert search(conn, "launched rockets") == {6}


def test_cjk_substring_matches_without_spaces(conn):
    assert search(conn, "记忆") == {5}
    assert search(conn, "东京") == {5}
    assert search(conn, "京东") == set(), "characters must match in order, as a phrase"


def test_quotes_inside_terms_are_escaped():
    assert match_expression('foo"bar') == '"foo" OR "bar"'
    assert match_expression("") is None
