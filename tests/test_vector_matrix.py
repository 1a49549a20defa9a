"""The API's in-memory vectors: same answers as sqlite-vec, and they follow every index change.

Two kinds of database: a real indexed workspace (real model), and small synthetic ones written
straight into the real schema (4-dimensional vectors) to drive the buffer through growth,
compaction, pruned logs and rebuilt databases quickly.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from conftest import write

from shared.memory import Memory, VectorMatrix, db


def vec0_nearest(conn, query: np.ndarray, k: int) -> dict[int, float]:
    rows = conn.execute(
        "SELECT chunk_id, distance FROM chunks_vec WHERE embedding MATCH ? AND k = ?",
        (query.astype(np.float32).tobytes(), k),
    )
    return {chunk_id: 1.0 - distance for chunk_id, distance in rows}


def assert_same(found: dict[int, float], expected: dict[int, float]) -> None:
    assert set(found) == set(expected)
    for chunk_id, similarity in expected.items():
        assert found[chunk_id] == pytest.approx(similarity, abs=1e-5)


NOTES = {
    "memory/2026-11-01.md": "# Sat\n\n- Repotted the fig tree and the basil\n",
    "memory/2026-11-02.md": "# Sun\n\n- Booked the ferry to Hydra for the 14th\n",
    "knowledge/cooking.md": "# Bread\n\nSourdough needs a ripe starter and a long proof.\n",
    "knowledge/cars.md": "# Car\n\nThe winter tyres are in the garage loft.\n",
}


def test_nearest_matches_sqlite_vec_and_follows_edits(config, workspace, memory, embedder):
    for rel, text in NOTES.items():
        write(workspace / rel, text)
    memory.sync()
    matrix = VectorMatrix()
    question = embedder.embed_query("boat trip to a Greek island")
    assert_same(matrix.nearest(memory.conn, question, 3), vec0_nearest(memory.conn, question, 3))

    # Changes committed by another connection (the indexer) show up at the next search.
    other = Memory(config, embedder)
    write(workspace / "memory/2026-11-03.md", "# Mon\n\n- Sailing to Aegina next weekend\n")
    (workspace / "memory/2026-11-02.md").unlink()
    write(workspace / "knowledge/cars.md", "# Car\n\nSummer tyres: swapped in April.\n")
    other.sync()
    other.close()
    found = matrix.nearest(memory.conn, question, 10)
    assert_same(found, vec0_nearest(memory.conn, question, 10))
    paths = {
        memory.conn.execute("SELECT path FROM chunks WHERE id = ?", (cid,)).fetchone()[0]
        for cid in found
    }
    assert "memory/2026-11-03.md" in paths and "memory/2026-11-02.md" not in paths
    assert matrix.size == memory.conn.execute("SELECT count(*) FROM chunks").fetchone()[0]


def test_search_results_are_the_same_with_the_matrix(config, workspace, memory, embedder):
    for rel, text in NOTES.items():
        write(workspace / rel, text)
    memory.sync()
    fast = Memory(config, embedder, VectorMatrix())
    try:
        for query in ("ferry booking", "what to do with the starter", "where are the tyres"):
            expected = [r.as_dict() for r in memory.search(query, 4).results]
            assert [r.as_dict() for r in fast.search(query, 4).results] == expected
    finally:
        fast.close()


# -- synthetic databases -----------------------------------------------------------------


def synthetic_db(path: Path) -> object:
    conn = db.connect(path, dims=4)
    conn.execute("INSERT INTO files(path, size, mtime_ns, indexed_at) VALUES ('n.md', 0, 0, 0)")
    return conn


def put(conn, chunk_id: int, vector: list[float]) -> None:
    """What the indexer does for one chunk: the row, then its vector, in one transaction."""
    with db.write_tx(conn):
        conn.execute("DELETE FROM chunks WHERE id = ?", (chunk_id,))
        conn.execute(
            "INSERT INTO chunks(id, path, start_line, end_line, heading, text, hash, embed_hash,"
            " has_vector) VALUES (?, 'n.md', 1, 1, '', '', '', '', 1)",
            (chunk_id,),
        )
        conn.execute(
            "INSERT INTO chunks_vec(chunk_id, embedding) VALUES (?, ?)",
            (chunk_id, np.asarray(vector, dtype=np.float32).tobytes()),
        )


def drop(conn, chunk_id: int) -> None:
    with db.write_tx(conn):
        conn.execute("DELETE FROM chunks WHERE id = ?", (chunk_id,))


def random_unit(rng: np.random.Generator) -> list[float]:
    vector = rng.standard_normal(4)
    return list(vector / np.linalg.norm(vector))


def test_growth_replacement_and_compaction_keep_answers_exact(tmp_path):
    conn = synthetic_db(tmp_path / "m.db")
    rng = np.random.default_rng(1)
    matrix = VectorMatrix()
    query = np.array([0.5, -0.5, 0.5, 0.5], dtype=np.float32)
    for _round in range(30):  # adds, replaces (same id, new vector) and deletes, interleaved
        for _ in range(40):
            put(conn, int(rng.integers(1, 400)), random_unit(rng))
        for _ in range(10):
            drop(conn, int(rng.integers(1, 400)))
        k = int(rng.integers(1, 60))
        assert_same(matrix.nearest(conn, query, k), vec0_nearest(conn, query, k))
    live = conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
    assert matrix.size == live
    rows = matrix._rows
    assert rows.count <= len(rows.ids) <= max(64, live * 2 + 2048)  # dead rows were packed away


def test_a_reader_behind_the_pruned_log_reloads(tmp_path):
    conn = synthetic_db(tmp_path / "m.db")
    matrix = VectorMatrix()
    put(conn, 1, [1, 0, 0, 0])
    query = np.array([1, 0, 0, 0], dtype=np.float32)
    assert set(matrix.nearest(conn, query, 5)) == {1}
    put(conn, 2, [0, 1, 0, 0])
    drop(conn, 1)
    with db.write_tx(conn):  # what pruning does once the reader has fallen behind
        conn.execute("DELETE FROM vector_log")
    put(conn, 3, [0, 0, 1, 0])
    assert_same(matrix.nearest(conn, query, 5), vec0_nearest(conn, query, 5))
    assert matrix.size == 2


def test_the_log_prunes_itself(tmp_path):
    conn = synthetic_db(tmp_path / "m.db")
    with db.write_tx(conn):
        conn.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)"
            " INSERT INTO vector_log(chunk_id) SELECT i FROM n",
            (db.VECTOR_LOG_KEEP + 5000,),
        )
    kept, oldest = conn.execute("SELECT count(*), min(seq) FROM vector_log").fetchone()
    assert db.VECTOR_LOG_KEEP <= kept < db.VECTOR_LOG_KEEP + 1000
    assert oldest > 5000


def test_readers_in_threads_while_the_index_changes(tmp_path):
    path = tmp_path / "m.db"
    writer = synthetic_db(path)
    rng = np.random.default_rng(2)
    for chunk_id in range(1, 200):
        put(writer, chunk_id, random_unit(rng))
    matrix, errors, stop = VectorMatrix(), [], threading.Event()

    def reader() -> None:
        conn = db.connect(path, dims=4)
        query = np.array([0.1, 0.2, 0.3, 0.4], dtype=np.float32)
        try:
            while not stop.is_set():
                found = matrix.nearest(conn, query, 20)
                assert found and all(0 < cid < 1000 for cid in found)
                assert all(-1.0001 <= s <= 1.0001 for s in found.values())
        except Exception as exc:  # reported below: a thread's failure must fail the test
            errors.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for thread in threads:
        thread.start()
    for _ in range(600):
        put(writer, int(rng.integers(1, 1000)), random_unit(rng))
    stop.set()
    for thread in threads:
        thread.join()
    assert not errors
    query = np.array([0.1, 0.2, 0.3, 0.4], dtype=np.float32)
    assert_same(matrix.nearest(writer, query, 50), vec0_nearest(writer, query, 50))


def test_vectors_of_another_size_are_not_mixed(tmp_path):
    conn = synthetic_db(tmp_path / "m.db")
    matrix = VectorMatrix()
    put(conn, 1, [1, 0, 0, 0])
    assert matrix.nearest(conn, np.ones(8, dtype=np.float32), 5) is None  # caller falls back


def test_a_version_1_database_gains_the_log_and_loads_whole(tmp_path):
    """Indexes built before the log existed: opening them adds it, and the first search reads
    every vector (the empty log says nothing about them)."""
    path = tmp_path / "m.db"
    conn = synthetic_db(path)
    put(conn, 1, [1, 0, 0, 0])
    put(conn, 2, [0, 1, 0, 0])
    with db.write_tx(conn):  # back to what version 1 had
        for trigger in ("insert", "update", "delete", "prune"):
            conn.execute(f"DROP TRIGGER vector_log_{trigger}")
        conn.execute("DROP TABLE vector_log")
        db.set_meta(conn, "schema_version", "1")
    conn.close()
    conn = db.connect(path, dims=4)
    assert db.get_meta(conn, "schema_version") == db.SCHEMA_VERSION
    matrix = VectorMatrix()
    query = np.array([1, 1, 0, 0], dtype=np.float32)
    assert_same(matrix.nearest(conn, query, 5), vec0_nearest(conn, query, 5))
    put(conn, 3, [0, 0, 1, 0])  # and the triggers are back
    assert set(matrix.nearest(conn, query, 5)) == {1, 2, 3}


def test_a_search_that_began_before_a_change_still_sees_every_chunk(tmp_path):
    conn = synthetic_db(tmp_path / "m.db")
    for chunk_id in range(1, 6):
        put(conn, chunk_id, [1, 0.1 * chunk_id, 0, 0])
    matrix = VectorMatrix()
    matrix.refresh(conn)
    before = matrix._rows  # what a search running on another thread holds
    put(conn, 1, [0, 0, 1, 0])  # chunk 1 gets a new vector
    matrix.refresh(conn)
    assert set(before.ids[: before.count][before.live[: before.count]]) == {1, 2, 3, 4, 5}
    now = matrix._rows
    assert sorted(now.ids[: now.count][now.live[: now.count]]) == [1, 2, 3, 4, 5]


def test_a_rebuilt_database_is_reloaded_even_when_its_log_is_longer(tmp_path):
    """Applying a rebuilt database's log on top of the old copy would keep chunks that no
    longer exist (and chunk ids restart, pairing old vectors with new chunks)."""
    path = tmp_path / "m.db"
    conn = synthetic_db(path)
    for chunk_id in (1, 2, 3):
        put(conn, chunk_id, [1, 0, 0, 0])
    matrix = VectorMatrix()
    query = np.array([1, 0, 0, 0], dtype=np.float32)
    assert set(matrix.nearest(conn, query, 5)) == {1, 2, 3}
    conn.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    conn = synthetic_db(path)
    for _ in range(5):  # the new log runs past the old one's head
        put(conn, 5, [0, 1, 0, 0])
    assert_same(matrix.nearest(conn, query, 5), vec0_nearest(conn, query, 5))
    assert matrix.size == 1
