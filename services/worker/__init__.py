"""The worker process: a Huey consumer (threads) that runs jobs from the ledger.

It loads the embedding model once, gives each thread its own memory-DB connection, and keeps
delivery at-least-once: it registers itself in the ledger with a heartbeat, requeues jobs that
were interrupted at shutdown, and on start (and every few seconds) hands out again the jobs of
workers that died, e.g. after `kill -9`.
"""

from __future__ import annotations

import threading
import traceback

import structlog
from huey.signals import SIGNAL_INTERRUPTED

from shared.config import Config
from shared.jobs import JOB_KINDS, JobContext, retry_delay
from shared.ledger import max_attempts
from shared.logs import get_logger
from shared.memory import Memory, make_embedder
from shared.memory.query_service import QueryEmbeddingServer
from shared.queue import Queue, on_given_up

log = get_logger("worker")

HEARTBEAT_SECONDS = 5.0
RECOVERY_SECONDS = 5.0  # jobs never handed to Huey (a locked queue) wait at most this long


class Worker:
    def __init__(self, config: Config, threads: int | None = None) -> None:
        self.config = config
        self.threads = threads or config.queue.worker_threads
        self.embedder = make_embedder(config)
        self.queue = Queue(config, runner=self.run_job)
        self.token = ""
        self._local = threading.local()
        self._stop = threading.Event()
        self.queue.huey.signal(SIGNAL_INTERRUPTED)(self._on_interrupted)

    # -- running one job ------------------------------------------------------------------

    def run_job(self, job_id: str) -> None:
        ledger = self.queue.ledger
        job = ledger.claim(job_id, self.token)
        if job is None:
            return  # finished, cancelled, running elsewhere, or a duplicate delivery
        handler = JOB_KINDS.get(job.kind)
        with structlog.contextvars.bound_contextvars(job_id=job.id, kind=job.kind):
            log.info("job_started", attempt=job.attempts)
            try:
                if handler is None:
                    raise ValueError(f"unknown job kind {job.kind!r}")
                outcome = handler(self._context(job.attempts), job)
            except Exception as exc:
                self._failed(job, exc)
                return
            recorded = ledger.finish(
                job.id,
                outcome.state,
                summary=outcome.summary,
                error=outcome.error,
                fields=outcome.fields,
            )
            log.info(
                "job_done" if outcome.state == "succeeded" else f"job_{outcome.state}",
                recorded=recorded,
                **(outcome.summary or {}),
            )

    def _failed(self, job, exc: Exception) -> None:
        error = f"{exc.__class__.__name__}: {exc}"
        if job.attempts < max_attempts(job.kind, self.config.queue.max_attempts):
            delay = retry_delay(self.config, job.attempts)
            if self.queue.ledger.retry(job.id, error):
                self.queue.deliver_later(job.id, delay)
            log.warning(
                "job_retry_scheduled", error=error, attempt=job.attempts, retry_in_seconds=delay
            )
        else:
            self.queue.ledger.fail(job.id, error)
            log.error(
                "job_failed",
                error=error,
                attempts=job.attempts,
                traceback=traceback.format_exception(exc)[-3:],
            )

    def _context(self, attempt: int) -> JobContext:
        memory = getattr(self._local, "memory", None)
        if memory is None:
            memory = self._local.memory = Memory(self.config, self.embedder)
        return JobContext(self.config, memory, self.queue.ledger, attempt)

    def _on_interrupted(self, signal: str, task, *args) -> None:
        """Shutdown outlasted the grace period: the job goes back for the next worker."""
        job_id = task.args[0] if task.args else None
        if job_id:
            self._put_back(job_id)

    def _put_back(self, job_id: str) -> None:
        job = self.queue.ledger.get(job_id)
        if job is None:
            return
        allowed = max_attempts(job.kind, self.config.queue.max_attempts)
        state = self.queue.ledger.requeue(job_id, "interrupted by worker shutdown", allowed)
        if state is not None:
            log.warning("job_requeued_on_shutdown", job_id=job_id, state=state)
        if state == "failed":
            on_given_up(self.config, self.queue.ledger.get(job_id))

    # -- process lifecycle ----------------------------------------------------------------

    def run(self) -> None:
        self.token = self.queue.ledger.register_worker()
        self.embedder.warm_up_in_background()  # jobs that need it wait for it; others don't
        # The API's query vectors, from a lean encoder of their own: a query never waits for
        # an indexing batch to release the indexing model.
        query_embedder = make_embedder(self.config, for_queries=True)
        query_service = QueryEmbeddingServer(
            self.config, query_embedder.identity.key, query_embedder.embed_query
        )
        query_service.start(ready=query_embedder.available)
        self.queue.recover()
        sweeper = threading.Thread(target=self._sweep, name="ledger-sweeper", daemon=True)
        sweeper.start()
        consumer = self.queue.huey.create_consumer(
            workers=self.threads,
            worker_type="thread",
            periodic=False,
            initial_delay=0.05,
            backoff=1.15,
            max_delay=0.25,  # idle pickup stays < 0.3 s
            graceful_signal="TERM",
            shutdown_timeout=4.0,  # under honcho's 5 s SIGKILL
            flush_locks=True,
        )
        log.info("worker_ready", threads=self.threads, model=self.embedder.identity.key)
        try:
            consumer.run()
        finally:
            self._stop.set()
            query_service.stop()
            # Whatever this worker still runs is queued again now, not shown as running
            # until some worker starts: the next worker runs it (once more).
            for job in self.queue.ledger.running_of(self.token):
                self._put_back(job.id)
            self.queue.ledger.unregister_worker(self.token)
            log.info("worker_stopped")

    def _sweep(self) -> None:
        """Heartbeat this worker and recover other workers' orphaned jobs."""
        since_recovery = 0.0
        while not self._stop.wait(HEARTBEAT_SECONDS):
            try:
                self.queue.ledger.heartbeat(self.token)
                since_recovery += HEARTBEAT_SECONDS
                if since_recovery >= RECOVERY_SECONDS:
                    since_recovery = 0.0
                    self.queue.recover()
            except Exception as exc:  # a locked DB must not kill the sweeper
                log.warning("ledger_sweep_failed", error=str(exc))
