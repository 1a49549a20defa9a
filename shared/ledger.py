"""The job ledger: durable state for every queued job, so a crash never loses one.

Huey deletes a task from its queue *before* running it, so a worker killed mid-job would lose
the job. The ledger records each job (queued / running / done / failed / cancelled, attempts,
last error) next to the queue in `queue.db`; Huey only carries the job id. Workers register
themselves and refresh a heartbeat; a running job whose worker is gone, or a queued job that
Huey no longer holds, is handed out again (at-least-once delivery; jobs are idempotent).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.sqlite_tx import immediate

WORKER_STALE_SECONDS = 20.0  # a worker silent for this long is presumed dead
LOST_GRACE_SECONDS = 30.0  # a queued job missing from Huey this long is presumed lost

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    args TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    result TEXT,
    worker TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state, updated_at);
CREATE TABLE IF NOT EXISTS workers (
    token TEXT PRIMARY KEY,
    pid INTEGER NOT NULL,
    host TEXT NOT NULL,
    started_at REAL NOT NULL,
    last_seen REAL NOT NULL
);
"""

ACTIVE_STATES = ("queued", "running")


@dataclass(frozen=True)
class Job:
    id: str
    kind: str
    args: dict[str, Any]
    state: str
    attempts: int
    last_error: str | None
    worker: str | None
    created_at: float
    updated_at: float

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Job:
        return cls(
            row["id"],
            row["kind"],
            json.loads(row["args"]),
            row["state"],
            row["attempts"],
            row["last_error"],
            row["worker"],
            row["created_at"],
            row["updated_at"],
        )


class JobLedger:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._conn().executescript(SCHEMA)

    # -- connection -----------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=10, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    def _write(self):
        return immediate(self._conn())

    # -- lifecycle of a job ---------------------------------------------------------------

    def add(self, kind: str, args: dict[str, Any]) -> Job:
        now = time.time()
        job_id = uuid.uuid4().hex
        with self._write() as conn:
            conn.execute(
                "INSERT INTO jobs(id, kind, args, state, created_at, updated_at)"
                " VALUES (?, ?, ?, 'queued', ?, ?)",
                (job_id, kind, json.dumps(args), now, now),
            )
        return self.get(job_id)

    def get(self, job_id: str) -> Job | None:
        row = self._conn().execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return Job.from_row(row) if row else None

    def claim(self, job_id: str, worker: str) -> Job | None:
        """Mark a queued job running for this worker; None if it is not runnable (any more)."""
        now = time.time()
        with self._write() as conn:
            updated = conn.execute(
                "UPDATE jobs SET state = 'running', attempts = attempts + 1, worker = ?,"
                " started_at = ?, updated_at = ? WHERE id = ? AND state = 'queued'",
                (worker, now, now, job_id),
            ).rowcount
        return self.get(job_id) if updated else None

    def finish(self, job_id: str, result: dict[str, Any] | None = None) -> None:
        self._set(
            job_id, "done", result=json.dumps(result) if result is not None else None, finished=True
        )

    def retry(self, job_id: str, error: str) -> None:
        """Back to queued after a failed attempt (the caller schedules the next delivery)."""
        self._set(job_id, "queued", error=error)

    def fail(self, job_id: str, error: str) -> None:
        """Attempts exhausted: park the job with its error."""
        self._set(job_id, "failed", error=error, finished=True)

    def requeue(self, job_id: str, reason: str) -> bool:
        """A running job whose worker stopped: make it runnable again."""
        now = time.time()
        with self._write() as conn:
            return bool(
                conn.execute(
                    "UPDATE jobs SET state = 'queued', worker = NULL, last_error = ?,"
                    " updated_at = ? WHERE id = ? AND state = 'running'",
                    (reason, now, job_id),
                ).rowcount
            )

    def cancel(self, job_id: str) -> bool:
        """Cancel a job that has not started; running jobs are not interrupted."""
        with self._write() as conn:
            return bool(
                conn.execute(
                    "UPDATE jobs SET state = 'cancelled', updated_at = ?, finished_at = ?"
                    " WHERE id = ? AND state = 'queued'",
                    (time.time(), time.time(), job_id),
                ).rowcount
            )

    def _set(
        self,
        job_id: str,
        state: str,
        *,
        error: str | None = None,
        result: str | None = None,
        finished: bool = False,
    ) -> None:
        now = time.time()
        with self._write() as conn:
            conn.execute(
                "UPDATE jobs SET state = ?, last_error = coalesce(?, last_error),"
                " result = coalesce(?, result), updated_at = ?,"
                " finished_at = CASE WHEN ? THEN ? ELSE finished_at END,"
                " worker = CASE WHEN ? = 'running' THEN worker ELSE NULL END WHERE id = ?",
                (state, error, result, now, finished, now, state, job_id),
            )

    # -- workers and recovery -------------------------------------------------------------

    def register_worker(self) -> str:
        token = f"{os.uname().nodename}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        now = time.time()
        with self._write() as conn:
            conn.execute(
                "INSERT INTO workers(token, pid, host, started_at, last_seen)"
                " VALUES (?, ?, ?, ?, ?)",
                (token, os.getpid(), os.uname().nodename, now, now),
            )
        return token

    def heartbeat(self, token: str) -> None:
        with self._write() as conn:
            conn.execute("UPDATE workers SET last_seen = ? WHERE token = ?", (time.time(), token))

    def unregister_worker(self, token: str) -> None:
        with self._write() as conn:
            conn.execute("DELETE FROM workers WHERE token = ?", (token,))

    def forget_dead_workers(self) -> list[str]:
        """Drop workers that stopped heartbeating or whose process is gone on this host."""
        host = os.uname().nodename
        stale_before = time.time() - WORKER_STALE_SECONDS
        dead = [
            row["token"]
            for row in self._conn().execute("SELECT token, pid, host, last_seen FROM workers")
            if row["last_seen"] < stale_before or (row["host"] == host and not _alive(row["pid"]))
        ]
        if dead:
            with self._write() as conn:
                conn.executemany("DELETE FROM workers WHERE token = ?", [(t,) for t in dead])
        return dead

    def orphaned_running(self) -> list[Job]:
        """Running jobs whose worker is no longer registered."""
        rows = self._conn().execute(
            "SELECT * FROM jobs WHERE state = 'running'"
            " AND (worker IS NULL OR worker NOT IN (SELECT token FROM workers))"
        )
        return [Job.from_row(r) for r in rows]

    def queued_older_than(self, seconds: float) -> list[Job]:
        rows = self._conn().execute(
            "SELECT * FROM jobs WHERE state = 'queued' AND updated_at < ?",
            (time.time() - seconds,),
        )
        return [Job.from_row(r) for r in rows]

    def touch(self, job_ids: list[str]) -> None:
        """Restart the lost-job grace period for jobs just handed to Huey again."""
        with self._write() as conn:
            conn.executemany(
                "UPDATE jobs SET updated_at = ? WHERE id = ?", [(time.time(), j) for j in job_ids]
            )

    def active_of_kind(self, kind: str) -> int:
        """How many jobs of a kind are queued or running."""
        return (
            self._conn()
            .execute(
                "SELECT count(*) FROM jobs WHERE kind = ? AND state IN ('queued', 'running')",
                (kind,),
            )
            .fetchone()[0]
        )

    # -- reporting ------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        rows = self._conn().execute("SELECT state, count(*) FROM jobs GROUP BY state")
        return {state: n for state, n in rows}

    def recent_failures(self, limit: int = 10) -> list[dict[str, Any]]:
        rows = self._conn().execute(
            "SELECT id, kind, attempts, last_error, finished_at FROM jobs WHERE state = 'failed'"
            " ORDER BY finished_at DESC LIMIT ?",
            (limit,),
        )
        return [dict(r) for r in rows]

    def prune(self, older_than_seconds: float) -> int:
        """Delete finished job records (done / failed / cancelled) older than the retention."""
        with self._write() as conn:
            return conn.execute(
                "DELETE FROM jobs WHERE state IN ('done', 'failed', 'cancelled')"
                " AND updated_at < ?",
                (time.time() - older_than_seconds,),
            ).rowcount


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
