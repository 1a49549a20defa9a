"""Hybrid memory search: FTS5 BM25 and vector KNN, fused by rank, packed into cited spans.

Each leg ranks a candidate pool; the rankings are fused with reciprocal rank fusion (RRF: a
chunk scores the sum of 1 / (k + rank) over the rankings it is in), which needs no score
normalisation and no weights fitted to one data set. A time expression in the question ("in
May 2023", "last week", "before the trip") adds one more ranking: the candidates dated within
it, in fused order. The fused ranking is then packed into results: hits that overlap or touch
in one file become one span (its lines counted once), near-duplicates of a taken hit are
dropped, and packing stops at `limit` spans or `result_chars` characters of cited lines.
`after`/`before` filter by the chunks' dates. When the embedding model cannot be used, search
runs on keywords alone and says why.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

import apsw
import numpy as np

from shared.config import MemoryConfig
from shared.memory import db
from shared.memory.dates import DateRange, QueryTime, query_time
from shared.memory.embedder import STILL_LOADING, Embedder, EmbedderUnavailable
from shared.memory.fts import CommonTerms, query_terms, terms_expression
from shared.memory.provenance import RANK_WEIGHT, USER, combine
from shared.memory.vector_matrix import VectorMatrix

SNIPPET_CHARS = 700  # per chunk of a span: a span merged from three chunks shows up to 2,100
MAX_LIMIT = 100
MIN_POOL = 50  # candidates each leg ranks
NEAR_DUPLICATE = 0.9  # word-set overlap (Jaccard) above which a hit repeats one already taken
DUPLICATE_MIN_WORDS = 8  # shorter texts repeat legitimately ("- [ ] call mom" on two days)
EVERGREEN = ("MEMORY.md", "memory.md")  # never decays (OpenClaw's rule)
_WORDS = re.compile(r"\w+")


@dataclass
class SearchResult:
    path: str
    start_line: int
    end_line: int
    heading: str
    score: float
    snippet: str
    keyword_score: float
    vector_score: float
    day: str | None = None  # YYYY-MM-DD the cited lines are dated (first chunk); None: undated
    chunks: int = 1  # indexed chunks merged into this span
    provenance: str = USER  # who wrote the cited lines: user | assistant | mixed

    @property
    def date(self) -> str:
        """The day as YYYY-MM-DD, or "" when undated (what the assistant's notes show)."""
        return self.day or ""

    @property
    def citation(self) -> str:
        if self.start_line == self.end_line:
            return f"{self.path}#L{self.start_line}"
        return f"{self.path}#L{self.start_line}-L{self.end_line}"

    def as_dict(self) -> dict:
        # Spelled out: dataclasses.asdict deep-copies, and this runs for every hit served.
        return {
            "path": self.path,
            "start_line": self.start_line,
            "end_line": self.end_line,
            "heading": self.heading,
            "score": self.score,
            "snippet": self.snippet,
            "keyword_score": self.keyword_score,
            "vector_score": self.vector_score,
            "day": self.day,
            "chunks": self.chunks,
            "provenance": self.provenance,
            "citation": self.citation,
        }


@dataclass
class SearchResponse:
    query: str
    results: list[SearchResult]
    took_ms: float
    mode: str  # hybrid | keyword | vector | none
    warnings: list[str] = field(default_factory=list)
    after: str | None = None  # the date filter applied (inclusive), YYYY-MM-DD
    before: str | None = None
    query_time: dict | None = None  # {"text", "after", "before"} read from the question

    def as_dict(self) -> dict:
        return {
            "query": self.query,
            "results": [r.as_dict() for r in self.results],
            "took_ms": round(self.took_ms, 2),
            "mode": self.mode,
            "warnings": self.warnings,
            "after": self.after,
            "before": self.before,
            "query_time": self.query_time,
        }


@dataclass
class _Chunk:
    id: int
    path: str
    start: int
    end: int
    heading: str
    text: str
    day: str | None
    seq: int
    provenance: str = USER


@dataclass
class _Span:
    path: str
    start: int
    end: int
    first_seq: int
    last_seq: int
    heading: str
    day: str | None
    score: float
    keyword: float
    vector: float
    lines: dict[int, str]  # line number -> text, for the snippet and the cost
    chunks: int = 1
    provenance: str = USER


class MemorySearch:
    """Search over one connection. `vectors` (an in-memory copy of the vectors) and
    `common_terms` may be shared by every connection of a process that searches a lot.
    `today` is the clock for time expressions and recency (injectable for tests)."""

    def __init__(
        self,
        conn: apsw.Connection,
        embedder: Embedder | None,
        config: MemoryConfig,
        vectors: VectorMatrix | None = None,
        common_terms: CommonTerms | None = None,
        today: Callable[[], date] | None = None,
    ) -> None:
        self.conn = conn
        self.embedder = embedder
        self.config = config
        self.vectors = vectors
        self.common_terms = common_terms or CommonTerms()
        self.today = today or date.today
        self.understand_time = True  # read time expressions in questions (the bench turns it off)

    def search(
        self,
        query: str,
        limit: int | None = None,
        after: date | None = None,
        before: date | None = None,
        max_chars: int | None = None,
    ) -> SearchResponse:
        """`after`/`before`: keep only chunks dated within (inclusive; undated ones go).
        `max_chars`: the characters of cited lines to fill (default `result_chars`; 0: no cap)."""
        started = time.perf_counter()
        limit = max(1, min(limit or self.config.search_limit, MAX_LIMIT))
        budget = self.config.result_chars if max_chars is None else max_chars
        pool = max(MIN_POOL, limit * 5)
        warnings: list[str] = []
        window = DateRange(after, before) if (after or before) else None
        today = self.today()
        asked = None
        if self.understand_time:
            asked = query_time(query, today, anchor=self._anchor)
        vector = self._vector_leg(query, pool, warnings, window)
        keyword = self._keyword_leg(query, pool, vector, window)
        # A chunk found only by meaning must be at least somewhat similar: the vector leg
        # always returns a full pool, however unrelated its tail is.
        floor = self.config.min_vector_similarity
        related = {c: s for c, s in (vector or {}).items() if s >= floor or c in keyword}
        legs = 1 + (vector is not None)
        rankings = [_ranked(keyword), _ranked(related)]
        fused = _rrf(rankings, self.config.rrf_k)
        candidates = self._load(list(fused))
        if asked is not None:  # one more ranking: the candidates dated within the question's time
            inside = [cid for cid in fused if cid in candidates and _in(candidates[cid], asked)]
            rankings.append(inside)
            fused = _rrf(rankings, self.config.rrf_k)
        # 1.0: first in every ranking (the keyword and vector legs, and the time one if any)
        best = (legs + (asked is not None)) / (self.config.rrf_k + 1)
        top_kw = max(keyword.values(), default=0.0) or 1.0
        ranked = [
            (cid, fused[cid] / best, keyword.get(cid, 0.0) / top_kw, (vector or {}).get(cid, 0.0))
            for cid in fused
            if cid in candidates
        ]
        spans = _pack(_by_author(ranked, candidates), candidates, limit, budget)
        if self.config.recency_half_life_days > 0:
            _prefer_recent(spans, today, self.config.recency_half_life_days)
        _users_first(spans)
        results = [_result(span) for span in spans]
        mode = "hybrid" if vector is not None else "keyword"
        response = SearchResponse(
            query, results, (time.perf_counter() - started) * 1000, mode, warnings
        )
        if window is not None:
            response.after, response.before = window.iso()
        if asked is not None:
            start, end = asked.range.iso()
            response.query_time = {"text": asked.text, "after": start, "before": end}
        return response

    # -- legs -----------------------------------------------------------------------------

    def _keyword_leg(
        self,
        query: str,
        pool: int,
        vector: dict[int, float] | None,
        window: DateRange | None,
    ) -> dict[int, float]:
        """chunk id -> BM25 relevance (positive).

        Terms in half the chunks or more carry no BM25 weight, only cost: they are left out
        when another term remains. When every term is that common, the keyword leg only runs
        if meaning found nothing related (it then ranks by how often the terms occur)."""
        terms = query_terms(query)
        if not terms:
            return {}
        selective = self.common_terms.without_common(self.conn, terms)
        if not selective:
            if self._related(vector):
                return {}
            selective = terms
        expression = terms_expression(selective)
        if window is None:
            rows = self.conn.execute(
                "SELECT rowid, bm25(chunks_fts, 1.0, 0.5, 0.5) FROM chunks_fts"
                " WHERE chunks_fts MATCH ? ORDER BY bm25(chunks_fts, 1.0, 0.5, 0.5) LIMIT ?",
                (expression, pool),
            )
        else:
            low, high = _bounds(window)
            rows = self.conn.execute(
                "SELECT f.rowid, bm25(chunks_fts, 1.0, 0.5, 0.5) FROM chunks_fts f"
                " JOIN chunks c ON c.id = f.rowid WHERE chunks_fts MATCH ?"
                " AND c.day >= ? AND c.day <= ?"
                " ORDER BY bm25(chunks_fts, 1.0, 0.5, 0.5) LIMIT ?",
                (expression, low, high, pool),
            )
        return {rowid: -rank for rowid, rank in rows}

    def _vector_leg(
        self, query: str, pool: int, warnings: list[str], window: DateRange | None
    ) -> dict[int, float] | None:
        """chunk id -> cosine similarity; None when vectors cannot be used (with a warning)."""
        reason = self._vector_unavailable_reason()
        if reason:
            warnings.append(f"keyword search only: {reason}")
            return None
        if not query.strip():
            return {}
        try:
            vector = self.embedder.embed_query(query)
        except EmbedderUnavailable as exc:
            warnings.append(f"keyword search only: {exc}")
            return None
        allowed = None
        if window is not None:
            low, high = _bounds(window)
            allowed = np.fromiter(
                (
                    cid
                    for (cid,) in self.conn.execute(
                        "SELECT id FROM chunks WHERE day >= ? AND day <= ? AND has_vector",
                        (low, high),
                    )
                ),
                dtype=np.int64,
            )
            if not len(allowed):
                return {}
        if self.vectors is not None:
            nearest = self.vectors.nearest(self.conn, vector, pool, allowed)
            if nearest is not None:
                return nearest
        blob = np.asarray(vector, dtype=np.float32).tobytes()
        if allowed is None:
            rows = self.conn.execute(
                "SELECT chunk_id, distance FROM chunks_vec WHERE embedding MATCH ? AND k = ?",
                (blob, pool),
            )
        else:  # vec0 cannot filter its KNN by our columns: score the allowed chunks exactly
            low, high = _bounds(window)
            rows = self.conn.execute(
                "SELECT chunk_id, vec_distance_cosine(embedding, ?) AS d FROM chunks_vec"
                " WHERE chunk_id IN (SELECT id FROM chunks WHERE day >= ? AND day <= ?)"
                " ORDER BY d LIMIT ?",
                (blob, low, high, pool),
            )
        return {chunk_id: 1.0 - distance for chunk_id, distance in rows}

    def _related(self, vector: dict[int, float] | None) -> bool:
        floor = self.config.min_vector_similarity
        return bool(vector) and max(vector.values()) >= floor

    def _anchor(self, event: str) -> date | None:
        """The date of the note that best matches an event named in a question ("the trip"),
        by keywords; None when no dated note matches."""
        terms = query_terms(event)
        if not terms or len(terms) > 6:
            return None
        expression = terms_expression(terms)
        row = self.conn.execute(
            "SELECT c.day FROM chunks_fts f JOIN chunks c ON c.id = f.rowid"
            " WHERE chunks_fts MATCH ? AND c.day IS NOT NULL"
            " ORDER BY bm25(chunks_fts, 1.0, 0.5, 0.5) LIMIT 1",
            (expression,),
        ).fetchone()
        return date.fromisoformat(row[0]) if row else None

    def _vector_unavailable_reason(self) -> str | None:
        if self.embedder is None:
            return "no embedding model configured"
        if self.embedder.loading:
            return STILL_LOADING
        if not self.embedder.available():
            return self.embedder.error
        stored = db.get_meta(self.conn, "embedding_model")
        if stored is None:
            return None if not self._has_chunks() else "the index has no vectors yet"
        if stored != self.embedder.identity.key:
            return (
                f"the index was built with {stored} but the configured model is "
                f"{self.embedder.identity.key}; run `localgpt memory reindex`"
            )
        return self.embedder.check_probe(db.get_meta(self.conn, "embedding_probe"))

    def _has_chunks(self) -> bool:
        return bool(self.conn.execute("SELECT 1 FROM chunks LIMIT 1").fetchone())

    def _load(self, ids: list[int]) -> dict[int, _Chunk]:
        if not ids:
            return {}
        found: dict[int, _Chunk] = {}
        for start in range(0, len(ids), 500):
            part = ids[start : start + 500]
            marks = ",".join("?" * len(part))
            rows = self.conn.execute(
                "SELECT id, path, start_line, end_line, heading, text, day, seq, provenance"
                " FROM chunks"
                f" WHERE id IN ({marks})",
                part,
            )
            found.update((row[0], _Chunk(*row)) for row in rows)
        return found  # a chunk deleted between the legs and the load is simply absent


# -- fusion -------------------------------------------------------------------------------


def _ranked(scores: dict[int, float]) -> list[int]:
    return sorted(scores, key=lambda cid: (-scores[cid], cid))


def _rrf(rankings: list[list[int]], k: float) -> dict[int, float]:
    """Reciprocal rank fusion: chunk id -> sum of 1 / (k + rank), best first."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, cid in enumerate(ranking, start=1):
            fused[cid] = fused.get(cid, 0.0) + 1.0 / (k + rank)
    return dict(sorted(fused.items(), key=lambda item: (-item[1], item[0])))


def _by_author(
    ranked: list[tuple[int, float, float, float]], chunks: dict[int, _Chunk]
) -> list[tuple[int, float, float, float]]:
    """Scale each hit by who wrote it (RANK_WEIGHT): the assistant's paraphrase of a note
    scores half of what the same words would score in the user's own note. On equal scores
    the user's note comes first."""
    weighted = [
        (cid, score * RANK_WEIGHT.get(chunks[cid].provenance, 1.0), kw, vec)
        for cid, score, kw, vec in ranked
    ]
    return sorted(weighted, key=lambda hit: (-hit[1], chunks[hit[0]].provenance != USER))


def _users_first(spans: list[_Span]) -> None:
    """The tie rule after every reordering: a span not wholly the user's never sits above a
    user span of equal or higher score (the sort is stable otherwise)."""
    spans.sort(key=lambda s: (-round(s.score, 4), s.provenance != USER))


def _in(chunk: _Chunk, asked: QueryTime) -> bool:
    return chunk.day is not None and asked.range.contains(date.fromisoformat(chunk.day))


def _bounds(window: DateRange) -> tuple[str, str]:
    low, high = window.iso()
    return low or "0000-00-00", high or "9999-99-99"


# -- packing ------------------------------------------------------------------------------


def _pack(
    ranked: list[tuple[int, float, float, float]],
    chunks: dict[int, _Chunk],
    limit: int,
    budget: int,
) -> list[_Span]:
    """Walk the fused ranking and build spans: a hit that overlaps or follows on from a taken
    span of its file (the next chunk of that file) extends it, paying only for its new
    lines; a near-duplicate of a taken hit is dropped; a hit that does not fit the budget is
    passed over for smaller ones. Stops when `limit` spans are taken."""
    spans: list[_Span] = []
    used = 0
    taken_words: list[tuple[str | None, set[str]]] = []  # (day, words) of each span's first hit
    for cid, score, keyword, vector in ranked:
        chunk = chunks[cid]
        span = next((s for s in spans if _touches(s, chunk)), None)
        lines = _line_map(chunk)
        if span is None:
            if len(spans) >= limit:
                break
            words = set(_WORDS.findall(chunk.text.lower()))
            if any(day == chunk.day and _similar(words, other) for day, other in taken_words):
                continue
            cost = sum(len(t) + 1 for t in lines.values())
        else:
            new = [t for n, t in lines.items() if n not in span.lines]
            gap = _gap(span, chunk)
            if not new and not gap:
                continue  # nothing new: already cited
            cost = sum(len(t) + 1 for t in new) + gap
        if budget and used + cost > budget:
            continue
        used += cost
        if span is None:
            taken_words.append((chunk.day, words))
            spans.append(
                _Span(
                    chunk.path, chunk.start, chunk.end, chunk.seq, chunk.seq, chunk.heading,
                    chunk.day, score, keyword, vector, lines, provenance=chunk.provenance,
                )
            )  # fmt: skip
            continue
        _extend(span, chunk, lines)
        span.keyword, span.vector = max(span.keyword, keyword), max(span.vector, vector)
        _join_touching(spans, span)
    return spans


def _touches(span: _Span, chunk: _Chunk) -> bool:
    """Same file, and the chunk overlaps the span or is the chunk right before or after it."""
    if span.path != chunk.path:
        return False
    overlaps = chunk.start <= span.end and chunk.end >= span.start
    return overlaps or chunk.seq in (span.first_seq - 1, span.last_seq + 1)


def _gap(span: _Span, chunk: _Chunk) -> int:
    """Blank lines between a span and the next chunk of its file: cited with them, a char each.
    (Every non-blank line belongs to some chunk, so lines between neighbours are blank.)"""
    if chunk.start > span.end:
        return chunk.start - span.end - 1
    if chunk.end < span.start:
        return span.start - chunk.end - 1
    return 0


def _extend(span: _Span, chunk: _Chunk, lines: dict[int, str]) -> None:
    if chunk.start < span.start:
        span.heading, span.day = chunk.heading, chunk.day
    span.start, span.end = min(span.start, chunk.start), max(span.end, chunk.end)
    span.first_seq, span.last_seq = min(span.first_seq, chunk.seq), max(span.last_seq, chunk.seq)
    for number, text in lines.items():
        span.lines.setdefault(number, text)
    span.chunks += 1
    span.provenance = combine(span.provenance, chunk.provenance)


def _join_touching(spans: list[_Span], grown: _Span) -> None:
    """A span that grew may now reach another span of its file: the later one joins the
    earlier (which keeps its place in the ranking)."""
    for other in spans:
        if other is grown or other.path != grown.path:
            continue
        overlaps = other.start <= grown.end + 1 and other.end >= grown.start - 1
        follows = other.first_seq - 1 <= grown.last_seq and other.last_seq + 1 >= grown.first_seq
        if overlaps or follows:
            first, second = sorted((grown, other), key=spans.index)
            _absorb(first, second)
            spans.remove(second)
            _join_touching(spans, first)
            return


def _absorb(keeper: _Span, gone: _Span) -> None:
    if gone.start < keeper.start:
        keeper.heading, keeper.day = gone.heading, gone.day
    keeper.start, keeper.end = min(keeper.start, gone.start), max(keeper.end, gone.end)
    keeper.first_seq = min(keeper.first_seq, gone.first_seq)
    keeper.last_seq = max(keeper.last_seq, gone.last_seq)
    for number, text in gone.lines.items():
        keeper.lines.setdefault(number, text)
    keeper.chunks += gone.chunks
    keeper.provenance = combine(keeper.provenance, gone.provenance)
    keeper.score = max(keeper.score, gone.score)
    keeper.keyword = max(keeper.keyword, gone.keyword)
    keeper.vector = max(keeper.vector, gone.vector)


def _line_map(chunk: _Chunk) -> dict[int, str]:
    """Line number -> text. (A line too long for one chunk is split into pieces that share
    its number: the first piece taken stands for the line.)"""
    lines = chunk.text.split("\n")
    if len(lines) != chunk.end - chunk.start + 1:  # not whole lines: never written so, but safe
        lines = [chunk.text] + [""] * (chunk.end - chunk.start)
    return dict(zip(range(chunk.start, chunk.end + 1), lines, strict=True))


def _similar(a: set[str], b: set[str]) -> bool:
    """Near-duplicates: long enough to be more than a repeated phrase, nearly the same words.
    (Only compared for hits of the same day: the same words on two days are two events.)"""
    if len(a) < DUPLICATE_MIN_WORDS or len(b) < DUPLICATE_MIN_WORDS:
        return False
    small, large = (a, b) if len(a) <= len(b) else (b, a)
    if len(small) / len(large) < NEAR_DUPLICATE:
        return False
    return len(a & b) / len(a | b) >= NEAR_DUPLICATE


def _prefer_recent(spans: list[_Span], today: date, half_life: float) -> None:
    """Order what relevance selected by score x 0.5 ** (age / half-life); MEMORY.md and
    undated notes keep their score. It reorders the results, never swaps one out."""

    def weighted(span: _Span) -> float:
        if span.day is None or span.path.rsplit("/", 1)[-1] in EVERGREEN:
            return span.score
        age = max(0, (today - date.fromisoformat(span.day)).days)
        return span.score * 0.5 ** (age / half_life)

    for span in spans:
        span.score = weighted(span)
    spans.sort(key=lambda s: -s.score)


def _result(span: _Span) -> SearchResult:
    text = "\n".join(span.lines.get(n, "") for n in range(span.start, span.end + 1))
    return SearchResult(
        path=span.path,
        start_line=span.start,
        end_line=span.end,
        heading=span.heading,
        score=_rounded(span.score),
        snippet=_snippet(text, SNIPPET_CHARS * span.chunks),
        keyword_score=_rounded(span.keyword),
        vector_score=_rounded(span.vector),
        day=span.day,
        chunks=span.chunks,
        provenance=span.provenance,
    )


def _rounded(value: float) -> float:
    """4 decimals; a NaN (a zero vector on sqlite-vec's path) becomes 0, as JSON has none."""
    value = float(value)
    return round(value, 4) if math.isfinite(value) else 0.0


def _snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
