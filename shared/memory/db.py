"""The memory database: one SQLite file (apsw + sqlite-vec) that every process shares.

It is a derived cache of the workspace: the markdown files are the truth, and this file can be
deleted and rebuilt. Writes always use `BEGIN IMMEDIATE` (a deferred read-then-write transaction
fails with "database is locked" regardless of the busy timeout; see the field notes).
"""

from __future__ import annotations

import secrets
from pathlib import Path

import apsw
import sqlite_vec

from shared.sqlite_db import BUSY_TIMEOUT_MS, apply_pragmas
from shared.sqlite_tx import immediate as write_tx

SCHEMA_VERSION = "5"  # 2: vector_log; 3: chunks.day, chunks.seq; 4: context; 5: provenance
VECTOR_LOG_KEEP = 100_000

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

-- One row per markdown file seen. status: indexed | skipped | error (reason in `error`).
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    hash TEXT,
    status TEXT NOT NULL DEFAULT 'indexed',
    error TEXT,
    chunker_version INTEGER,
    indexed_at REAL NOT NULL
);

CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL REFERENCES files(path) ON DELETE CASCADE ON UPDATE CASCADE,
    start_line INTEGER NOT NULL,
    end_line INTEGER NOT NULL,
    heading TEXT NOT NULL,
    text TEXT NOT NULL,
    hash TEXT NOT NULL,
    embed_hash TEXT NOT NULL,
    has_vector INTEGER NOT NULL DEFAULT 0,
    day TEXT,  -- YYYY-MM-DD the chunk is dated (file name or heading); NULL: undated
    seq INTEGER NOT NULL DEFAULT 0,  -- position among its file's chunks (0, 1, ...)
    context TEXT NOT NULL DEFAULT '',  -- the text before it, indexed and embedded with it
    provenance TEXT NOT NULL DEFAULT 'user'  -- who wrote it: user | assistant | mixed
);
CREATE INDEX IF NOT EXISTS chunks_path ON chunks(path);
CREATE INDEX IF NOT EXISTS chunks_day ON chunks(day) WHERE day IS NOT NULL;
CREATE INDEX IF NOT EXISTS chunks_missing_vector ON chunks(has_vector) WHERE has_vector = 0;

-- Contentless: we feed it text prepared for tokenising (CJK split into characters).
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    body, heading, path,
    content='', contentless_delete=1,
    tokenize='porter unicode61 remove_diacritics 2'
);

CREATE TABLE IF NOT EXISTS embedding_cache (
    model TEXT NOT NULL,
    hash TEXT NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (model, hash)
) WITHOUT ROWID;

CREATE TRIGGER IF NOT EXISTS chunks_after_delete AFTER DELETE ON chunks BEGIN
    DELETE FROM chunks_fts WHERE rowid = old.id;
    DELETE FROM chunks_vec WHERE chunk_id = old.id;
END;

-- Every chunk that gained or lost its vector, in commit order. Processes that keep the vectors
-- in memory (the API) apply just the entries they have not seen. Only recent entries are kept;
-- a reader that fell further behind reloads everything.
CREATE TABLE IF NOT EXISTS vector_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    chunk_id INTEGER NOT NULL
);
CREATE TRIGGER IF NOT EXISTS vector_log_insert AFTER INSERT ON chunks WHEN new.has_vector BEGIN
    INSERT INTO vector_log(chunk_id) VALUES (new.id);
END;
CREATE TRIGGER IF NOT EXISTS vector_log_update AFTER UPDATE OF has_vector ON chunks BEGIN
    INSERT INTO vector_log(chunk_id) VALUES (new.id);
END;
CREATE TRIGGER IF NOT EXISTS vector_log_delete AFTER DELETE ON chunks WHEN old.has_vector BEGIN
    INSERT INTO vector_log(chunk_id) VALUES (old.id);
END;
CREATE TRIGGER IF NOT EXISTS vector_log_prune AFTER INSERT ON vector_log
WHEN new.seq % 1000 = 0 BEGIN
    DELETE FROM vector_log WHERE seq <= new.seq - {keep};
END;
""".replace("{keep}", str(VECTOR_LOG_KEEP))


def vector_table_sql(dims: int) -> str:
    return (
        "CREATE VIRTUAL TABLE IF NOT EXISTS chunks_vec USING vec0("
        f"chunk_id INTEGER PRIMARY KEY, embedding float[{dims}] distance_metric=cosine)"
    )


def connect(path: Path, dims: int = 384) -> apsw.Connection:
    """Open (and if needed create) the memory DB with the project's pragmas and schema."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = apsw.Connection(str(path))
    conn.enable_load_extension(True)
    conn.load_extension(sqlite_vec.loadable_path())
    conn.enable_load_extension(False)
    apply_pragmas(conn, BUSY_TIMEOUT_MS)  # the same pragmas as every other database
    if not _has_table(conn, "meta") or get_meta(conn, "schema_version") != SCHEMA_VERSION:
        with write_tx(conn):
            # The vector table must exist before the trigger that deletes from it.
            if not _has_table(conn, "chunks_vec"):
                conn.execute(vector_table_sql(dims))
            _add_columns(conn)
            conn.execute(SCHEMA)
            set_meta(conn, "schema_version", SCHEMA_VERSION)
    if get_meta(conn, "generation") is None:  # tells a rebuilt database from this one
        with write_tx(conn):
            if get_meta(conn, "generation") is None:
                set_meta(conn, "generation", secrets.token_hex(8))
    return conn


def get_meta(conn: apsw.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return row[0] if row else None


def set_meta(conn: apsw.Connection, key: str, value: str) -> None:
    conn.execute(
        "INSERT INTO meta(key, value) VALUES (?, ?) "
        "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (key, value),
    )


def vector_dims(conn: apsw.Connection) -> int | None:
    """Dimensions the vector table was created with (None if it does not exist)."""
    row = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'chunks_vec'").fetchone()
    if not row:
        return None
    marker = "float["
    start = row[0].index(marker) + len(marker)
    return int(row[0][start : row[0].index("]", start)])


def recreate_vector_table(conn: apsw.Connection, dims: int) -> None:
    """Drop every vector (inside the caller's transaction) and make a table of `dims`."""
    conn.execute("DROP TABLE IF EXISTS chunks_vec")
    conn.execute(vector_table_sql(dims))
    conn.execute("UPDATE chunks SET has_vector = 0")


# Columns added after the first release: (table, column, definition). Old databases get them
# with ALTER TABLE; the chunker version that came with them re-chunks every file to fill them.
ADDED_COLUMNS = [
    ("chunks", "day", "TEXT"),
    ("chunks", "seq", "INTEGER NOT NULL DEFAULT 0"),
    ("chunks", "context", "TEXT NOT NULL DEFAULT ''"),
    ("chunks", "provenance", "TEXT NOT NULL DEFAULT 'user'"),
]


def _add_columns(conn: apsw.Connection) -> None:
    for table, column, definition in ADDED_COLUMNS:
        if not _has_table(conn, table):
            continue  # a new database: SCHEMA creates the table with every column
        columns = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        if column not in columns:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")


def _has_table(conn: apsw.Connection, name: str) -> bool:
    return bool(conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (name,)).fetchone())
