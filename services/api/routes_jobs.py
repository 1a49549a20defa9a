"""`/api/jobs`: every unit of background work (index jobs, tasks, heartbeat and scheduled
runs), from the one ledger: list with filters, inspect one, cancel one."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from services.api.errors import ApiError, id_error

router = APIRouter(prefix="/jobs", tags=["jobs"])


@router.get("")
def list_(
    request: Request,
    kind: Annotated[str | None, Query(max_length=40)] = None,
    state: Annotated[str | None, Query(max_length=20)] = None,
    schedule: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    """Newest first. `kind`: a kind or `index` / `runs`; `state`: queued, running, succeeded,
    failed, cancelled; `schedule`: the runs of one scheduled job."""
    from shared.jobview import job_view, list_jobs
    from shared.ledger import JobError

    ledger = request.app.state.api.queue.ledger
    try:
        jobs = list_jobs(ledger, kind, state, schedule, limit)
    except JobError as exc:
        raise ApiError(422, str(exc)) from None
    return {"jobs": [job_view(j, full=False) for j in jobs], "counts": ledger.counts()}


@router.get("/{job_id}")
def job(request: Request, job_id: str) -> dict[str, Any]:
    """One job, by its id or a unique start of it (409 with the candidates if several)."""
    from shared.jobview import job_view

    ledger = request.app.state.api.queue.ledger
    found = ledger.get(_resolve(request, job_id))
    if found is None:
        raise ApiError(404, f"no job {job_id}")
    return job_view(found)


@router.delete("/{job_id}")
def cancel(request: Request, job_id: str) -> dict[str, Any]:
    """Cancel a queued job, or stop a running task, heartbeat or scheduled run (its model
    call stops within a second). 409 for a finished job or a running index job."""
    from shared.jobview import cancel_job, job_view
    from shared.ledger import JobError

    job_id = _resolve(request, job_id)
    try:
        return job_view(cancel_job(request.app.state.api.queue.ledger, job_id))
    except LookupError:
        raise ApiError(404, f"no job {job_id}") from None
    except JobError as exc:
        raise ApiError(409, str(exc)) from None


def _resolve(request: Request, job_id: str) -> str:
    from shared.ids import IdLookupError

    try:
        return request.app.state.api.queue.ledger.resolve(job_id)
    except IdLookupError as exc:
        raise id_error(exc) from None
