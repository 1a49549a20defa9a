"""Background tasks: a prompt stored durably, run later by a worker, its outcome recorded.

`data/tasks.db` (SQLite, WAL) holds one row a task. Every write is a `BEGIN IMMEDIATE`
transaction (field notes §3.2), and state changes are conditional updates, so two workers can
never both claim a task and a cancelled task is never started. `run_task` is the worker job.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from contextlib import closing
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from shared.config import Config
from shared.logs import get_logger
from shared.sqlite_tx import immediate

if TYPE_CHECKING:
    from shared.agent.tools import ToolContext

_write = immediate  # every write takes the lock up front

log = get_logger(__name__)

STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
MAX_PROMPT_CHARS = 100_000

SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    id TEXT PRIMARY KEY,
    prompt TEXT NOT NULL,
    session_id TEXT,
    model TEXT,
    status TEXT NOT NULL CHECK (status IN
        ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    result TEXT,
    error TEXT,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    duration_ms INTEGER,
    prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    total_tokens INTEGER NOT NULL DEFAULT 0,
    model_calls INTEGER NOT NULL DEFAULT 0,
    tool_calls INTEGER NOT NULL DEFAULT 0,
    notice TEXT,
    sources TEXT
);
CREATE INDEX IF NOT EXISTS tasks_status ON tasks(status, created_at);
"""
# Columns added after the first release, for databases made before them.
ADDED_COLUMNS = {"notice": "TEXT", "sources": "TEXT"}
CANCEL_POLL_SECONDS = 0.25  # how often a running task checks whether it was cancelled


class TaskError(ValueError):
    """A task request cannot be honoured; the message says why."""


@dataclass
class Task:
    id: str
    prompt: str
    session_id: str | None
    model: str | None
    status: str
    result: str | None
    error: str | None
    created_at: str
    started_at: str | None
    finished_at: str | None
    duration_ms: int | None
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    model_calls: int
    tool_calls: int
    notice: str | None = None  # how the reply ended, when not as a whole answer
    sources: str | None = None  # JSON list of the notes the answer was grounded on

    def as_dict(self) -> dict:
        out = asdict(self)
        out["sources"] = json.loads(self.sources) if self.sources else []
        return out


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def connect(config: Config) -> sqlite3.Connection:
    config.data_dir.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(config.tasks_db, timeout=10, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=10000")
    with _write(conn):
        for statement in filter(str.strip, SCHEMA.split(";")):
            conn.execute(statement)
        present = {row[1] for row in conn.execute("PRAGMA table_info(tasks)")}
        for column, kind in ADDED_COLUMNS.items():
            if column not in present:
                conn.execute(f"ALTER TABLE tasks ADD COLUMN {column} {kind}")
    return conn


def create_task(
    config: Config, prompt: str, session_id: str | None = None, model: str | None = None
) -> Task:
    """Store a new queued task; the caller enqueues `run_task(task_id)` afterwards."""
    if not prompt.strip():
        raise TaskError("the task prompt is empty")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise TaskError(f"the task prompt is {len(prompt)} chars; the limit is {MAX_PROMPT_CHARS}")
    if session_id is not None:
        from shared.agent.session import SessionStore

        SessionStore(config.sessions_dir).path_for(session_id)  # validates the id
    task_id = uuid.uuid4().hex
    with closing(connect(config)) as conn, _write(conn):
        conn.execute(
            "INSERT INTO tasks (id, prompt, session_id, model, status, created_at) "
            "VALUES (?, ?, ?, ?, 'queued', ?)",
            (task_id, prompt, session_id, model, _now()),
        )
    log.info("task_created", task_id=task_id)
    return get_task(config, task_id)


def get_task(config: Config, task_id: str) -> Task:
    with closing(connect(config)) as conn:
        row = conn.execute("SELECT * FROM tasks WHERE id = ?", (task_id,)).fetchone()
    if row is None:
        raise TaskError(f"no task {task_id!r}")
    return Task(**dict(row))


def list_tasks(config: Config, status: str | None = None, limit: int = 50) -> list[Task]:
    if status is not None and status not in STATUSES:
        raise TaskError(f"unknown status {status!r}; use one of {', '.join(STATUSES)}")
    query = "SELECT * FROM tasks"
    params: tuple = ()
    if status:
        query, params = query + " WHERE status = ?", (status,)
    with closing(connect(config)) as conn:
        rows = conn.execute(query + " ORDER BY created_at DESC LIMIT ?", (*params, limit))
        return [Task(**dict(r)) for r in rows.fetchall()]


def cancel_task(config: Config, task_id: str) -> Task:
    """Cancel a queued task, or stop a running one: its worker sees the status within
    CANCEL_POLL_SECONDS and stops the model call. A finished task is left as it is."""
    with closing(connect(config)) as conn, _write(conn):
        changed = conn.execute(
            "UPDATE tasks SET status = 'cancelled', finished_at = ?, "
            "error = CASE WHEN status = 'running' THEN 'stopped while running' ELSE error END "
            "WHERE id = ? AND status IN ('queued', 'running')",
            (_now(), task_id),
        ).rowcount
    task = get_task(config, task_id)
    if not changed:
        raise TaskError(f"task {task_id} is {task.status}; only queued or running tasks stop")
    return task


def _status(config: Config, task_id: str) -> str | None:
    with closing(connect(config)) as conn:
        row = conn.execute("SELECT status FROM tasks WHERE id = ?", (task_id,)).fetchone()
    return row[0] if row else None


def reset_interrupted(config: Config, task_id: str) -> bool:
    """A task left `running` by a worker that died is queued again (the job is re-delivered)."""
    with closing(connect(config)) as conn, _write(conn):
        return (
            conn.execute(
                "UPDATE tasks SET status = 'queued', started_at = NULL "
                "WHERE id = ? AND status = 'running'",
                (task_id,),
            ).rowcount
            == 1
        )


def _claim(config: Config, task_id: str) -> bool:
    with closing(connect(config)) as conn, _write(conn):
        return (
            conn.execute(
                "UPDATE tasks SET status = 'running', started_at = ? "
                "WHERE id = ? AND status = 'queued'",
                (_now(), task_id),
            ).rowcount
            == 1
        )


def _finish(config: Config, task_id: str, status: str, started: float, **fields: object) -> None:
    fields |= {
        "status": status,
        "finished_at": _now(),
        "duration_ms": int((time.perf_counter() - started) * 1000),
    }
    columns = ", ".join(f"{name} = ?" for name in fields)
    with closing(connect(config)) as conn, _write(conn):
        conn.execute(
            f"UPDATE tasks SET {columns} WHERE id = ? AND status = 'running'",
            (*fields.values(), task_id),
        )


def run_task(config: Config, task_id: str, ctx: ToolContext | None = None) -> Task:
    """The worker job: run the assistant on the stored prompt and record the outcome.

    Idempotent: a task that is not queued (already run, running elsewhere, cancelled) is left
    alone. Any failure is recorded on the task, never raised into the queue. A reply the guard
    cut as degenerate, or an empty one, is a failure (its clean part kept as the result): a
    task never succeeds with a reply nobody can use.
    """
    from shared.agent.assistant import Assistant, MessageTooLong
    from shared.agent.cancel import CancelScope, TurnCancelled
    from shared.agent.llm import LLMError

    task = get_task(config, task_id)
    if not _claim(config, task_id):
        log.info("task_skipped", task_id=task_id, status=task.status)
        return get_task(config, task_id)
    started = time.perf_counter()
    log.info("task_started", task_id=task_id)
    scope = CancelScope()
    watcher = threading.Thread(
        target=_watch_for_cancel, args=(config, task_id, scope), name="task-cancel", daemon=True
    )
    watcher.start()
    bot = None
    try:
        bot = Assistant.open(config, task.model, task.session_id or f"task-{task_id}", ctx)
        result = bot.send(task.prompt, cancel=scope)
    except TurnCancelled:
        log.info("task_stopped", task_id=task_id)  # the status already says cancelled
    except (LLMError, MessageTooLong) as exc:
        _finish(config, task_id, "failed", started, error=str(exc))
    except Exception as exc:  # a bug must still leave the task in a final state
        log.exception("task_crashed", task_id=task_id)
        _finish(config, task_id, "failed", started, error=f"{type(exc).__name__}: {exc}")
    else:
        degenerate = result.stopped in ("guard", "empty")
        _finish(
            config,
            task_id,
            "failed" if degenerate else "succeeded",
            started,
            result=result.text,
            error=result.notice if degenerate else None,
            notice=result.notice or None,
            sources=json.dumps([s.as_dict() for s in result.sources]) if result.sources else None,
            session_id=bot.session.id,
            model=bot.client.model,
            model_calls=result.model_calls,
            tool_calls=result.tool_calls,
            prompt_tokens=result.usage.get("prompt_tokens", 0),
            completion_tokens=result.usage.get("completion_tokens", 0),
            total_tokens=result.usage.get("total_tokens", 0),
        )
    finally:
        scope.cancel()  # also ends the watcher
        if bot is not None:
            bot.close()
    final = get_task(config, task_id)
    log.info("task_finished", task_id=task_id, status=final.status, ms=final.duration_ms)
    return final


def _watch_for_cancel(config: Config, task_id: str, scope) -> None:
    """Poll the task's status while it runs; a cancel from the API stops the model call."""
    while not scope.wait(CANCEL_POLL_SECONDS):
        try:
            status = _status(config, task_id)
        except sqlite3.Error:
            continue  # a busy database: look again next time
        if status != "running":
            scope.cancel()
            return
