"""Job kinds: what a worker can be asked to do, and what each records in the ledger.

Index jobs re-read the disk rather than trusting the event that caused it (a "modified" event
may arrive for a file that is already gone) and are idempotent, so running one twice is safe;
a failing one raises and is retried with backoff. Model runs (`task`, `heartbeat`, `cron`) run
the assistant in their job's session; their failure is their outcome (recorded, never
retried), and a cancel in the ledger stops their model call within CANCEL_POLL_SECONDS.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import structlog

from shared.config import Config
from shared.ledger import Job, JobLedger
from shared.logs import get_logger

if TYPE_CHECKING:
    from shared.agent.tools import ToolContext
    from shared.memory import Memory, SyncReport

log = get_logger(__name__)

CANCEL_POLL_SECONDS = 0.25  # how often a running model run checks whether it was cancelled


@dataclass
class JobContext:
    """What a job may use: the config, the ledger and this worker thread's memory handle."""

    config: Config
    memory: Memory | None
    ledger: JobLedger
    attempt: int = 1  # > 1 when run again after a failure or a dead worker


@dataclass
class JobOutcome:
    """How a job ended: its final state, and what the ledger records with it."""

    state: str = "succeeded"
    summary: dict[str, Any] | None = None
    error: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)


JobHandler = Callable[[JobContext, Job], JobOutcome]


# -- index jobs ------------------------------------------------------------------------------


def index_paths(ctx: JobContext, job: Job) -> JobOutcome:
    """Index the named files as they are on disk now; files that are gone are removed."""
    return JobOutcome(summary=_summary(ctx.memory.index.index_paths(job.args["paths"])))


def reconcile(ctx: JobContext, job: Job) -> JobOutcome:
    """Bring the whole index to what is on disk (a full reindex when `force`)."""
    return JobOutcome(summary=_summary(ctx.memory.sync(force=bool(job.args.get("force")))))


# -- model runs ------------------------------------------------------------------------------


def tool_context(ctx: JobContext) -> ToolContext:
    """The assistant's tools use this worker thread's memory handle (and its loaded model)."""
    from shared.agent.tools import ToolContext

    if ctx.memory is None:
        return ToolContext(ctx.config)
    return ToolContext(ctx.config, memory_factory=lambda: ctx.memory)


@dataclass
class Reply:
    """A model run's reply, before it becomes an outcome."""

    text: str | None
    outcome: JobOutcome


def run_assistant(
    ctx: JobContext,
    job: Job,
    prompt: str,
    *,
    tool_names: tuple[str, ...] | None = None,
    pinned: tuple[str, ...] = (),
) -> Reply:
    """Run the assistant once on `prompt` in the job's session, stopping if the job is
    cancelled meanwhile. Any failure becomes a failed outcome, never an exception. A reply
    the guard cut as degenerate, or an empty one, is a failure (its clean part kept as the
    result): a run never succeeds with a reply nobody can use."""
    from shared.agent.assistant import Assistant, MessageTooLong
    from shared.agent.cancel import CancelScope, TurnCancelled
    from shared.agent.llm import LLMError

    scope = CancelScope()
    watcher = threading.Thread(
        target=_watch_for_cancel, args=(ctx.ledger, job.id, scope), name="job-cancel", daemon=True
    )
    watcher.start()
    bot = None
    try:
        bot = Assistant.open(ctx.config, job.model, job.session_id, tool_context(ctx))
        if tool_names is not None:
            bot.tool_names = tool_names
        result = bot.send(prompt, cancel=scope, pinned=pinned)
    except TurnCancelled:
        log.info("run_stopped", job_id=job.id)  # the ledger already says cancelled
        return Reply(None, JobOutcome("cancelled"))
    except (LLMError, MessageTooLong) as exc:
        return Reply(None, JobOutcome("failed", error=str(exc)))
    except Exception as exc:  # a bug must still leave the run in a final state
        log.exception("run_crashed", job_id=job.id)
        return Reply(None, JobOutcome("failed", error=f"{type(exc).__name__}: {exc}"))
    finally:
        scope.cancel()  # also ends the watcher
        if bot is not None:
            bot.close()
    degenerate = result.stopped in ("guard", "empty")
    fields = {
        "result": result.text,
        "notice": result.notice or None,
        "sources": [s.as_dict() for s in result.sources] if result.sources else None,
        "session_id": bot.session.id,
        "model": bot.client.model,
        "model_calls": result.model_calls,
        "tool_calls": result.tool_calls,
        "prompt_tokens": result.usage.get("prompt_tokens", 0),
        "completion_tokens": result.usage.get("completion_tokens", 0),
        "total_tokens": result.usage.get("total_tokens", 0),
    }
    outcome = JobOutcome(
        "failed" if degenerate else "succeeded",
        error=result.notice if degenerate else None,
        fields=fields,
    )
    return Reply(result.text, outcome)


def _watch_for_cancel(ledger: JobLedger, job_id: str, scope) -> None:
    """Poll the job's state while it runs; a cancel (API, CLI, page) stops the model call."""
    while not scope.wait(CANCEL_POLL_SECONDS):
        try:
            state = ledger.state_of(job_id)
        except sqlite3.Error:
            continue  # a busy database: look again next time
        if state != "running":
            scope.cancel()
            return


def run_task(ctx: JobContext, job: Job) -> JobOutcome:
    """A delegated task: the assistant on the stored prompt."""
    # Every event of the run (tools, model calls, memory writes) carries the task id.
    with structlog.contextvars.bound_contextvars(task_id=job.id):
        log.info("task_started", task_id=job.id, attempt=job.attempts)
        outcome = run_assistant(ctx, job, job.title or "").outcome
        log.info("task_finished", task_id=job.id, status=outcome.state)
    return outcome


def run_cron(ctx: JobContext, job: Job) -> JobOutcome:
    """A scheduled run: the schedule's prompt, in a session of its own."""
    with structlog.contextvars.bound_contextvars(schedule_id=job.schedule_id):
        return run_assistant(ctx, job, job.title or "").outcome


def heartbeat_run(ctx: JobContext, job: Job) -> JobOutcome:
    """One heartbeat: the assistant follows HEARTBEAT.md; its reply is an ack or an alert."""
    from shared.agent.tools import HEARTBEAT_TOOLS
    from shared.heartbeat import HeartbeatStore, complete_run, fail_run

    store = HeartbeatStore(ctx.config.heartbeat_db)
    decision_id = int(job.args["decision_id"])
    # HEARTBEAT.md is pinned: a model on the compact prompt sees it whatever recall finds.
    reply = run_assistant(
        ctx, job, job.args["prompt"], tool_names=HEARTBEAT_TOOLS, pinned=("HEARTBEAT.md",)
    )
    outcome = reply.outcome
    if outcome.state == "cancelled":
        fail_run(datetime.now(UTC), store, decision_id, "cancelled")
        return outcome
    if reply.text is None:  # the model could not be reached: the next slot tries again
        fail_run(datetime.now(UTC), store, decision_id, outcome.error or "failed")
        outcome.summary = {"outcome": "failed"}
        return outcome
    workspace = ctx.config.workspace_dir
    prompt = job.args["prompt"]
    result = complete_run(
        datetime.now(UTC), ctx.config, store, workspace, decision_id, reply.text, prompt
    )
    outcome.summary = {"outcome": result.outcome}
    outcome.state, outcome.error = "succeeded", None  # an alert is an answer, too
    return outcome


JOB_KINDS: dict[str, JobHandler] = {
    "index_paths": index_paths,
    "remove_paths": index_paths,  # same work: each path is checked on disk
    "reconcile": reconcile,
    "task": run_task,
    "heartbeat": heartbeat_run,
    "cron": run_cron,
}
NEEDS_MEMORY = ("index_paths", "remove_paths", "reconcile")


def retry_delay(config: Config, attempt: int) -> float:
    """Exponential backoff after the `attempt`-th failure (1-based)."""
    return config.queue.retry_base_seconds * 2 ** (attempt - 1)


def run_inline(config: Config, job_id: str, ctx: ToolContext | None = None) -> Job:
    """Claim and run one job in this process (tests, scripts); returns its final record.
    A job that is not queued (finished, running elsewhere, cancelled) is left alone."""
    ledger = JobLedger(config.jobs_db)
    token = ledger.register_worker()
    try:
        job = ledger.claim(job_id, token)
        if job is None:
            found = ledger.get(job_id)
            if found is None:
                raise KeyError(job_id)
            return found
        context = JobContext(config, None, ledger, job.attempts)
        if ctx is not None and ctx.memory_factory is not None:
            context.memory = ctx.memory_factory()
        outcome = JOB_KINDS[job.kind](context, job)
        ledger.finish(
            job.id, outcome.state, summary=outcome.summary, error=outcome.error,
            fields=outcome.fields,
        )  # fmt: skip
        final = ledger.get(job_id)
        assert final is not None
        return final
    finally:
        ledger.unregister_worker(token)
        ledger.close()


def _summary(report: SyncReport) -> dict[str, Any]:
    keys = (
        "files_indexed",
        "files_removed",
        "files_skipped",
        "chunks_written",
        "chunks_embedded",
        "vectors_backfilled",
    )
    summary: dict[str, Any] = {k: getattr(report, k) for k in keys}
    summary["seconds"] = round(report.seconds, 3)
    if report.vectors_disabled:
        summary["vectors_disabled"] = report.vectors_disabled
    return summary
