"""Memory status for people and programs: what is indexed, and how fresh it is.

Combines the index's own numbers with the queue (depth, failed jobs) and the indexer's
timestamps (last watcher event, last reconcile), so staleness is visible, not guessed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from shared.memory import Memory, db
from shared.queue import Queue


def memory_status(memory: Memory, queue: Queue | None = None) -> dict[str, Any]:
    status = memory.stats()
    queue = queue or Queue(memory.config)
    status.update(queue.stats())
    for key in ("last_event_at", "last_reconcile_at"):
        raw = db.get_meta(memory.conn, f"indexer.{key}")
        name = "last_watcher_event_at" if key == "last_event_at" else key
        status[name] = datetime.fromtimestamp(float(raw), UTC).isoformat() if raw else None
    return status
