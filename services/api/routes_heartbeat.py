"""`/api/heartbeat`: status (as `localgpt heartbeat status --json`), settings, and run now.

Settings live in config.toml's `[heartbeat]`: a save rewrites only those keys (comments and the
rest of the file stay as written, the file is replaced atomically), after validating them the
way the heartbeat service will. The service re-reads config.toml on every tick (at least every
30 s), so a change takes effect without a restart.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from services.api.errors import ApiError
from shared.heartbeat import HeartbeatStore, heartbeat_status
from shared.logs import get_logger

router = APIRouter(prefix="/heartbeat", tags=["heartbeat"])
log = get_logger("api")


class HeartbeatSettingsBody(BaseModel):
    interval: str = Field(
        max_length=40, description='How often: "30m", "1h30m"; "0" turns the heartbeat off.'
    )
    active_start: str = Field("", max_length=5, description='"HH:MM"; empty with end: all day.')
    active_end: str = Field("", max_length=5, description='"HH:MM" (exclusive, "24:00" allowed).')
    timezone: str = Field("", max_length=64, description="IANA name; empty: this machine's.")


@router.get("/status")
def status(request: Request) -> dict[str, Any]:
    from shared.jobview import latest_run

    state = request.app.state.api
    config = state.config
    status = heartbeat_status(datetime.now(UTC), config, HeartbeatStore(config.heartbeat_db))
    status["last_job"] = latest_run(state.queue.ledger, "heartbeat")
    status["settings"] = _settings(config.heartbeat)
    status["config_file"] = str(config.config_file)
    return status


@router.put("/settings")
def save_settings(request: Request, body: HeartbeatSettingsBody) -> dict[str, Any]:
    """Validate and write `[heartbeat]` interval, active hours and time zone to config.toml."""
    from shared.heartbeat.schedule import ScheduleError
    from shared.heartbeat.settings import load_settings
    from shared.models.configfile import ConfigEditError, set_keys

    config = request.app.state.api.config
    wanted = replace(
        config.heartbeat,
        interval=body.interval.strip(),
        active_start=body.active_start.strip(),
        active_end=body.active_end.strip(),
        timezone=body.timezone.strip(),
    )
    try:
        load_settings(wanted)
    except ScheduleError as exc:
        raise ApiError(422, str(exc)) from None
    keys = ("interval", "active_start", "active_end", "timezone")
    try:
        changes = set_keys(config.config_file, {("heartbeat", k): getattr(wanted, k) for k in keys})
    except (ConfigEditError, OSError) as exc:
        raise ApiError(409, f"config.toml was not changed: {exc}", "config_unwritable") from None
    config.heartbeat = wanted
    log.info("heartbeat_settings_saved", changed=[c.key for c in changes])
    return {"settings": _settings(wanted), "changed": [c.describe() for c in changes]}


@router.post("/run")
def run_now(request: Request) -> dict[str, Any]:
    """Evaluate a tick now, skipping only the schedule (active hours, an empty HEARTBEAT.md and
    a run in progress still hold); an enqueued run goes to a worker."""
    from services.heartbeat import HeartbeatService

    state = request.app.state.api
    decision = HeartbeatService(state.config, state.queue).tick(datetime.now(UTC), manual=True)
    return {"decision": decision.kind, "reason": decision.reason, "enqueued": decision.enqueued}


def _settings(section) -> dict[str, str]:
    return {
        "interval": section.interval,
        "active_start": section.active_start,
        "active_end": section.active_end,
        "timezone": section.timezone,
    }
