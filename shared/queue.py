"""The work queue: one SQLite-backed Huey instance (`data/queue.db`) plus the job ledger.

Every process that enqueues (API, indexer, heartbeat, CLI) and every worker builds its own
`Queue` over the same file. Huey carries only a job id; what the job is and how it went lives
in the ledger (see `shared/ledger.py`), which is what makes delivery at-least-once.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from typing import Any

from huey import SqliteHuey
from huey.storage import SqliteStorage

from shared.config import Config
from shared.ledger import LOST_GRACE_SECONDS, Job, JobLedger
from shared.logs import get_logger

QUEUE_NAME = "localgpt"
log = get_logger("queue")


class WalNormalStorage(SqliteStorage):
    """WAL with synchronous=NORMAL: survives a process crash, ~10x faster than FULL here."""

    def _create_connection(self) -> sqlite3.Connection:
        conn = super()._create_connection()
        conn.execute("pragma synchronous=NORMAL")
        return conn


def open_huey(config: Config) -> SqliteHuey:
    config.data_dir.mkdir(parents=True, exist_ok=True)
    return SqliteHuey(
        QUEUE_NAME,
        filename=str(config.queue_db),
        storage_class=WalNormalStorage,
        timeout=10,  # seconds; at least 5 or opening the queue can fail under load
        results=False,  # outcomes live in the ledger; nothing piles up in Huey's kv table
        store_none=False,
        utc=True,
    )


class Queue:
    def __init__(self, config: Config, runner: Callable[[str], None] | None = None) -> None:
        self.config = config
        self.huey = open_huey(config)
        self.ledger = JobLedger(config.queue_db)
        self._runner = runner
        # Registered under a fixed name so producers and consumers agree on it.
        self.deliver = self.huey.task(name="localgpt.run_job")(self._run_job)

    def _run_job(self, job_id: str) -> None:
        if self._runner is None:
            raise RuntimeError("this process enqueues jobs but does not run them")
        self._runner(job_id)

    def enqueue(self, kind: str, **args: Any) -> str:
        """Record the job durably first, then hand it to Huey; returns the job id."""
        job = self.ledger.add(kind, args)
        self._deliver(job.id)
        log.info("job_enqueued", job_id=job.id, kind=kind)
        return job.id

    def deliver_later(self, job_id: str, delay: float) -> None:
        self.deliver.schedule((job_id,), delay=delay)

    def _deliver(self, job_id: str) -> None:
        for attempt in range(5):  # a locked queue file is retryable (field notes §2.9)
            try:
                self.deliver(job_id)
                return
            except sqlite3.OperationalError as exc:
                if attempt == 4:
                    # Still recorded in the ledger: a worker's recovery sweep delivers it later.
                    log.warning("job_delivery_deferred", job_id=job_id, error=str(exc))
                    return
                time.sleep(0.1 * (attempt + 1))

    # -- recovery -------------------------------------------------------------------------

    def recover(self) -> list[str]:
        """Hand out again every job that a dead worker held or that Huey lost."""
        self.ledger.forget_dead_workers()
        recovered = []
        for job in self.ledger.orphaned_running():
            if self.ledger.requeue(job.id, "worker stopped before finishing; retrying"):
                self._deliver(job.id)
                recovered.append(job.id)
        lost = self._lost_queued()
        for job in lost:
            self._deliver(job.id)
        self.ledger.touch([job.id for job in lost])
        recovered.extend(job.id for job in lost)
        if recovered:
            log.warning("jobs_recovered", count=len(recovered))
        return recovered

    def _lost_queued(self) -> list[Job]:
        candidates = self.ledger.queued_older_than(LOST_GRACE_SECONDS)
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
        counts = self.ledger.counts()
        return {
            "queue_depth": self.huey.pending_count(),
            "scheduled_retries": self.huey.scheduled_count(),
            "jobs": counts,
            "jobs_failed": counts.get("failed", 0),
            "recent_failures": self.ledger.recent_failures(5),
        }
