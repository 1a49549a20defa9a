"""Delegated tasks: a prompt a worker runs later with the assistant, its outcome recorded.

A task is a job of kind `task` in the ledger (`shared/ledger.py`); this module validates new
ones and shows a job as the task record the API, the page and `localgpt task` have always read
(status, result, error, notice, sources, timings, token usage, session).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from shared.config import Config
from shared.ledger import STATES, Job, JobError, JobLedger
from shared.logs import get_logger

if TYPE_CHECKING:
    from shared.agent.tools import ToolContext
    from shared.queue import Queue

log = get_logger(__name__)

MAX_PROMPT_CHARS = 100_000
MAX_KEY_CHARS = 200


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
    sources: list[dict] | None = None  # the notes the answer was grounded on
    attempts: int = 0

    @classmethod
    def from_job(cls, job: Job) -> Task:
        return cls(
            id=job.id,
            prompt=job.title or "",
            session_id=job.session_id,
            model=job.model,
            status=job.state,
            result=job.result,
            error=job.last_error,
            created_at=iso(job.created_at) or "",
            started_at=iso(job.started_at),
            finished_at=iso(job.finished_at),
            duration_ms=job.duration_ms,
            prompt_tokens=job.prompt_tokens,
            completion_tokens=job.completion_tokens,
            total_tokens=job.total_tokens,
            model_calls=job.model_calls,
            tool_calls=job.tool_calls,
            notice=job.notice,
            sources=job.sources,
            attempts=job.attempts,
        )

    def as_dict(self) -> dict:
        out = asdict(self)
        out["sources"] = self.sources or []
        out["job"] = f"/api/jobs/{self.id}"
        return out


def iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def validate(prompt: str, session_id: str | None, idempotency_key: str | None = None) -> None:
    if not prompt.strip():
        raise TaskError("the task prompt is empty")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise TaskError(f"the task prompt is {len(prompt)} chars; the limit is {MAX_PROMPT_CHARS}")
    if session_id is not None:
        from shared.agent.session import SESSION_ID

        if not SESSION_ID.match(session_id):
            raise TaskError(
                f"invalid session id {session_id!r}: use letters, digits, '-' and '_' only"
            )
    if idempotency_key is not None and not 0 < len(idempotency_key) <= MAX_KEY_CHARS:
        raise TaskError(f"an idempotency key has 1 to {MAX_KEY_CHARS} characters")


def submit_task(
    queue: Queue,
    prompt: str,
    session_id: str | None = None,
    model: str | None = None,
    idempotency_key: str | None = None,
) -> tuple[Task, bool]:
    """Record a task and hand it to the workers; returns it and whether it is new. A key
    already used returns the task it made, or raises if that task had another prompt."""
    validate(prompt, session_id, idempotency_key)
    job, created = queue.submit_new(
        "task",
        title=prompt,
        session_id=session_id,
        model=model,
        idempotency_key=f"task:{idempotency_key}" if idempotency_key else None,
    )
    if not created and (
        job.title != prompt or (session_id is not None and job.session_id != session_id)
    ):
        raise TaskError(f"idempotency key {idempotency_key!r} was already used for another task")
    if created:
        log.info("task_created", task_id=job.id)
    return Task.from_job(job), created


def create_task(
    config: Config, prompt: str, session_id: str | None = None, model: str | None = None
) -> Task:
    """Record and queue a task from a script or test (the API uses `submit_task`)."""
    from shared.queue import Queue

    return submit_task(Queue(config), prompt, session_id, model)[0]


def get_task(config_or_ledger: Config | JobLedger, task_id: str) -> Task:
    job = _ledger(config_or_ledger).get(task_id)
    if job is None or job.kind != "task":
        raise TaskError(f"no task {task_id!r}")
    return Task.from_job(job)


def list_tasks(
    config_or_ledger: Config | JobLedger, status: str | None = None, limit: int = 50
) -> list[Task]:
    if status is not None and status not in STATES:
        raise TaskError(f"unknown status {status!r}; use one of {', '.join(STATES)}")
    jobs = _ledger(config_or_ledger).list(kind="task", state=status, limit=limit)
    return [Task.from_job(j) for j in jobs]


def cancel_task(config_or_ledger: Config | JobLedger, task_id: str) -> Task:
    """Cancel a queued task, or stop a running one: its worker sees the state within
    CANCEL_POLL_SECONDS and stops the model call. A finished task is left as it is."""
    ledger = _ledger(config_or_ledger)
    get_task(ledger, task_id)
    try:
        return Task.from_job(ledger.cancel(task_id))
    except JobError as exc:
        raise TaskError(str(exc).replace("job", "task")) from None


def run_task(config: Config, task_id: str, ctx: ToolContext | None = None) -> Task:
    """Run a queued task in this process (scripts and tests; workers run them from the
    queue). Idempotent: a task that is not queued is left alone."""
    from shared.jobs import run_inline

    return Task.from_job(run_inline(config, task_id, ctx))


def _ledger(config_or_ledger: Config | JobLedger) -> JobLedger:
    if isinstance(config_or_ledger, JobLedger):
        return config_or_ledger
    return JobLedger(config_or_ledger.jobs_db)
