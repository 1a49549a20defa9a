"""Job kinds: what a worker can be asked to do.

Every job re-reads the disk rather than trusting the event that caused it (a "modified" event
may arrive for a file that is already gone), and is idempotent, so running it twice is safe.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog

from shared.config import Config
from shared.memory import Memory, SyncReport


@dataclass
class JobContext:
    """What a job may use: the config and this worker thread's memory handle."""

    config: Config
    memory: Memory
    attempt: int = 1  # > 1 when re-delivered after a failure or a dead worker


JobHandler = Callable[[JobContext, dict[str, Any]], dict[str, Any]]


def index_paths(ctx: JobContext, args: dict[str, Any]) -> dict[str, Any]:
    """Index the named files as they are on disk now; files that are gone are removed."""
    return _summary(ctx.memory.index.index_paths(args["paths"]))


def reconcile(ctx: JobContext, args: dict[str, Any]) -> dict[str, Any]:
    """Bring the whole index to what is on disk (a full reindex when `force`)."""
    return _summary(ctx.memory.sync(force=bool(args.get("force"))))


def tool_context(ctx: JobContext):
    """The assistant's tools use this worker thread's memory handle (and its loaded model)."""
    from shared.agent.tools import ToolContext

    return ToolContext(ctx.config, memory_factory=lambda: ctx.memory)


def run_task(ctx: JobContext, args: dict[str, Any]) -> dict[str, Any]:
    """Run the assistant on a stored task; the outcome is recorded on the task itself."""
    from shared import tasks

    if ctx.attempt > 1:  # the previous worker died mid-task: run it again, once
        tasks.reset_interrupted(ctx.config, args["task_id"])
    # Every event of the run (tools, model calls, memory writes) carries the task id.
    with structlog.contextvars.bound_contextvars(task_id=args["task_id"]):
        task = tasks.run_task(ctx.config, args["task_id"], tool_context(ctx))
    return {"task_id": task.id, "status": task.status}


def heartbeat_run(ctx: JobContext, args: dict[str, Any]) -> dict[str, Any]:
    """One heartbeat: the assistant follows HEARTBEAT.md; its reply is an ack or an alert."""
    from shared.agent.assistant import Assistant
    from shared.agent.tools import HEARTBEAT_TOOLS
    from shared.heartbeat import HeartbeatStore, complete_run, fail_run

    store = HeartbeatStore(ctx.config.heartbeat_db)
    decision_id = int(args["decision_id"])
    bot = None
    try:
        # A fresh session per run: heartbeats never drag old chat context along.
        bot = Assistant.open(
            ctx.config, session_id=f"heartbeat-{decision_id}", ctx=tool_context(ctx)
        )
        bot.tool_names = HEARTBEAT_TOOLS
        # HEARTBEAT.md is pinned: a model on the compact prompt sees it whatever recall finds.
        reply = bot.send(args["prompt"], pinned=("HEARTBEAT.md",)).text
    except Exception as exc:  # a failed run is recorded; the next slot tries again
        outcome = fail_run(datetime.now(UTC), store, decision_id, f"{type(exc).__name__}: {exc}")
        return {"outcome": outcome.outcome, "error": str(exc)}
    finally:
        if bot is not None:
            bot.close()
    outcome = complete_run(
        datetime.now(UTC), ctx.config, store, ctx.config.workspace_dir, decision_id, reply
    )
    return {"outcome": outcome.outcome}


JOB_KINDS: dict[str, JobHandler] = {
    "index_paths": index_paths,
    "remove_paths": index_paths,  # same work: each path is checked on disk
    "reconcile": reconcile,
    "run_task": run_task,
    "heartbeat_run": heartbeat_run,
}


def retry_delay(config: Config, attempt: int) -> float:
    """Exponential backoff after the `attempt`-th failure (1-based)."""
    return config.queue.retry_base_seconds * 2 ** (attempt - 1)


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
