"""The work queue: the job ledger (`data/jobs.db`) plus Huey as its delivery (`data/queue.db`).

Every process that creates work (API, indexer, heartbeat, CLI) and every worker builds its own
`Queue` over the same two files. A job is recorded in the ledger first, then its id is handed to
Huey. Those are two files, so the hand-over is reconciled rather than atomic: the ledger notes
which queue file (its *generation*, a random id stored in it) holds each queued job, and the
recovery sweep hands over again every queued job that Huey was never given (the queue was
locked) or that sits in a queue file that no longer exists (deleted, rebuilt). A job therefore
never waits for a delivery that will not come, and a duplicate delivery is harmless: claiming
is conditional.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from collections.abc import Callable
from typing import Any

from huey import SqliteHuey
from huey.storage import SqliteStorage

from shared.config import Config
from shared.ledger import (
    INDEX_KINDS,
    LOST_GRACE_SECONDS,
    Job,
    JobLedger,
    max_attempts,
)
from shared.logs import get_logger
from shared.sqlite_db import apply_pragmas, connect, connect_readonly, migrate

QUEUE_NAME = "localgpt"
HUEY_TIMEOUT = 10.0  # seconds; at least 5 or opening the queue can fail under load
log = get_logger("queue")


class ProjectStorage(SqliteStorage):
    """Huey's SQLite storage with the project's pragmas (WAL, synchronous=NORMAL, ...)."""

    def _create_connection(self) -> sqlite3.Connection:
        conn = super()._create_connection()
        apply_pragmas(conn, int(self._timeout * 1000))
        return conn


def open_huey(config: Config, timeout: float = HUEY_TIMEOUT) -> SqliteHuey:
    config.data_dir.mkdir(parents=True, exist_ok=True)
    return SqliteHuey(
        QUEUE_NAME,
        filename=str(config.queue_db),
        storage_class=ProjectStorage,
        timeout=timeout,
        results=False,  # outcomes live in the ledger; nothing piles up in Huey's kv table
        store_none=False,
        utc=True,
    )


def _queue_meta(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE localgpt_queue (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    conn.execute(
        "INSERT INTO localgpt_queue (key, value) VALUES ('generation', ?)",
        (secrets.token_hex(8),),
    )


def queue_generation(config: Config, timeout: float = HUEY_TIMEOUT) -> str:
    """The random id of this queue file: a rebuilt file has a new one."""
    conn = connect(config.queue_db, int(timeout * 1000))
    try:
        migrate(conn, [_queue_meta])
        return conn.execute("SELECT value FROM localgpt_queue WHERE key = 'generation'").fetchone()[
            0
        ]
    finally:
        conn.close()


class Queue:
    def __init__(
        self,
        config: Config,
        runner: Callable[[str], None] | None = None,
        *,
        ledger_busy_ms: int | None = None,
        huey_timeout: float = HUEY_TIMEOUT,
    ) -> None:
        self.config = config
        self.ledger = JobLedger(config.jobs_db, ledger_busy_ms)
        import_legacy(config, self.ledger)
        self.huey = open_huey(config, huey_timeout)
        self._huey_timeout = huey_timeout
        self._generation: str | None = None
        try:  # read once, while Huey has just opened the file
            self._generation = queue_generation(config, huey_timeout)
        except sqlite3.OperationalError as exc:  # read again when first needed
            log.warning("queue_generation_unread", error=str(exc))
        self._runner = runner
        # Registered under a fixed name so producers and consumers agree on it.
        self.deliver = self.huey.task(name="localgpt.run_job")(self._run_job)

    @property
    def generation(self) -> str:
        if self._generation is None:
            self._generation = queue_generation(self.config, self._huey_timeout)
        return self._generation

    def _run_job(self, job_id: str) -> None:
        if self._runner is None:
            raise RuntimeError("this process enqueues jobs but does not run them")
        self._runner(job_id)

    # -- creating work --------------------------------------------------------------------

    def enqueue(self, kind: str, **args: Any) -> str:
        """Record a job, then hand it to Huey; returns the job id."""
        return self.submit(kind, args).id

    def submit(self, kind: str, args: dict[str, Any] | None = None, **fields: Any) -> Job:
        return self.submit_new(kind, args, **fields)[0]

    def submit_new(
        self, kind: str, args: dict[str, Any] | None = None, **fields: Any
    ) -> tuple[Job, bool]:
        """Record a job durably (`fields`: title, session_id, model, idempotency_key, ...),
        then hand it to Huey; returns it and whether it is new. The job is stored even when
        the hand-over fails: the recovery sweep delivers it. With an idempotency key already
        used, the job made with it is returned and nothing new is made."""
        job, created = self.ledger.add(kind, args, **fields)
        if created:
            self.hand_over([job.id])
            log.info("job_enqueued", job_id=job.id, kind=kind)
        return job, created

    def hand_over(self, job_ids: list[str]) -> bool:
        """Give Huey these (already recorded) job ids; False if the queue file refused."""
        if not job_ids:
            return True
        try:
            generation = self.generation
            for job_id in job_ids:
                self.deliver(job_id)
        except sqlite3.OperationalError as exc:  # locked or unwritable: the sweep retries
            log.warning("job_delivery_deferred", jobs=len(job_ids), error=str(exc))
            return False
        try:
            self.ledger.mark_delivered(job_ids, generation)
        except sqlite3.OperationalError as exc:  # delivered twice later: claim is conditional
            log.warning("job_delivery_unrecorded", jobs=len(job_ids), error=str(exc))
        return True

    def deliver_later(self, job_id: str, delay: float) -> None:
        self.deliver.schedule((job_id,), delay=delay)
        self.ledger.mark_delivered([job_id], self.generation)

    # -- recovery -------------------------------------------------------------------------

    def recover(self) -> list[str]:
        """Hand out again every job a dead worker held, every queued job Huey was never given
        or lost with its file, and (after a grace period) any queued job Huey no longer holds."""
        self.ledger.forget_dead_workers()
        recovered = []
        for job in self.ledger.running_of(None):
            allowed = max_attempts(job.kind, self.config.queue.max_attempts)
            state = self.ledger.requeue(job.id, "worker stopped before finishing", allowed)
            if state == "queued":
                recovered.append(job.id)
            elif state == "failed":
                on_given_up(self.config, self.ledger.get(job.id))
        recovered += [job.id for job in self.ledger.undelivered(self.generation)]
        recovered += [job.id for job in self._lost_queued() if job.id not in recovered]
        if recovered and self.hand_over(recovered):
            log.warning("jobs_recovered", count=len(recovered))
        return recovered

    def _lost_queued(self) -> list[Job]:
        candidates = [
            job
            for job in self.ledger.queued_older_than(LOST_GRACE_SECONDS)
            if job.delivered_to == self.generation
        ]
        if not candidates:
            return []
        held = self.held_job_ids()
        return [job for job in candidates if job.id not in held]

    def held_job_ids(self) -> set[str]:
        """Job ids Huey holds, waiting or scheduled for a retry."""
        tasks = list(self.huey.pending()) + list(self.huey.scheduled())
        return {task.args[0] for task in tasks if task.args}

    # -- reporting ------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """The index jobs' numbers (`memory stats`), and every job's by state."""
        index = self.ledger.counts(INDEX_KINDS)
        return {
            "queue_depth": index.get("queued", 0),
            "index_running": index.get("running", 0),
            "undelivered": len(self.ledger.undelivered(self.generation)),
            "jobs": self.ledger.counts(),
            "jobs_failed": index.get("failed", 0),
            "recent_failures": self.ledger.recent_failures(5),
        }


def on_given_up(config: Config, job: Job | None) -> None:
    """A run the ledger gave up on (interrupted too often) still closes its heartbeat
    decision, so the heartbeat's status does not wait for it forever."""
    if job is None or job.kind != "heartbeat" or "decision_id" not in job.args:
        return
    from datetime import UTC, datetime

    from shared.heartbeat import HeartbeatStore, fail_run

    try:
        store = HeartbeatStore(config.heartbeat_db)
        fail_run(datetime.now(UTC), store, int(job.args["decision_id"]), job.last_error or "")
    except (KeyError, sqlite3.Error) as exc:
        log.warning("heartbeat_outcome_unrecorded", job_id=job.id, error=str(exc))


# -- the records of earlier versions ---------------------------------------------------------

LEGACY_KINDS = {"run_task": "task", "heartbeat_run": "heartbeat"}
LEGACY_STATES = {"done": "succeeded"}


def import_legacy(config: Config, ledger: JobLedger) -> None:
    """Once: tasks from `data/tasks.db`, and the old ledger's jobs from `data/queue.db`, into
    the ledger (nothing of a user's task history is lost; the old files are left in place,
    tasks.db renamed `tasks.db.imported`). Queued jobs are then delivered by the sweep."""
    if ledger.get_meta("legacy_imported") == "1":
        return
    tasks_db = config.legacy_tasks_db
    try:
        with ledger.transaction() as conn:
            if conn.execute("SELECT 1 FROM meta WHERE key = 'legacy_imported'").fetchone():
                return
            imported = _import_tasks(conn, tasks_db) if tasks_db.is_file() else 0
            imported += _import_old_ledger(conn, config)
            conn.execute("INSERT INTO meta (key, value) VALUES ('legacy_imported', '1')")
    except _Unreadable as exc:  # nothing imported, nothing renamed: the next start retries
        log.warning("legacy_tasks_unreadable", error=str(exc))
        return
    if tasks_db.is_file():
        for suffix in ("-wal", "-shm"):
            tasks_db.with_name(tasks_db.name + suffix).unlink(missing_ok=True)
        tasks_db.rename(tasks_db.with_name("tasks.db.imported"))
    if imported:
        log.info("legacy_jobs_imported", jobs=imported)


def _epoch(iso: str | None) -> float | None:
    if not iso:
        return None
    from datetime import datetime

    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


class _Unreadable(Exception):
    pass


def _import_tasks(conn: sqlite3.Connection, path) -> int:
    try:
        old = connect_readonly(path)
        try:
            rows = old.execute("SELECT * FROM tasks").fetchall()
        finally:
            old.close()
    except sqlite3.Error as exc:  # locked, or not a tasks file we know: try again next start
        raise _Unreadable(f"{path}: {exc}") from None
    count = 0
    for row in rows:
        task = dict(row)
        state = task["status"]
        created = _epoch(task["created_at"]) or time.time()
        attempts = 0 if state == "queued" else 1
        count += conn.execute(
            "INSERT OR IGNORE INTO jobs (id, kind, args, state, attempts, last_error,"
            " created_at, updated_at, started_at, finished_at, duration_ms, title, result,"
            " notice, sources, session_id, model, prompt_tokens, completion_tokens,"
            " total_tokens, model_calls, tool_calls)"
            " VALUES (?, 'task', '{}', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                task["id"],
                state,
                attempts,
                task["error"],
                created,
                _epoch(task["finished_at"]) or created,
                _epoch(task["started_at"]),
                _epoch(task["finished_at"]),
                task["duration_ms"],
                task["prompt"],
                task["result"],
                task.get("notice"),
                task.get("sources"),
                task["session_id"] or f"task-{task['id']}",
                task["model"],
                task["prompt_tokens"],
                task["completion_tokens"],
                task["total_tokens"],
                task["model_calls"],
                task["tool_calls"],
            ),
        ).rowcount
    return count


def _import_old_ledger(conn: sqlite3.Connection, config: Config) -> int:
    """The previous ledger lived in queue.db; its unfinished and recent jobs come along."""
    if not config.queue_db.is_file():
        return 0
    try:
        old = connect_readonly(config.queue_db)
    except sqlite3.Error as exc:
        log.warning("legacy_ledger_unreadable", error=str(exc))
        return 0
    try:
        if not old.execute("SELECT 1 FROM sqlite_master WHERE name = 'jobs'").fetchone():
            return 0
        rows = old.execute("SELECT * FROM jobs").fetchall()
    except sqlite3.Error as exc:
        log.warning("legacy_ledger_unreadable", error=str(exc))
        return 0
    finally:
        old.close()
    count = 0
    for row in rows:
        kind = LEGACY_KINDS.get(row["kind"], row["kind"])
        if kind == "task":
            continue  # the task itself came from tasks.db
        args = json.loads(row["args"] or "{}")
        summary = row["result"]
        count += conn.execute(
            "INSERT OR IGNORE INTO jobs (id, kind, args, state, attempts, last_error, summary,"
            " created_at, updated_at, started_at, finished_at, title)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                row["id"],
                kind,
                json.dumps(args),
                LEGACY_STATES.get(row["state"], row["state"]),
                row["attempts"],
                row["last_error"],
                summary,
                row["created_at"],
                row["updated_at"],
                row["started_at"],
                row["finished_at"],
                args.get("prompt") if kind == "heartbeat" else None,
            ),
        ).rowcount
    return count
