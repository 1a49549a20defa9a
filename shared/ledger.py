"""The job ledger (`data/jobs.db`): the one durable record of all background work.

Every unit of background work is one row here: index jobs (`index_paths`, `remove_paths`,
`reconcile`), delegated tasks (`task`), heartbeat runs (`heartbeat`) and scheduled runs
(`cron`). One state machine for all of them:

    queued -> running -> succeeded | failed | cancelled
       ^         |
       +---------+  a worker died or stopped mid-run (at most `max_attempts(kind)` runs)

with attempts, timings, the result or error, token usage and the session a model run used.

Huey (`data/queue.db`) only carries job ids from producers to workers. It deletes a message
before running it and can lose its whole file, so the ledger also records which queue file
(`delivered_to`, the queue's generation) each queued job was handed to: a job that was never
handed over (the queue was locked), or was handed to a queue file that is gone, is handed
over again by the recovery sweep. Claiming is a conditional update, so a duplicate delivery
never runs a job twice.

Every write is one `BEGIN IMMEDIATE` transaction; reads take no write lock.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.sqlite_db import connect, migrate
from shared.sqlite_tx import immediate

WORKER_STALE_SECONDS = 20.0  # a worker silent for this long is presumed dead
LOST_GRACE_SECONDS = 30.0  # a delivered job missing from Huey this long is presumed lost
HAND_OVER_GRACE_SECONDS = 2.0  # a job not handed to Huey this long after it was recorded

STATES = ("queued", "running", "succeeded", "failed", "cancelled")
ACTIVE_STATES = ("queued", "running")
FINAL_STATES = ("succeeded", "failed", "cancelled")
INDEX_KINDS = ("index_paths", "remove_paths", "reconcile")
# Runs of the assistant: they stop cooperatively when cancelled, are never retried after a
# failure (the failure is their outcome), and an interrupted run is run again exactly once.
MODEL_KINDS = ("task", "heartbeat", "cron")
KINDS = INDEX_KINDS + MODEL_KINDS
MODEL_RUN_ATTEMPTS = 2

_STATE_CHECK = "CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled'))"

# Columns a finished model run fills in (the task fields the API and the page show).
RUN_FIELDS = (
    "result",
    "notice",
    "sources",
    "session_id",
    "model",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "model_calls",
    "tool_calls",
)


def _v1(conn: sqlite3.Connection) -> None:
    conn.execute(
        f"""CREATE TABLE jobs (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            args TEXT NOT NULL DEFAULT '{{}}',
            state TEXT NOT NULL {_STATE_CHECK},
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            summary TEXT,               -- JSON: an index job's counts, a heartbeat's outcome
            worker TEXT,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            started_at REAL,
            finished_at REAL,
            duration_ms INTEGER,
            delivered_to TEXT,          -- the queue generation Huey holds it in; NULL: not yet
            idempotency_key TEXT UNIQUE,
            title TEXT,                 -- a model run's prompt
            schedule_id TEXT,           -- the scheduled job a cron run came from
            slot REAL,                  -- the scheduled time a run served
            result TEXT,                -- a model run's reply
            notice TEXT,
            sources TEXT,               -- JSON list of the notes a reply rests on
            session_id TEXT,
            model TEXT,
            prompt_tokens INTEGER NOT NULL DEFAULT 0,
            completion_tokens INTEGER NOT NULL DEFAULT 0,
            total_tokens INTEGER NOT NULL DEFAULT 0,
            model_calls INTEGER NOT NULL DEFAULT 0,
            tool_calls INTEGER NOT NULL DEFAULT 0
        )"""
    )
    conn.execute("CREATE INDEX jobs_state ON jobs(state, updated_at)")
    conn.execute("CREATE INDEX jobs_kind ON jobs(kind, created_at)")
    conn.execute("CREATE INDEX jobs_created ON jobs(created_at)")
    conn.execute("CREATE INDEX jobs_schedule ON jobs(schedule_id, created_at)")
    conn.execute("CREATE INDEX jobs_session ON jobs(session_id)")
    conn.execute(
        """CREATE TABLE workers (
            token TEXT PRIMARY KEY,
            pid INTEGER NOT NULL,
            host TEXT NOT NULL,
            started_at REAL NOT NULL,
            last_seen REAL NOT NULL
        )"""
    )
    conn.execute(
        """CREATE TABLE schedules (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            prompt TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('every', 'cron', 'at')),
            spec TEXT NOT NULL,         -- seconds for every, the expression, or an ISO instant
            tz TEXT NOT NULL,
            paused INTEGER NOT NULL DEFAULT 0,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            anchor REAL NOT NULL,       -- where an `every` grid starts
            next_run REAL,              -- the next slot (UTC epoch); NULL: nothing more to run
            last_slot REAL,
            last_job_id TEXT,
            runs INTEGER NOT NULL DEFAULT 0,
            skipped INTEGER NOT NULL DEFAULT 0
        )"""
    )
    conn.execute("CREATE INDEX schedules_due ON schedules(next_run) WHERE paused = 0")
    conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")


MIGRATIONS = [_v1]


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
    started_at: float | None = None
    finished_at: float | None = None
    duration_ms: int | None = None
    delivered_to: str | None = None
    summary: dict[str, Any] | None = None
    title: str | None = None
    schedule_id: str | None = None
    slot: float | None = None
    result: str | None = None
    notice: str | None = None
    sources: list[dict] | None = None
    session_id: str | None = None
    model: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    model_calls: int = 0
    tool_calls: int = 0
    idempotency_key: str | None = None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Job:
        data = dict(row)
        data["args"] = json.loads(data["args"] or "{}")
        data["summary"] = json.loads(data["summary"]) if data["summary"] else None
        data["sources"] = json.loads(data["sources"]) if data["sources"] else None
        return cls(**{k: v for k, v in data.items() if k in _FIELDS})

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES


_FIELDS = set(Job.__dataclass_fields__)


class JobError(ValueError):
    """A request about a job cannot be honoured; the message says why."""


def max_attempts(kind: str, configured: int) -> int:
    return MODEL_RUN_ATTEMPTS if kind in MODEL_KINDS else configured


class JobLedger:
    def __init__(self, path: Path, busy_ms: int | None = None) -> None:
        self.path = path
        self.busy_ms = busy_ms
        self._local = threading.local()
        migrate(self._conn(), MIGRATIONS)

    # -- connection -----------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path) if self.busy_ms is None else connect(self.path, self.busy_ms)
            self._local.conn = conn
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (`BEGIN IMMEDIATE`) on this thread's connection."""
        with immediate(self._conn()) as conn:
            yield conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- creating -------------------------------------------------------------------------

    def add(
        self,
        kind: str,
        args: dict[str, Any] | None = None,
        *,
        title: str | None = None,
        session_id: str | None = None,
        model: str | None = None,
        schedule_id: str | None = None,
        slot: float | None = None,
        idempotency_key: str | None = None,
        job_id: str | None = None,
        conn: sqlite3.Connection | None = None,
    ) -> tuple[Job, bool]:
        """Record a queued job; returns it and whether it is new. With an idempotency key
        already used, the job made with it is returned instead (nothing is added); pass
        `conn` to add inside the caller's transaction."""
        if kind not in KINDS:
            raise JobError(f"unknown job kind {kind!r}")
        if conn is None:
            with self.transaction() as tx:
                return self.add(
                    kind,
                    args,
                    title=title,
                    session_id=session_id,
                    model=model,
                    schedule_id=schedule_id,
                    slot=slot,
                    idempotency_key=idempotency_key,
                    job_id=job_id,
                    conn=tx,
                )
        if idempotency_key is not None:
            row = conn.execute(
                "SELECT * FROM jobs WHERE idempotency_key = ?", (idempotency_key,)
            ).fetchone()
            if row is not None:
                return Job.from_row(row), False
        now = time.time()
        job_id = job_id or uuid.uuid4().hex
        if session_id is None and kind in MODEL_KINDS:
            session_id = f"{kind}-{job_id}"  # a run of its own, in a session of its own
        conn.execute(
            "INSERT INTO jobs (id, kind, args, state, created_at, updated_at, title, session_id,"
            " model, schedule_id, slot, idempotency_key)"
            " VALUES (?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                job_id,
                kind,
                json.dumps(args or {}),
                now,
                now,
                title,
                session_id,
                model,
                schedule_id,
                slot,
                idempotency_key,
            ),
        )
        row = conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return Job.from_row(row), True

    def mark_delivered(self, job_ids: list[str], generation: str) -> None:
        """Huey now holds these jobs in the queue file of `generation`."""
        with self.transaction() as conn:
            conn.executemany(
                "UPDATE jobs SET delivered_to = ?, updated_at = ?"
                " WHERE id = ? AND state = 'queued'",
                [(generation, time.time(), j) for j in job_ids],
            )

    # -- reading --------------------------------------------------------------------------

    def get(self, job_id: str) -> Job | None:
        row = self._conn().execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return Job.from_row(row) if row else None

    def resolve(self, given: str, kind: str | None = None) -> str:
        """The id of the job `given` names: its id or a unique start of it (`shared.ids`);
        with `kind`, among the jobs of that kind only. Raises UnknownId or AmbiguousId."""
        from shared.ids import prefix_range, resolve_id

        def starting_with(prefix: str, limit: int) -> list[str]:
            sql = "SELECT id FROM jobs WHERE id >= ? AND id < ?"
            params: list[Any] = list(prefix_range(prefix))
            if kind is not None:
                sql += " AND kind = ?"
                params.append(kind)
            rows = self._conn().execute(sql + " ORDER BY id LIMIT ?", (*params, limit))
            return [r[0] for r in rows]

        return resolve_id(given, starting_with, kind or "job")

    def list(
        self,
        *,
        kind: str | tuple[str, ...] | None = None,
        state: str | None = None,
        schedule_id: str | None = None,
        limit: int = 50,
    ) -> list[Job]:
        """Newest first."""
        where, params = [], []
        if kind:
            kinds = (kind,) if isinstance(kind, str) else kind
            where.append(f"kind IN ({', '.join('?' * len(kinds))})")
            params.extend(kinds)
        if state:
            where.append("state = ?")
            params.append(state)
        if schedule_id:
            where.append("schedule_id = ?")
            params.append(schedule_id)
        sql = "SELECT * FROM jobs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = self._conn().execute(
            sql + " ORDER BY created_at DESC, rowid DESC LIMIT ?", (*params, limit)
        )
        return [Job.from_row(r) for r in rows]

    def state_of(self, job_id: str) -> str | None:
        row = self._conn().execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return row[0] if row else None

    def sessions_by_kind(self) -> dict[str, tuple[str, str]]:
        """session id -> (kind, job id) of the background run that made it (task, heartbeat,
        cron), for sessions a job made for itself (not a chat a task was asked to continue)."""
        rows = self._conn().execute(
            "SELECT session_id, kind, id FROM jobs WHERE kind IN ('task', 'heartbeat', 'cron')"
            " AND session_id = kind || '-' || id"
        )
        return {r[0]: (r[1], r[2]) for r in rows}

    # -- running --------------------------------------------------------------------------

    def claim(self, job_id: str, worker: str) -> Job | None:
        """Mark a queued job running for this worker; None if it is not runnable (any more)."""
        now = time.time()
        with self.transaction() as conn:
            updated = conn.execute(
                "UPDATE jobs SET state = 'running', attempts = attempts + 1, worker = ?,"
                " started_at = ?, finished_at = NULL, updated_at = ?"
                " WHERE id = ? AND state = 'queued'",
                (worker, now, now, job_id),
            ).rowcount
        return self.get(job_id) if updated else None

    def finish(
        self,
        job_id: str,
        state: str = "succeeded",
        *,
        summary: dict[str, Any] | None = None,
        error: str | None = None,
        fields: dict[str, Any] | None = None,
    ) -> bool:
        """Record how a running job ended; False if it was no longer running (cancelled
        meanwhile, or a duplicate), and then nothing changes."""
        if state not in FINAL_STATES:
            raise JobError(f"a job cannot finish as {state!r}")
        values: dict[str, Any] = dict(fields or {})
        unknown = set(values) - set(RUN_FIELDS)
        if unknown:
            raise JobError(f"unknown job fields {sorted(unknown)}")
        if "sources" in values and values["sources"] is not None:
            values["sources"] = json.dumps(values["sources"])
        now = time.time()
        values |= {
            "state": state,
            "updated_at": now,
            "finished_at": now,
            "worker": None,
        }
        if summary is not None:
            values["summary"] = json.dumps(summary)
        if error is not None:
            values["last_error"] = error
        columns = ", ".join(f"{name} = ?" for name in values)
        with self.transaction() as conn:
            return bool(
                conn.execute(
                    f"UPDATE jobs SET {columns},"
                    " duration_ms = CAST((? - started_at) * 1000 AS INTEGER)"
                    " WHERE id = ? AND state = 'running'",
                    (*values.values(), now, job_id),
                ).rowcount
            )

    def retry(self, job_id: str, error: str) -> bool:
        """Back to queued after a failed attempt (the caller schedules the next delivery)."""
        with self.transaction() as conn:
            return bool(
                conn.execute(
                    "UPDATE jobs SET state = 'queued', last_error = ?, worker = NULL,"
                    " delivered_to = NULL, updated_at = ? WHERE id = ? AND state = 'running'",
                    (error, time.time(), job_id),
                ).rowcount
            )

    def fail(self, job_id: str, error: str) -> bool:
        """Attempts exhausted: park the job with its error."""
        return self.finish(job_id, "failed", error=error)

    def requeue(self, job_id: str, reason: str, attempts_allowed: int) -> str | None:
        """A running job whose worker stopped: queued again to be run once more, or failed
        when it has had its attempts. Returns the new state (None: it was not running)."""
        now = time.time()
        with self.transaction() as conn:
            row = conn.execute(
                "SELECT attempts FROM jobs WHERE id = ? AND state = 'running'", (job_id,)
            ).fetchone()
            if row is None:
                return None
            if row[0] >= attempts_allowed:
                conn.execute(
                    "UPDATE jobs SET state = 'failed', worker = NULL, last_error = ?,"
                    " updated_at = ?, finished_at = ? WHERE id = ?",
                    (f"{reason}; interrupted {row[0]} times, not run again", now, now, job_id),
                )
                return "failed"
            conn.execute(
                "UPDATE jobs SET state = 'queued', worker = NULL, delivered_to = NULL,"
                " last_error = ?, updated_at = ? WHERE id = ?",
                (reason, now, job_id),
            )
            return "queued"

    def cancel(self, job_id: str) -> Job:
        """Cancel a queued job, or stop a running one (its worker notices the state within a
        fraction of a second and stops the model call). A finished job raises JobError."""
        now = time.time()
        with self.transaction() as conn:
            row = conn.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                raise JobError(f"no job {job_id!r}")
            if row[0] not in ACTIVE_STATES:
                raise JobError(f"job {job_id} is {row[0]}; only queued or running jobs stop")
            conn.execute(
                "UPDATE jobs SET state = 'cancelled', updated_at = ?, finished_at = ?,"
                " worker = NULL,"
                " last_error = CASE WHEN state = 'running' THEN 'stopped while running'"
                " ELSE last_error END,"
                " duration_ms = CASE WHEN state = 'running'"
                " THEN CAST((? - started_at) * 1000 AS INTEGER) ELSE duration_ms END"
                " WHERE id = ?",
                (now, now, now, job_id),
            )
        job = self.get(job_id)
        assert job is not None
        return job

    # -- workers and recovery -------------------------------------------------------------

    def register_worker(self) -> str:
        token = f"{os.uname().nodename}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        now = time.time()
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO workers(token, pid, host, started_at, last_seen)"
                " VALUES (?, ?, ?, ?, ?)",
                (token, os.getpid(), os.uname().nodename, now, now),
            )
        return token

    def heartbeat(self, token: str) -> None:
        with self.transaction() as conn:
            conn.execute("UPDATE workers SET last_seen = ? WHERE token = ?", (time.time(), token))

    def unregister_worker(self, token: str) -> None:
        with self.transaction() as conn:
            conn.execute("DELETE FROM workers WHERE token = ?", (token,))

    def live_workers(self) -> int:
        stale_before = time.time() - WORKER_STALE_SECONDS
        return (
            self._conn()
            .execute("SELECT count(*) FROM workers WHERE last_seen >= ?", (stale_before,))
            .fetchone()[0]
        )

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
            with self.transaction() as conn:
                conn.executemany("DELETE FROM workers WHERE token = ?", [(t,) for t in dead])
        return dead

    def running_of(self, worker: str | None = None) -> list[Job]:
        """Running jobs of one worker; without one, those whose worker is not registered."""
        if worker is not None:
            rows = self._conn().execute(
                "SELECT * FROM jobs WHERE state = 'running' AND worker = ?", (worker,)
            )
        else:
            rows = self._conn().execute(
                "SELECT * FROM jobs WHERE state = 'running'"
                " AND (worker IS NULL OR worker NOT IN (SELECT token FROM workers))"
            )
        return [Job.from_row(r) for r in rows]

    def undelivered(self, generation: str, grace: float = HAND_OVER_GRACE_SECONDS) -> list[Job]:
        """Queued jobs Huey was never handed (after `grace`: a producer may be handing one
        over right now), or was handed in a queue file that is gone."""
        rows = self._conn().execute(
            "SELECT * FROM jobs WHERE state = 'queued' AND ((delivered_to IS NULL"
            " AND updated_at < ?) OR delivered_to != ?) ORDER BY created_at",
            (time.time() - grace, generation),
        )
        return [Job.from_row(r) for r in rows]

    def queued_older_than(self, seconds: float) -> list[Job]:
        rows = self._conn().execute(
            "SELECT * FROM jobs WHERE state = 'queued' AND updated_at < ?",
            (time.time() - seconds,),
        )
        return [Job.from_row(r) for r in rows]

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

    def counts(self, kind: tuple[str, ...] | None = None) -> dict[str, int]:
        if kind:
            rows = self._conn().execute(
                f"SELECT state, count(*) FROM jobs WHERE kind IN ({', '.join('?' * len(kind))})"
                " GROUP BY state",
                kind,
            )
        else:
            rows = self._conn().execute("SELECT state, count(*) FROM jobs GROUP BY state")
        return {state: n for state, n in rows}

    def recent_failures(self, limit: int = 10) -> list[dict[str, Any]]:
        rows = self._conn().execute(
            "SELECT id, kind, attempts, last_error, finished_at FROM jobs WHERE state = 'failed'"
            " ORDER BY finished_at DESC LIMIT ?",
            (limit,),
        )
        return [dict(r) for r in rows]

    def prune(self, older_than_seconds: float, kinds: tuple[str, ...] = INDEX_KINDS) -> int:
        """Delete finished records of these kinds older than the retention. Only index jobs
        by default: tasks and scheduled runs are the user's history, kept like sessions."""
        with self.transaction() as conn:
            return conn.execute(
                "DELETE FROM jobs WHERE state IN ('succeeded', 'failed', 'cancelled')"
                f" AND updated_at < ? AND kind IN ({', '.join('?' * len(kinds))})",
                (time.time() - older_than_seconds, *kinds),
            ).rowcount

    # -- meta -----------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self._conn().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
