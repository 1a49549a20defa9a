"""Turning text into what FTS5 indexes, and user queries into safe MATCH expressions.

User text never reaches MATCH raw: it is split into word tokens, stop-words are dropped, and each
token is double-quoted, so FTS5 operators (`AND`, `NEAR`, `*`, `-`, `:`, `^`, parentheses) are
plain words. CJK text has no spaces, so both sides split it into single characters and a CJK run
in a query becomes a quoted phrase of those characters (an exact substring match).
"""

from __future__ import annotations

import re
import time

import apsw

from shared.memory.chunker import CJK

WORD = re.compile(r"\w+", re.UNICODE)
CJK_RUN = re.compile(f"(?:{CJK.pattern})+")

STOP_WORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "am",
        "an",
        "and",
        "any",
        "are",
        "aren't",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "don't",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "isn't",
        "it",
        "it's",
        "its",
        "itself",
        "just",
        "let's",
        "me",
        "more",
        "most",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
        "s",
        "t",
        "d",
        "ll",
        "m",
        "re",
        "ve",
        "did",
        "does",
        "doing",
    ]
)


def fts_text(text: str) -> str:
    """Text as stored in the FTS table: CJK characters separated so each is a token."""
    return CJK.sub(lambda m: f" {m.group(0)} ", text) if CJK.search(text) else text


def query_terms(query: str) -> list[str]:
    """Distinct search terms of a query: lower-cased words without stop-words, CJK runs whole."""
    terms: list[str] = []
    for run in _split_runs(query):
        if CJK.match(run):
            terms.append(run)
            continue
        for word in WORD.findall(run.lower()):
            if word not in terms:
                terms.append(word)
    content = [t for t in terms if t not in STOP_WORDS and t.strip("_")]
    return content or [t for t in terms if t.strip("_")]


def match_expression(query: str) -> str | None:
    """An FTS5 MATCH string OR-ing the quoted terms; None when the query has no searchable term."""
    return terms_expression(query_terms(query))


def terms_expression(terms: list[str]) -> str | None:
    """OR of the quoted terms (a CJK run becomes a phrase of its characters)."""
    if not terms:
        return None
    return " OR ".join(_term_phrase(t) for t in terms)


class CommonTerms:
    """Which terms are in at least half of all chunks: terms BM25 gives no weight.

    FTS5's BM25 IDF is log((N - n + 0.5) / (n + 0.5)), clamped to 1e-6 when that is not
    positive, i.e. when a term is in half of the N chunks or more. Such a term cannot change a
    ranking, yet scoring it walks its whole posting list: a few of them cost a 20,000-chunk
    search 20 ms. Terms in fewer than `min_chunks` chunks are never called common (scoring
    them is cheap, and small indexes keep their rankings). Answers are cached for a minute,
    per process: document frequencies move slowly.
    """

    MIN_CHUNKS = 1000
    TTL_SECONDS = 60.0
    MAX_ENTRIES = 4096

    def __init__(self, min_chunks: int = MIN_CHUNKS) -> None:
        self.min_chunks = min_chunks
        self._known: dict[str, tuple[bool, float]] = {}  # term -> (common, checked at)

    def without_common(self, conn: apsw.Connection, terms: list[str]) -> list[str]:
        """The terms that are not common (maybe none)."""
        chunks = conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
        if chunks < 2 * self.min_chunks:
            return terms
        return [t for t in terms if not self._common(conn, t, chunks)]

    def _common(self, conn: apsw.Connection, term: str, chunks: int) -> bool:
        now = time.monotonic()
        known = self._known.get(term)
        if known is not None and now - known[1] < self.TTL_SECONDS:
            return known[0]
        half = (chunks + 1) // 2
        # Counting stops at half: a rare term costs its few rows, a common one N/2 row ids.
        (found,) = conn.execute(
            "SELECT count(*) FROM (SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH ? LIMIT ?)",
            (_term_phrase(term), half),
        ).fetchone()
        common = found >= half and found >= self.min_chunks
        if len(self._known) >= self.MAX_ENTRIES:
            self._known.clear()
        self._known[term] = (common, now)
        return common


def _term_phrase(term: str) -> str:
    return _quote(" ".join(term) if CJK.match(term) else term)


def _split_runs(text: str) -> list[str]:
    """Split text into alternating CJK and non-CJK runs."""
    runs, last = [], 0
    for m in CJK_RUN.finditer(text):
        runs.extend([text[last : m.start()], m.group(0)])
        last = m.end()
    runs.append(text[last:])
    return [r for r in runs if r]


def _quote(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'
