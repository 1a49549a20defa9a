"""`/api/jobs/{id}`: the state of a queued job (e.g. a reindex)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from services.api.errors import ApiError

router = APIRouter(prefix="/jobs", tags=["jobs"])


@router.get("/{job_id}")
def job(request: Request, job_id: str) -> dict[str, Any]:
    found = request.app.state.api.queue.ledger.get(job_id)
    if found is None:
        raise ApiError(404, f"no job {job_id}")
    return {
        "id": found.id,
        "kind": found.kind,
        "state": found.state,
        "attempts": found.attempts,
        "last_error": found.last_error,
    }
