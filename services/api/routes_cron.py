"""`/api/cron`: scheduled jobs, as `localgpt cron` (the heartbeat process fires them)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from services.api.errors import ApiError, id_error

router = APIRouter(prefix="/cron", tags=["cron"])


class ScheduleRequest(BaseModel):
    prompt: str = Field(min_length=1, max_length=100_000)
    every: str | None = Field(None, max_length=40)
    cron: str | None = Field(None, max_length=200)
    at: str | None = Field(None, max_length=60)
    tz: str | None = Field(None, max_length=80)
    name: str | None = Field(None, min_length=1, max_length=64)


def _ledger(request: Request):
    return request.app.state.api.queue.ledger


@router.get("")
def list_(request: Request) -> dict[str, Any]:
    from shared.cron import list_schedules

    return {"jobs": [s.as_dict() for s in list_schedules(_ledger(request))]}


@router.post("", status_code=201)
def add(request: Request, body: ScheduleRequest) -> dict[str, Any]:
    """Exactly one of `every` (30m, 1h), `cron` (5 fields) or `at` (ISO date and time)."""
    from shared.cron import CronError, add_schedule, parse_spec

    config = request.app.state.api.config
    try:
        spec = parse_spec(
            datetime.now(UTC),
            every=body.every,
            cron=body.cron,
            at=body.at,
            tz=body.tz,
            default_tz=config.agent.timezone,
        )
        return add_schedule(_ledger(request), config, body.prompt, spec, body.name).as_dict()
    except CronError as exc:
        raise ApiError(422, str(exc)) from None
    except sqlite3.OperationalError as exc:
        raise ApiError(503, f"the job ledger is busy ({exc}); nothing was stored") from None


@router.get("/{ref}")
def show(request: Request, ref: str) -> dict[str, Any]:
    """One scheduled job (by id or name) and its 20 latest runs."""
    from shared.jobview import job_view

    schedule = _get(request, ref)
    runs = _ledger(request).list(schedule_id=schedule.id, limit=20)
    return schedule.as_dict() | {"runs": [job_view(j, full=False) for j in runs]}


@router.delete("/{ref}")
def remove(request: Request, ref: str) -> dict[str, Any]:
    from shared.cron import remove_schedule

    _get(request, ref)
    return remove_schedule(_ledger(request), ref).as_dict()


@router.post("/{ref}/run", status_code=202)
def run(request: Request, ref: str) -> dict[str, Any]:
    """Run it now, outside its schedule; 409 while a run of it is still going."""
    from shared.cron import CronError, run_now
    from shared.jobview import job_view

    _get(request, ref)
    try:
        return job_view(run_now(request.app.state.api.queue, ref))
    except CronError as exc:
        raise ApiError(409, str(exc)) from None


@router.post("/{ref}/pause")
def pause(request: Request, ref: str) -> dict[str, Any]:
    from shared.cron import set_paused

    _get(request, ref)
    return set_paused(_ledger(request), ref, True).as_dict()


@router.post("/{ref}/resume")
def resume(request: Request, ref: str) -> dict[str, Any]:
    from shared.cron import set_paused

    _get(request, ref)
    return set_paused(_ledger(request), ref, False).as_dict()


def _get(request: Request, ref: str):
    """A scheduled job by id, name or a unique start of its id (409 if several)."""
    from shared.cron import get_schedule
    from shared.ids import AmbiguousId

    try:
        return get_schedule(_ledger(request), ref)
    except AmbiguousId as exc:
        raise id_error(exc) from None
    except LookupError:
        raise ApiError(404, f"no scheduled job {ref}") from None
