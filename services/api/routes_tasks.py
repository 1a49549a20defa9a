"""`/api/tasks`: delegate work to the background workers and follow it.

A task is a job of kind `task` in the ledger (also listed by `/api/jobs`). `POST` takes an
`Idempotency-Key` header: a retried request with the same key returns the task the first one
made (200) instead of making another. When the ledger cannot be written (locked for longer than
5 s), the answer is 503 and nothing is stored; once stored, a task is delivered to a worker even
if the queue file is locked or lost meanwhile.
"""

from __future__ import annotations

import sqlite3
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from pydantic import BaseModel, Field

from services.api.errors import ApiError, id_error

router = APIRouter(prefix="/tasks", tags=["tasks"])

STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")


class TaskRequest(BaseModel):
    prompt: str = Field(min_length=1, max_length=100_000)
    session_id: str | None = Field(None, min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_-]+$")


class TaskAccepted(BaseModel):
    id: str
    status: str


@router.post("", status_code=202, response_model=TaskAccepted)
def add(
    request: Request,
    response: Response,
    body: TaskRequest,
    idempotency_key: Annotated[
        str | None, Header(alias="Idempotency-Key", min_length=1, max_length=200)
    ] = None,
) -> dict[str, str]:
    """Store the task, then queue it for a worker (it runs even if no worker is up yet).
    With an `Idempotency-Key` already used: the task it made, with 200."""
    from shared.tasks import TaskError, submit_task

    state = request.app.state.api
    try:
        task, created = submit_task(
            state.queue, body.prompt, body.session_id, None, idempotency_key
        )
    except TaskError as exc:
        raise ApiError(422, str(exc)) from None
    except sqlite3.OperationalError as exc:  # the ledger stayed locked: nothing was stored
        raise ApiError(503, f"the job ledger is busy ({exc}); nothing was stored, retry") from None
    if not created:
        response.status_code = 200
    return {"id": task.id, "status": task.status}


@router.get("")
def list_(
    request: Request,
    status: Annotated[str | None, Query(pattern="^(" + "|".join(STATUSES) + ")$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    from shared.tasks import list_tasks

    tasks = list_tasks(request.app.state.api.queue.ledger, status, limit)
    return {"tasks": [t.as_dict() for t in tasks]}


@router.get("/{task_id}")
def show(request: Request, task_id: str) -> dict[str, Any]:
    """One task, by its id or a unique start of it (the page shows 8 characters); a start
    several tasks share is refused (409) with the candidates."""
    return _get(request, task_id).as_dict()


@router.delete("/{task_id}")
def cancel(request: Request, task_id: str) -> dict[str, Any]:
    """Cancel a queued task or stop a running one (its model call stops within a second);
    a finished one cannot be (409)."""
    from shared.tasks import TaskError, cancel_task

    task = _get(request, task_id)
    try:
        return cancel_task(request.app.state.api.queue.ledger, task.id).as_dict()
    except TaskError as exc:
        raise ApiError(409, str(exc)) from None


def _get(request: Request, task_id: str):
    from shared.ids import IdLookupError
    from shared.tasks import TaskError, get_task

    ledger = request.app.state.api.queue.ledger
    try:
        return get_task(ledger, ledger.resolve(task_id, kind="task"))
    except IdLookupError as exc:
        raise id_error(exc) from None
    except TaskError:
        raise ApiError(404, f"no task {task_id}") from None
