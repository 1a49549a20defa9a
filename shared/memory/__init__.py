"""The memory engine: markdown files in, cited hybrid search results out."""

from __future__ import annotations

from datetime import date

from shared.config import Config
from shared.memory import db
from shared.memory.embedder import Embedder
from shared.memory.fts import CommonTerms
from shared.memory.index import MemoryIndex, Progress, SyncReport
from shared.memory.query_service import QueryEmbeddingClient
from shared.memory.search import MemorySearch, SearchResponse
from shared.memory.stats import memory_stats
from shared.memory.vector_matrix import VectorMatrix


def make_embedder(config: Config, for_queries: bool = False, ask_workers: bool = False) -> Embedder:
    """`for_queries`: the lean query encoder; `ask_workers`: query vectors from a worker first."""
    embedder = Embedder(config.embedding, config.models_dir, for_queries=for_queries)
    if ask_workers and not embedder.served:  # a served model is asked directly
        embedder.query_service = QueryEmbeddingClient(config, embedder.identity.key)
    return embedder


def one_shot_query_embedder(config: Config) -> Embedder:
    """For a command that searches and exits (`localgpt memory search`, `ask`, `chat`): the
    running worker's query vectors when one serves them (no model to load here), else the model
    from this machine's files, never a download (which could hang for long offline). With
    neither, searches use keywords and say why."""
    embedder = Embedder(config.embedding, config.models_dir, for_queries=True, local_only=True)
    if not embedder.served:
        client = QueryEmbeddingClient(config, embedder.identity.key)
        if client.reachable():
            embedder.query_service = client
    return embedder


class Memory:
    """One handle on the memory DB: index, search and stats over one connection.

    A process that searches all day passes the same `vectors` and `common_terms` to each of
    its handles (one per thread): see `VectorMatrix` and `CommonTerms`."""

    def __init__(
        self,
        config: Config,
        embedder: Embedder | None = None,
        vectors: VectorMatrix | None = None,
        common_terms: CommonTerms | None = None,
    ) -> None:
        self.config = config
        self.embedder = embedder if embedder is not None else make_embedder(config)
        self.conn = db.connect(config.memory_db)
        self.index = MemoryIndex(config, self.embedder, self.conn)
        self._search = MemorySearch(self.conn, self.embedder, config.memory, vectors, common_terms)

    def sync(self, force: bool = False, progress: Progress | None = None) -> SyncReport:
        return self.index.sync(force=force, progress=progress)

    def search(
        self,
        query: str,
        limit: int | None = None,
        after: date | None = None,
        before: date | None = None,
        max_chars: int | None = None,
    ) -> SearchResponse:
        return self._search.search(query, limit, after=after, before=before, max_chars=max_chars)

    def stats(self) -> dict:
        return memory_stats(self.config, self.conn)

    def close(self) -> None:
        self.conn.close()


__all__ = [
    "CommonTerms",
    "Embedder",
    "Memory",
    "SearchResponse",
    "SyncReport",
    "VectorMatrix",
    "make_embedder",
    "one_shot_query_embedder",
]
