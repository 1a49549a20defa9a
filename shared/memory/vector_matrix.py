"""An in-memory copy of the index's vectors, for processes that search all day (the API).

sqlite-vec's brute-force KNN reads every vector through SQLite's pager on every query: about
18 ms at 20,000 chunks on a 2-core machine. The same float32 vectors held in one numpy matrix,
a chunk per column, make the scan one vector-matrix product: about 1.4 ms, with the same exact
cosine scores. (A chunk per row is 2.3x slower in OpenBLAS: the scan is bound by memory
bandwidth.) It costs 1.5 KB of memory per chunk (384 dimensions), so only long-running
searchers use it.

The copy follows the database through `vector_log`, which triggers fill whenever a chunk gains
or loses its vector. Each search first applies the entries it has not seen (usually none: one
indexed lookup), so results are never staler than the committed index.

Readers never lock: they take the current `_Rows` snapshot, whose first `count` columns and
`live` flags are never rewritten. The writer (one at a time) appends after `count` and
publishes a new snapshot with its own copy of `live`, the replaced columns cleared in it (a
search that began earlier still sees every chunk, as it was); when the buffer is full it packs
the live columns into a new one. The database's `generation` (random, set when it is created)
tells a rebuilt database from the one the copy came from.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import apsw
import numpy as np

FETCH_BATCH = 500
BLOCK = 1024  # rows converted at a time
GROWTH = 1.25


@dataclass(frozen=True)
class _Rows:
    matrix: np.ndarray  # (dims, capacity) float32, a chunk per column; columns >= count unused
    ids: np.ndarray  # (capacity,) int64 chunk ids
    live: np.ndarray  # (capacity,) bool; False once a row's chunk lost or replaced its vector
    count: int

    def has_room_for(self, vectors: np.ndarray) -> bool:
        """Whether `vectors` (one per row) fit after `count`, with the same dimensions."""
        return (
            self.count + len(vectors) <= len(self.ids)
            and self.matrix.shape[0] == (vectors.shape[1])
        )

    @classmethod
    def empty(cls, dims: int = 0, capacity: int = 0) -> _Rows:
        return cls(
            np.zeros((dims, capacity), dtype=np.float32),
            np.zeros(capacity, dtype=np.int64),
            np.zeros(capacity, dtype=bool),
            0,
        )


class VectorMatrix:
    def __init__(self) -> None:
        self._rows = _Rows.empty()
        self._slot: dict[int, int] = {}  # chunk id -> row, live rows only (writer's own)
        self._seq: int | None = None  # last vector_log entry applied; None: never loaded
        self._generation: str | None = None  # of the database the copy came from
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        """Chunks held (live rows)."""
        return len(self._slot)

    def nearest(
        self,
        conn: apsw.Connection,
        query: np.ndarray,
        k: int,
        allowed: np.ndarray | None = None,
    ) -> dict[int, float] | None:
        """chunk id -> cosine similarity of the k most similar chunks (among `allowed` chunk
        ids, when given); None if the stored vectors do not have the query's dimensions (a
        model change in progress)."""
        self.refresh(conn)
        rows = self._rows
        if rows.count == 0:
            return {}
        if rows.matrix.shape[0] != query.shape[0]:
            return None
        norm = float(np.linalg.norm(query))
        # query @ (dims x count): 2.3x faster than (count x dims) @ query in OpenBLAS.
        scores = (query / (norm or 1.0)).astype(np.float32) @ rows.matrix[:, : rows.count]
        scores[~rows.live[: rows.count]] = -np.inf
        if allowed is not None:
            scores[~np.isin(rows.ids[: rows.count], allowed)] = -np.inf
        k = min(k, rows.count)
        top = np.argpartition(scores, rows.count - k)[rows.count - k :]
        return {int(rows.ids[i]): float(scores[i]) for i in top if scores[i] != -np.inf}

    def refresh(self, conn: apsw.Connection) -> None:
        """Apply the vector changes committed since the last call. While another thread applies
        them, a search uses the copy as it is, unless nothing was ever loaded."""
        if (self._seq, self._generation) == _log_state(conn):
            return
        if not self._lock.acquire(blocking=self._seq is None):
            return
        try:
            head, generation = _log_state(conn)
            if (self._seq, self._generation) == (head, generation):
                return  # another thread caught up meanwhile
            changed = None if generation != self._generation else self._changes_since(conn, head)
            if changed is None:
                self._reload(conn, head, generation)
            else:
                self._apply(conn, changed)
                self._seq = head
        finally:
            self._lock.release()

    # -- writer side (under the lock) -----------------------------------------------------

    def _changes_since(self, conn: apsw.Connection, head: int) -> list[int] | None:
        """Chunk ids changed after what we hold; None when a full reload is due instead."""
        if self._seq is None or head < self._seq:  # never loaded, or the DB was rebuilt
            return None
        oldest = conn.execute("SELECT min(seq) FROM vector_log").fetchone()[0]
        if oldest is not None and oldest > self._seq + 1:  # entries we needed were pruned
            return None
        changed = [
            chunk_id
            for (chunk_id,) in conn.execute(
                "SELECT DISTINCT chunk_id FROM vector_log WHERE seq > ? AND seq <= ?",
                (self._seq, head),
            )
        ]
        # Point lookups in vec0 cost ~80 us each, a full scan ~9 us per row.
        return None if len(changed) > max(1000, self.size // 8) else changed

    def _reload(self, conn: apsw.Connection, head: int, generation: str | None) -> None:
        """Read every vector into a new buffer, published once complete."""
        total = conn.execute("SELECT count(*) FROM chunks WHERE has_vector = 1").fetchone()[0]
        self._slot = {}
        rows = _Rows.empty()
        for ids, vectors in _blocks(conn.execute("SELECT chunk_id, embedding FROM chunks_vec")):
            if not rows.has_room_for(vectors):
                rows = self._packed(rows, [], max(total, rows.count + len(ids)), vectors.shape[1])
            rows = self._written(rows, ids, vectors)
        self._rows, self._seq, self._generation = rows, head, generation

    def _apply(self, conn: apsw.Connection, changed: list[int]) -> None:
        """Publish the changed vectors and retire the columns they replace, in one step."""
        pairs = []
        for start in range(0, len(changed), FETCH_BATCH):
            part = changed[start : start + FETCH_BATCH]
            marks = ",".join("?" * len(part))
            pairs += conn.execute(
                f"SELECT chunk_id, embedding FROM chunks_vec WHERE chunk_id IN ({marks})", part
            ).fetchall()
        stale = [self._slot.pop(chunk_id) for chunk_id in changed if chunk_id in self._slot]
        rows = self._rows
        for ids, vectors in _blocks(pairs):
            if not rows.has_room_for(vectors):
                live = len(self._slot) + len(ids)
                capacity = int((live + BLOCK) * GROWTH)
                rows, stale = self._packed(rows, stale, capacity, vectors.shape[1]), []
            rows = self._written(rows, ids, vectors)
        live = rows.live.copy()  # older snapshots keep theirs: no search loses a chunk
        live[stale] = False
        self._rows = _Rows(rows.matrix, rows.ids, live, rows.count)

    def _written(self, rows: _Rows, ids: np.ndarray, vectors: np.ndarray) -> _Rows:
        """`rows` with the vectors written after its last row (unseen by current readers)."""
        start, end = rows.count, rows.count + len(ids)
        rows.matrix[:, start:end] = vectors.T
        rows.ids[start:end] = ids
        rows.live[start:end] = True
        self._slot.update(zip(ids.tolist(), range(start, end), strict=True))
        return _Rows(rows.matrix, rows.ids, rows.live, end)

    def _packed(self, rows: _Rows, retired: list[int], capacity: int, dims: int) -> _Rows:
        """A new buffer holding the live rows (minus `retired`), with room for `capacity`."""
        keep = rows.live[: rows.count].copy()
        keep[retired] = False
        if rows.matrix.shape[0] != dims:  # another model's vectors: none of them carry over
            keep[:] = False
        kept = np.flatnonzero(keep)
        fresh = _Rows.empty(dims, max(64, capacity, len(kept)))
        if len(kept):
            fresh.matrix[:, : len(kept)] = rows.matrix[:, kept]
            fresh.ids[: len(kept)] = rows.ids[kept]
            fresh.live[: len(kept)] = True
        self._slot = {int(chunk_id): n for n, chunk_id in enumerate(fresh.ids[: len(kept)])}
        return _Rows(fresh.matrix, fresh.ids, fresh.live, len(kept))


def single_threaded_blas() -> None:
    """Limit numpy's BLAS to one thread, process-wide. Call it in a process that searches from
    many threads: each product is ~1 ms, and OpenBLAS starting its own threads for every call
    from 8 request threads on 2 cores fell to 58 searches/s (376/s with one BLAS thread)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


def _blocks(pairs: Iterable[tuple[int, bytes]]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(chunk ids, unit vectors) for up to BLOCK (chunk id, float32 blob) pairs at a time."""
    block: list[tuple[int, bytes]] = []
    for pair in pairs:
        block.append(pair)
        if len(block) == BLOCK:
            yield _block(block)
            block = []
    if block:
        yield _block(block)


def _block(pairs: list[tuple[int, bytes]]) -> tuple[np.ndarray, np.ndarray]:
    ids = np.fromiter((chunk_id for chunk_id, _ in pairs), dtype=np.int64, count=len(pairs))
    return ids, _unit_rows(b"".join(blob for _, blob in pairs), len(pairs))


def _unit_rows(data: bytes, count: int) -> np.ndarray:
    """Rows scaled to length 1, so a dot product is the cosine similarity."""
    vectors = np.frombuffer(data, dtype=np.float32).reshape(count, -1)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1.0, norms)


def _log_state(conn: apsw.Connection) -> tuple[int, str | None]:
    """(last vector_log entry, database generation), in one statement."""
    return conn.execute(
        "SELECT (SELECT coalesce(max(seq), 0) FROM vector_log),"
        " (SELECT value FROM meta WHERE key = 'generation')"
    ).fetchone()
