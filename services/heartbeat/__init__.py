"""The heartbeat process: the one owner of time-based work.

Each tick asks `decide()` (schedule, active hours, HEARTBEAT.md, busy) and enqueues a run when
it says so; the decision and its reason are recorded either way. It also fires scheduled jobs
(`shared/cron.py`) when their slot comes, and owns periodic housekeeping (pruning finished
index job records, heartbeat history) and a periodic full reconcile job that catches whatever
the indexer's cheap checks could not (e.g. a changed model). Config is re-read every heartbeat
tick, so edits to `[heartbeat]` apply without a restart.

Every run it starts is a job in the ledger; the ledger alone says whether one is still going
(a run whose worker died is handed out again by the workers' recovery, not guessed here).
"""

from __future__ import annotations

import signal
import threading
from datetime import UTC, datetime, timedelta

from shared.config import Config, ConfigError, load_config
from shared.cron import fire_due, next_due
from shared.heartbeat import Decision, HeartbeatStore, decide
from shared.logs import get_logger
from shared.queue import Queue

log = get_logger("heartbeat")

HEARTBEAT_JOB = "heartbeat"
MAX_SLEEP = timedelta(seconds=30)  # tick at least this often (config edits, manual runs)
CRON_POLL = timedelta(seconds=5)  # a new or changed schedule is seen within this
HOUSEKEEPING_EVERY = timedelta(hours=1)


class HeartbeatService:
    def __init__(self, config: Config, queue: Queue | None = None) -> None:
        self.config = config
        self.store = HeartbeatStore(config.heartbeat_db)
        self.queue = queue or Queue(config)  # the API passes its own
        self.stop = threading.Event()
        # The indexer reconciles at start; the first deep reconcile can wait an hour.
        self._next_housekeeping = datetime.now(UTC) + HOUSEKEEPING_EVERY

    def busy(self, now: datetime) -> bool:
        """A heartbeat run is still queued or running: only one at a time across workers."""
        return self.queue.ledger.active_of_kind(HEARTBEAT_JOB) > 0

    def tick(self, now: datetime, manual: bool = False) -> Decision:
        config = self._fresh_config()
        decision = decide(
            now, config, self.store, config.workspace_dir, self.busy(now), manual=manual
        )
        if decision.enqueued:
            job_id = self.queue.submit(
                HEARTBEAT_JOB,
                {"decision_id": decision.id, "prompt": decision.prompt},
                title="heartbeat",
            ).id
            log.info(
                "heartbeat_enqueued",
                decision_id=decision.id,
                job_id=job_id,
                tasks=[t.name for t in decision.due_tasks],
                manual=manual,
            )
        elif decision.kind != "not-due":
            log.info(
                "heartbeat_skipped",
                decision=decision.kind,
                reason=decision.reason,
                next_due=decision.next_due.isoformat() if decision.next_due else None,
            )
        return decision

    def fire_schedules(self, now: datetime) -> datetime | None:
        """Record the runs of scheduled jobs whose slot has come; returns the next slot."""
        fire_due(self.queue, now, self.config.cron.catch_up)
        following = next_due(self.queue.ledger)
        return None if following is None else datetime.fromtimestamp(following, UTC)

    def housekeeping(self, now: datetime) -> None:
        retention = self.config.queue.finished_job_retention_days * 86400
        pruned = self.queue.ledger.prune(retention)
        pruned += self.queue.ledger.prune(
            self.config.heartbeat.retention_days * 86400, kinds=(HEARTBEAT_JOB,)
        )
        self.queue.enqueue("reconcile")
        log.info("housekeeping_done", jobs_pruned=pruned)

    def _fresh_config(self) -> Config:
        try:
            self.config = load_config(self.config.home)
        except ConfigError as exc:  # keep the last good config; say why
            log.error("config_invalid", error=str(exc))
        return self.config

    def run(self) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._on_signal)
        log.info("heartbeat_ready", interval=self.config.heartbeat.interval)
        next_tick = datetime.now(UTC)
        while not self.stop.is_set():
            now = datetime.now(UTC)
            wake = now + CRON_POLL
            try:
                if now >= next_tick:
                    next_tick = now + MAX_SLEEP
                    decision = self.tick(now)
                    if decision.next_due is not None:
                        next_tick = min(next_tick, decision.next_due)
                if now >= self._next_housekeeping:
                    self._next_housekeeping = now + HOUSEKEEPING_EVERY
                    self.housekeeping(now)
            except Exception as exc:  # one bad tick must not end the process
                log.error("heartbeat_tick_failed", error=f"{exc.__class__.__name__}: {exc}")
            try:  # scheduled jobs, missed ones included (at start: runs missed while down)
                following = self.fire_schedules(now)
                if following is not None:
                    wake = min(wake, following)
            except Exception as exc:
                log.error("cron_tick_failed", error=f"{exc.__class__.__name__}: {exc}")
            wake = min(wake, next_tick)
            self.stop.wait(max(0.05, (wake - datetime.now(UTC)).total_seconds()))
        log.info("heartbeat_stopped")

    def _on_signal(self, signum: int, frame) -> None:
        log.info("heartbeat_stopping", signal=signal.Signals(signum).name)
        self.stop.set()
