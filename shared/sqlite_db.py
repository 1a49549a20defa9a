"""The one way this project opens a SQLite file: the same pragmas everywhere.

Every database under `data/` (the job ledger, Huey's queue, the heartbeat's state, the memory
index) is opened through `connect` (stdlib `sqlite3`) or gets `apply_pragmas` (apsw, for the
memory index, which needs an extension the stdlib cannot load):

- WAL, so readers never wait for a writer and a writer never waits for readers;
- `synchronous=NORMAL`: survives a process crash (not a power cut), ~10x faster than FULL here;
- a busy timeout, so a writer waits for the lock instead of failing at once;
- foreign keys on.

Connections are in autocommit mode: a read is a plain `SELECT` and takes no write lock; every
write is a `BEGIN IMMEDIATE` transaction (`shared.sqlite_tx.immediate`), which takes the lock up
front so the busy timeout applies (field notes §3.2). A schema is created or migrated only when
`PRAGMA user_version` says it is behind, so opening a database to read it writes nothing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from shared.sqlite_tx import immediate

BUSY_TIMEOUT_MS = 10_000

PRAGMAS = (
    ("journal_mode", "WAL"),
    ("synchronous", "NORMAL"),
    ("foreign_keys", "ON"),
)


def apply_pragmas(conn: Any, busy_ms: int = BUSY_TIMEOUT_MS) -> None:
    """The project's pragmas on an open connection (stdlib `sqlite3` or apsw)."""
    conn.execute(f"PRAGMA busy_timeout = {int(busy_ms)}").fetchall()
    for name, value in PRAGMAS:
        conn.execute(f"PRAGMA {name} = {value}").fetchall()


def connect(path: Path, busy_ms: int = BUSY_TIMEOUT_MS) -> sqlite3.Connection:
    """A stdlib connection in autocommit mode, rows as `sqlite3.Row`, the project's pragmas."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(
        path, timeout=busy_ms / 1000, isolation_level=None, check_same_thread=False
    )
    conn.row_factory = sqlite3.Row
    try:
        apply_pragmas(conn, busy_ms)
    except BaseException:
        conn.close()
        raise
    return conn


Migration = Callable[[sqlite3.Connection], None]


def migrate(conn: sqlite3.Connection, steps: list[Migration]) -> None:
    """Bring the schema to `len(steps)` (kept in `PRAGMA user_version`): step i moves a file
    from version i to i + 1. The check is a read; only a file that is behind takes the write
    lock, and two processes starting at once run each step once."""
    target = len(steps)
    if conn.execute("PRAGMA user_version").fetchone()[0] >= target:
        return
    with immediate(conn):
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        for step in steps[version:]:
            step(conn)
        conn.execute(f"PRAGMA user_version = {target}")


def connect_readonly(path: Path, busy_ms: int = BUSY_TIMEOUT_MS) -> sqlite3.Connection:
    """A file of an earlier version, read once and never written (e.g. to import it)."""
    conn = sqlite3.connect(
        f"file:{path}?mode=ro", uri=True, timeout=busy_ms / 1000, isolation_level=None
    )
    conn.row_factory = sqlite3.Row
    return conn
