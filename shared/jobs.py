"""Job kinds: what a worker can be asked to do.

Every job re-reads the disk rather than trusting the event that caused it (a "modified" event
may arrive for a file that is already gone), and is idempotent, so running it twice is safe.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shared.config import Config
from shared.memory import Memory, SyncReport


@dataclass
class JobContext:
    """What a job may use: the config and this worker thread's memory handle."""

    config: Config
    memory: Memory


JobHandler = Callable[[JobContext, dict[str, Any]], dict[str, Any]]


def index_paths(ctx: JobContext, args: dict[str, Any]) -> dict[str, Any]:
    """Index the named files as they are on disk now; files that are gone are removed."""
    return _summary(ctx.memory.index.index_paths(args["paths"]))


def reconcile(ctx: JobContext, args: dict[str, Any]) -> dict[str, Any]:
    """Bring the whole index to what is on disk (a full reindex when `force`)."""
    return _summary(ctx.memory.sync(force=bool(args.get("force"))))


JOB_KINDS: dict[str, JobHandler] = {
    "index_paths": index_paths,
    "remove_paths": index_paths,  # same work: each path is checked on disk
    "reconcile": reconcile,
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
