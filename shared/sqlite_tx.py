"""The one way this project writes to SQLite: `BEGIN IMMEDIATE`.

Taking the write lock up front makes the busy timeout apply; a deferred transaction that reads
and then writes fails with "database is locked" regardless of the timeout (field notes §3.2).
Works with apsw and with stdlib `sqlite3` connections opened with `isolation_level=None`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def immediate(conn: Any) -> Iterator[Any]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    else:
        conn.execute("COMMIT")
