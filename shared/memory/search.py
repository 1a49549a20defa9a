"""Hybrid memory search: FTS5 BM25 and vector KNN, fused into one ranking with citations.

Both legs fetch a candidate pool; scores are min-max normalised within each pool and combined
with the configured weights, so a chunk found by only one leg still ranks on that leg's merit.
When the embedding model cannot be used, search runs on keywords alone and says why.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import apsw
import numpy as np

from shared.config import MemoryConfig
from shared.memory import db
from shared.memory.embedder import STILL_LOADING, Embedder, EmbedderUnavailable
from shared.memory.fts import CommonTerms, query_terms, terms_expression
from shared.memory.vector_matrix import VectorMatrix

SNIPPET_CHARS = 700
MAX_LIMIT = 100


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
            "citation": self.citation,
        }


@dataclass
class SearchResponse:
    query: str
    results: list[SearchResult]
    took_ms: float
    mode: str  # hybrid | keyword | vector | none
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "query": self.query,
            "results": [r.as_dict() for r in self.results],
            "took_ms": round(self.took_ms, 2),
            "mode": self.mode,
            "warnings": self.warnings,
        }


class MemorySearch:
    """Search over one connection. `vectors` (an in-memory copy of the vectors) and
    `common_terms` may be shared by every connection of a process that searches a lot."""

    def __init__(
        self,
        conn: apsw.Connection,
        embedder: Embedder | None,
        config: MemoryConfig,
        vectors: VectorMatrix | None = None,
        common_terms: CommonTerms | None = None,
    ) -> None:
        self.conn = conn
        self.embedder = embedder
        self.config = config
        self.vectors = vectors
        self.common_terms = common_terms or CommonTerms()

    def search(self, query: str, limit: int | None = None) -> SearchResponse:
        started = time.perf_counter()
        limit = max(1, min(limit or self.config.search_limit, MAX_LIMIT))
        pool = max(50, limit * 5)
        warnings: list[str] = []
        vector = self._vector_leg(query, pool, warnings)
        keyword, dropped_common = self._keyword_leg(query, pool, vector)
        # Left-out common terms matched nearly every chunk at a score of ~0, which set the
        # pool's minimum: keep 0 as the floor, or the weakest real hit would score 0.
        kw_norm = _normalise(keyword, low=0.0 if dropped_common else None)
        scores = self._fuse(kw_norm, vector)
        ranked = sorted(scores, key=scores.get, reverse=True)[:limit]
        results = self._load(ranked, scores, kw_norm, vector)
        mode = "hybrid" if vector is not None else "keyword"
        return SearchResponse(
            query, results, (time.perf_counter() - started) * 1000, mode, warnings
        )

    # -- legs -----------------------------------------------------------------------------

    def _keyword_leg(
        self, query: str, pool: int, vector: dict[int, float] | None
    ) -> tuple[dict[int, float], bool]:
        """(chunk id -> BM25 relevance, positive; whether common terms were left out).

        Terms in half the chunks or more carry no BM25 weight, only cost: they are left out
        when another term remains. When every term is that common, the keyword leg only runs
        if meaning found nothing related (it then ranks by how often the terms occur)."""
        terms = query_terms(query)
        if not terms:
            return {}, False
        selective = self.common_terms.without_common(self.conn, terms)
        if not selective:
            if self._related(vector):
                return {}, True
            selective = terms
        expression = terms_expression(selective)
        rows = self.conn.execute(
            "SELECT rowid, bm25(chunks_fts, 1.0, 0.5, 0.5) FROM chunks_fts"
            " WHERE chunks_fts MATCH ? ORDER BY bm25(chunks_fts, 1.0, 0.5, 0.5) LIMIT ?",
            (expression, pool),
        )
        return {rowid: -rank for rowid, rank in rows}, len(selective) < len(terms)

    def _vector_leg(self, query: str, pool: int, warnings: list[str]) -> dict[int, float] | None:
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
        if self.vectors is not None:
            nearest = self.vectors.nearest(self.conn, vector, pool)
            if nearest is not None:
                return nearest
        rows = self.conn.execute(
            "SELECT chunk_id, distance FROM chunks_vec WHERE embedding MATCH ? AND k = ?",
            (np.asarray(vector, dtype=np.float32).tobytes(), pool),
        )
        return {chunk_id: 1.0 - distance for chunk_id, distance in rows}

    def _related(self, vector: dict[int, float] | None) -> bool:
        floor = self.config.min_vector_similarity
        return bool(vector) and max(vector.values()) >= floor

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
        return None

    def _has_chunks(self) -> bool:
        return bool(self.conn.execute("SELECT 1 FROM chunks LIMIT 1").fetchone())

    # -- fusion ---------------------------------------------------------------------------

    def _fuse(self, kw: dict[int, float], vector: dict[int, float] | None) -> dict[int, float]:
        """chunk id -> fused score in 0..1, from normalised keyword scores and similarities."""
        if not vector:
            return kw
        vec = _normalise(vector)
        w_kw, w_vec = self.config.keyword_weight, self.config.vector_weight
        total = (w_kw + w_vec) or 1.0
        # A chunk found only by meaning must be at least somewhat similar: the vector leg
        # always returns a full pool, however unrelated its tail is.
        related = {cid for cid, sim in vector.items() if sim >= self.config.min_vector_similarity}
        return {
            cid: (w_kw * kw.get(cid, 0.0) + w_vec * vec.get(cid, 0.0)) / total
            for cid in set(kw) | related
        }

    def _load(
        self,
        ids: list[int],
        scores: dict[int, float],
        kw_norm: dict[int, float],
        vector: dict[int, float] | None,
    ) -> list[SearchResult]:
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        rows = self.conn.execute(
            f"SELECT id, path, start_line, end_line, heading, text FROM chunks"
            f" WHERE id IN ({marks})",
            ids,
        )
        by_id = {row[0]: row for row in rows}
        results = []
        for cid in ids:
            if cid not in by_id:  # deleted between the legs and the load
                continue
            _, path, start, end, heading, text = by_id[cid]
            results.append(
                SearchResult(
                    path=path,
                    start_line=start,
                    end_line=end,
                    heading=heading,
                    score=_rounded(scores.get(cid, 0.0)),
                    snippet=_snippet(text),
                    keyword_score=_rounded(kw_norm.get(cid, 0.0)),
                    vector_score=_rounded((vector or {}).get(cid, 0.0)),
                )
            )
        return results


def _normalise(scores: dict[int, float], low: float | None = None) -> dict[int, float]:
    """Min-max to 0..1 within one leg's pool (a single hit scores 1); `low` fixes the floor."""
    if not scores:
        return {}
    high = max(scores.values())
    low = min(scores.values()) if low is None else low
    span = high - low
    if span <= 1e-12:
        return {cid: 1.0 for cid in scores}
    return {cid: (value - low) / span for cid, value in scores.items()}


def _rounded(value: float) -> float:
    """4 decimals; a NaN (a zero vector on sqlite-vec's path) becomes 0, as JSON has none."""
    value = float(value)
    return round(value, 4) if math.isfinite(value) else 0.0


def _snippet(text: str) -> str:
    text = text.strip()
    return text if len(text) <= SNIPPET_CHARS else text[: SNIPPET_CHARS - 1].rstrip() + "…"
